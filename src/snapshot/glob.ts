/**
 * gitignore globs (`*`, `?`, `[…]`, `**`), matched without backtracking: the pattern is a row of steps and
 * a match keeps the set of steps it could be at (an NFA), so one test costs at most the text's length times
 * the pattern's. A regular expression would backtrack: `*a*a*a*a*a*a*a*a*b` against a long name of `a`s
 * runs for days, and the daemon walks workspaces a run wrote. The steps taken are charged to a budget
 * shared by one walk, so however many rules and names a workspace holds, a walk ends.
 */
import { MoatError } from '../errors.js';

type Step =
  | { k: 'lit'; c: string }
  /** `?`: one character but '/'. */
  | { k: 'one' }
  /** `[…]`: one character but '/', in (or, negated, not in) the set. */
  | { k: 'set'; neg: boolean; chars: string; ranges: Array<[string, string]> }
  /** `*`: any run of characters but '/'. */
  | { k: 'star' }
  /** A trailing `**`: anything. */
  | { k: 'all' }
  /** `**` then a slash (two steps): nothing, or anything that ends with '/'; `dirs` is the entry, `dirsIn` inside. */
  | { k: 'dirs' }
  | { k: 'dirsIn' };

export interface Glob {
  steps: Step[];
  /** A pattern without wildcards matches only itself. */
  literal?: string;
}

/** Steps one walk may spend matching names against its ignore rules (about a second of work). */
export const MATCH_STEPS = 200_000_000;

export class MatchBudget {
  constructor(public left = MATCH_STEPS) {}

  spend(n: number): void {
    this.left -= n;
    if (this.left < 0) {
      throw new MoatError("The workspace's ignore rules (.gitignore files and snapshots.exclude) take too long to match, so no snapshot was taken.", {
        code: 'E_REFUSED',
        hint: 'Simplify the .gitignore patterns with many "*", or leave their folder out with snapshots.exclude in moat.yaml.',
      });
    }
  }
}

/** The steps of a pattern (already stripped of `!`, a trailing `/` and a leading `/`); undefined when malformed. */
export function compileGlob(glob: string): Glob | undefined {
  const steps: Step[] = [];
  let plain = true;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      plain = false;
      if (glob[i + 1] === '*' && (i === 0 || glob[i - 1] === '/') && (i + 2 === glob.length || glob[i + 2] === '/')) {
        if (i + 2 === glob.length) steps.push({ k: 'all' });
        else steps.push({ k: 'dirs' }, { k: 'dirsIn' });
        i += 2; // past the second '*' and the '/' after it (or the end)
        continue;
      }
      if (steps.at(-1)?.k !== 'star') steps.push({ k: 'star' }); // `**` inside a name is `*`
    } else if (c === '?') {
      plain = false;
      steps.push({ k: 'one' });
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        steps.push({ k: 'lit', c });
        continue;
      }
      const set = parseSet(glob.slice(i + 1, end));
      if (!set) return undefined;
      plain = false;
      steps.push(set);
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      steps.push({ k: 'lit', c: glob[i + 1] as string });
      i += 1;
    } else {
      steps.push({ k: 'lit', c });
    }
  }
  return plain ? { steps, literal: steps.map((s) => (s.k === 'lit' ? s.c : '')).join('') } : { steps };
}

function parseSet(body: string): Step | undefined {
  let neg = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    neg = true;
    i = 1;
  }
  let chars = '';
  const ranges: Array<[string, string]> = [];
  for (; i < body.length; i++) {
    let c = body[i] as string;
    if (c === '\\' && i + 1 < body.length) c = body[++i] as string;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      let hi = body[i + 2] as string;
      let skip = 2;
      if (hi === '\\' && i + 3 < body.length) {
        hi = body[i + 3] as string;
        skip = 3;
      }
      if (hi < c) return undefined; // a range backwards: git ignores such a line too
      ranges.push([c, hi]);
      i += skip;
    } else chars += c;
  }
  return { k: 'set', neg, chars, ranges };
}

function inSet(s: Extract<Step, { k: 'set' }>, c: string): boolean {
  const found = s.chars.includes(c) || s.ranges.some(([lo, hi]) => c >= lo && c <= hi);
  return found !== s.neg;
}

/** Whether `glob` matches all of `text`, spending the steps it takes from `budget`. */
export function globMatches(g: Glob, text: string, budget: MatchBudget): boolean {
  if (g.literal !== undefined) return g.literal === text;
  const steps = g.steps;
  const n = steps.length;
  // The steps the match may be at (each at most once per character: `mark` holds the character's number).
  const mark = new Int32Array(n + 1).fill(-1);
  let cur: number[] = [];
  let next: number[] = [];
  const add = (list: number[], at: number, j: number): void => {
    // Follow the steps that may match nothing (they only lead forward).
    for (;;) {
      if (mark[j] === at) return;
      mark[j] = at;
      list.push(j);
      if (j === n) return;
      const k = (steps[j] as Step).k;
      if (k === 'star' || k === 'all') j += 1;
      else if (k === 'dirs') j += 2;
      else return;
    }
  };
  add(cur, 0, 0);
  let spent = 0;
  for (let p = 0; p < text.length; p++) {
    const c = text[p] as string;
    const at = p + 1;
    spent += cur.length;
    for (const j of cur) {
      if (j === n) continue;
      const s = steps[j] as Step;
      switch (s.k) {
        case 'lit':
          if (c === s.c) add(next, at, j + 1);
          break;
        case 'one':
          if (c !== '/') add(next, at, j + 1);
          break;
        case 'set':
          if (c !== '/' && inSet(s, c)) add(next, at, j + 1);
          break;
        case 'star':
          if (c !== '/') add(next, at, j);
          break;
        case 'all':
          add(next, at, j);
          break;
        case 'dirs':
        case 'dirsIn': {
          const inside = s.k === 'dirs' ? j + 1 : j;
          add(next, at, inside);
          if (c === '/') add(next, at, inside + 1);
          break;
        }
      }
    }
    if (next.length === 0) {
      budget.spend(spent);
      return false;
    }
    [cur, next] = [next, cur];
    next.length = 0;
  }
  budget.spend(spent);
  return mark[n] === text.length;
}
