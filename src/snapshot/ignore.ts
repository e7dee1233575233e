/**
 * A small .gitignore matcher (the rules git documents in gitignore(5)): comments, `!` negation, a trailing
 * `/` for folders only, patterns with a `/` anchored to their file's folder, `*`, `?`, `[…]`, `**`.
 * Lower files override higher ones, the last matching line of a file wins, and what sits under an ignored
 * folder is never looked at (the walker does not enter it), as in git.
 */

interface Rule {
  re: RegExp;
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

function globToRegExp(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = i + 2 === glob.length || glob[i + 2] === '/';
        if (before && after) {
          if (i + 2 === glob.length) out += '.*';
          else {
            out += '(?:.*/)?';
            i += 1;
          }
          i += 1;
          continue;
        }
      }
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\').replace(/\//g, '')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRe(glob[i + 1] as string);
      i += 1;
    } else {
      out += escapeRe(c);
    }
  }
  return out;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

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
  try {
    return { re: new RegExp(`^${globToRegExp(p)}$`), negate, dirOnly, anchored };
  } catch {
    return undefined; // a malformed class: git ignores such a line too
  }
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
function verdict(file: IgnoreFile, rel: string, isDir: boolean): boolean | undefined {
  const local = file.base === '' ? rel : rel.slice(file.base.length + 1);
  const name = local.slice(local.lastIndexOf('/') + 1);
  for (let i = file.rules.length - 1; i >= 0; i--) {
    const r = file.rules[i] as Rule;
    if (r.dirOnly && !isDir) continue;
    if (r.re.test(r.anchored ? local : name)) return !r.negate;
  }
  return undefined;
}

/** Whether `rel` is ignored by the files that apply to it (outermost first, as the walker stacks them). */
export function isIgnored(stack: readonly IgnoreFile[], rel: string, isDir: boolean): boolean {
  for (let i = stack.length - 1; i >= 0; i--) {
    const v = verdict(stack[i] as IgnoreFile, rel, isDir);
    if (v !== undefined) return v;
  }
  return false;
}
