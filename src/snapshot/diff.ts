/** What changed between two manifests (a run's pre- and post-run snapshots, or any two). */
import { MatchBudget, compileGlob, globMatches, type Glob } from './glob.js';
import type { Entry, Manifest } from './manifest.js';
import type { ObjectStore } from './objects.js';
import { countOps, diffLines, splitLines, unifiedHunks } from './text-diff.js';

export type ChangeKind = 'added' | 'deleted' | 'modified' | 'mode' | 'type';

export interface Change {
  path: string;
  kind: ChangeKind;
  before?: Entry;
  after?: Entry;
}

/** Whether two entries hold the same thing (content, link target), leaving the mode aside. */
export function sameContent(a: Entry, b: Entry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'link') return a.target === b.target;
  if (a.type !== 'file') return true;
  if (a.hash && b.hash) return a.hash === b.hash;
  return a.size === b.size && a.mtime === b.mtime; // recorded without content: size and time are all there is
}

/** Whether a path given has glob characters (`*`, `?`, `[`): it is matched as a gitignore-style glob too. */
export const hasGlob = (p: string): boolean => /[*?[]/.test(p);

/**
 * A path given after `--`: `path` as given, relative to the workspace (a folder takes what it holds), and,
 * when the argument had glob characters (`*`, `?`, `[`), `glob`, the same read as a gitignore-style glob
 * (`*` stays within a folder, `**` crosses them) with the folder it was given from escaped.
 */
export interface PathSpec {
  path: string;
  glob?: string;
}

/**
 * Paths under (or equal to) one of `specs`; every path when none is given. A spec's glob is used only when
 * its literal path is in none of `manifests` (the snapshots compared or restored): a file really named
 * `[id].tsx` is that file, never `i.tsx` and `d.tsx` too. What a glob matches takes everything under it.
 */
export function pathFilter(specs: readonly PathSpec[], ...manifests: ReadonlyArray<Manifest | undefined>): (p: string) => boolean {
  const clean = specs.map((s) => ({ ...s, path: s.path.replace(/^\.\/+/, '').replace(/\/+$/, '') })).filter((s) => s.path !== '' && s.path !== '.');
  if (specs.length === 0 || clean.length < specs.length) return () => true; // none, or the workspace itself, given
  const known = clean.some((s) => s.glob) ? new Set(manifests.flatMap((m) => m?.entries.map((e) => e.path) ?? [])) : new Set<string>();
  const globs = clean.flatMap((s) => (s.glob && !known.has(s.path) ? [compileGlob(s.glob)] : [])).filter((g): g is Glob => g !== undefined);
  // The user's own patterns: matching them cannot backtrack (an NFA), so no budget is needed to bound it.
  const budget = new MatchBudget(Number.POSITIVE_INFINITY);
  const globbed = (p: string): boolean => {
    for (let end = p.length; end > 0; end = p.lastIndexOf('/', end - 1)) {
      const part = p.slice(0, end);
      if (globs.some((g) => globMatches(g, part, budget))) return true;
    }
    return false;
  };
  return (p) => clean.some((s) => p === s.path || p.startsWith(`${s.path}/`)) || (globs.length > 0 && globbed(p));
}

/** Changes from `a` to `b`, folders left out but for their mode (their content is their entries). */
export function diffManifests(a: Manifest, b: Manifest, keep: (p: string) => boolean = () => true): Change[] {
  const before = new Map(a.entries.map((e) => [e.path, e]));
  const after = new Map(b.entries.map((e) => [e.path, e]));
  const out: Change[] = [];
  for (const path of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    if (!keep(path)) continue;
    const x = before.get(path);
    const y = after.get(path);
    if (x && y) {
      if (x.type !== y.type) out.push({ path, kind: 'type', before: x, after: y });
      else if (!sameContent(x, y)) out.push({ path, kind: 'modified', before: x, after: y });
      else if (x.mode !== y.mode) out.push({ path, kind: 'mode', before: x, after: y });
    } else if (x && x.type !== 'dir') out.push({ path, kind: 'deleted', before: x });
    else if (y && y.type !== 'dir') out.push({ path, kind: 'added', after: y });
  }
  return out;
}

/** Text files up to this size get line diffs; larger ones one line. */
export const MAX_TEXT = 1024 * 1024;

/** The text of an entry, or undefined when it is not a stored text file of a reasonable size. */
export async function textOf(store: ObjectStore, e: Entry | undefined): Promise<string | undefined | null> {
  if (!e) return '';
  if (e.type !== 'file' || !e.hash || e.size > MAX_TEXT) return null;
  const data = await store.read(e.hash);
  if (data.subarray(0, 8000).includes(0)) return null;
  return data.toString('utf8');
}

/** Whether a change has a side too large for a line diff (shown by size instead: not called binary). */
export function overTextLimit(c: Change): boolean {
  return [c.before, c.after].some((e) => e?.type === 'file' && e.hash !== undefined && e.size > MAX_TEXT);
}

export interface FileDiff {
  /** Unified hunks, or null for a binary / unstored / large file. */
  hunks: string[] | null;
  added: number;
  removed: number;
}

export async function fileDiff(store: ObjectStore, c: Change): Promise<FileDiff> {
  const a = c.kind === 'added' ? '' : await textOf(store, c.before);
  const b = c.kind === 'deleted' ? '' : await textOf(store, c.after);
  if (a === null || b === null || a === undefined || b === undefined) return { hunks: null, added: 0, removed: 0 };
  const ops = diffLines(splitLines(a), splitLines(b));
  return { hunks: unifiedHunks(ops), ...countOps(ops) };
}

/** Files changed and lines added/removed (line counts for text files only). */
export async function changeStats(store: ObjectStore, changes: Change[], maxFiles = 500): Promise<{ files: number; added: number; removed: number }> {
  let added = 0,
    removed = 0;
  for (const c of changes.slice(0, maxFiles)) {
    if (c.kind === 'mode') continue;
    const d = await fileDiff(store, c).catch(() => ({ added: 0, removed: 0 }));
    added += d.added;
    removed += d.removed;
  }
  return { files: changes.length, added, removed };
}
