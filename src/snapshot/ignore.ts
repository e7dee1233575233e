/**
 * A small .gitignore matcher (the rules git documents in gitignore(5)): comments, `!` negation, a trailing
 * `/` for folders only, patterns with a `/` anchored to their file's folder, `*`, `?`, `[…]`, `**`.
 * Patterns are matched by glob.ts (no backtracking, a budget per walk). Lower files override higher ones, the last matching line of a file wins, and what sits under an ignored
 * folder is never looked at (the walker does not enter it), as in git.
 */

import { compileGlob, globMatches, type Glob, type MatchBudget } from './glob.js';

interface Rule {
  glob: Glob;
  negate: boolean;
  dirOnly: boolean;
  /** Matched against the path from the file's folder (else against the last name only). */
  anchored: boolean;
}

/** The rules of one file, and the folder (relative to the workspace, '' for its root) they apply under. */
export interface IgnoreFile {
  base: string;
  rules: Rule[];
}

/** At most this many lines of one ignore file are read (a hostile file cannot cost unbounded time). */
const MAX_RULES = 10_000;

/** One pattern line → a rule (undefined for blanks and comments). */
export function parseRule(line: string): Rule | undefined {
  let p = line.replace(/\r$/, '');
  if (p === '' || p.startsWith('#')) return undefined;
  p = p.replace(/(?<!\\)\s+$/, '');
  let negate = false;
  if (p.startsWith('!')) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith('\\!') || p.startsWith('\\#')) p = p.slice(1);
  let dirOnly = false;
  if (p.endsWith('/')) {
    dirOnly = true;
    p = p.slice(0, -1);
  }
  if (p === '') return undefined;
  const anchored = p.includes('/');
  if (p.startsWith('/')) p = p.slice(1);
  const glob = compileGlob(p);
  return glob ? { glob, negate, dirOnly, anchored } : undefined; // a malformed class: git ignores such a line too
}

export function parseIgnoreFile(base: string, text: string): IgnoreFile {
  const rules: Rule[] = [];
  for (const line of text.split('\n').slice(0, MAX_RULES)) {
    const r = parseRule(line);
    if (r) rules.push(r);
  }
  return { base, rules };
}

/** The verdict of one file for `rel` (a path from the workspace root): true/false, or undefined (no line matched). */
function verdict(file: IgnoreFile, rel: string, isDir: boolean, budget: MatchBudget): boolean | undefined {
  const local = file.base === '' ? rel : rel.slice(file.base.length + 1);
  const name = local.slice(local.lastIndexOf('/') + 1);
  for (let i = file.rules.length - 1; i >= 0; i--) {
    const r = file.rules[i] as Rule;
    if (r.dirOnly && !isDir) continue;
    if (globMatches(r.glob, r.anchored ? local : name, budget)) return !r.negate;
  }
  return undefined;
}

/** Whether `rel` is ignored by the files that apply to it (outermost first, as the walker stacks them). */
export function isIgnored(stack: readonly IgnoreFile[], rel: string, isDir: boolean, budget: MatchBudget): boolean {
  for (let i = stack.length - 1; i >= 0; i--) {
    const v = verdict(stack[i] as IgnoreFile, rel, isDir, budget);
    if (v !== undefined) return v;
  }
  return false;
}
