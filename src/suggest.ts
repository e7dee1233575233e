/**
 * "Did you mean" for everything a user types: commands, moat.yaml keys, grant and provider names, flags.
 * One rule for what counts as a likely typo, so every suggestion behaves the same.
 */
import { distance } from 'fastest-levenshtein';

/** The closest candidate, if it is close enough to be a likely typo (case is ignored). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= limit && bestDistance < word.length ? best : undefined;
}

/** `did you mean: moat grant github` (the suggestion inserted into `template` at `{}`), or undefined. */
export function didYouMean(word: string, candidates: readonly string[], template = '{}'): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean: ${template.replace('{}', c)}`;
}
