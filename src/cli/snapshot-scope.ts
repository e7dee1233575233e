/**
 * Which run and which paths a snapshot command (diff, rollback, snapshot) means when the user leaves them
 * implicit: the run of the workspace the shell is in, and paths as the shell sees them (relative to the
 * current folder, or absolute), like git's.
 */
import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { MoatError } from '../errors.js';
import { hasGlob, type PathSpec } from '../snapshot/diff.js';
import type { RunMetadata } from '../store/types.js';
import pc from 'picocolors';
import type { CliContext } from './context.js';

/** Whether `dir` is `workspace` or a folder inside it (both absolute). */
export function insideWorkspace(dir: string, workspace: string): boolean {
  const rel = relative(workspace, dir);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The paths given after `--`, made relative to the workspace: an absolute path as it is, a relative one
 * from the current folder when that is inside the workspace (from the workspace's top otherwise). A path
 * outside the workspace is refused rather than matching nothing. One with glob characters is also read
 * as a glob (diff.ts pathFilter): without a slash it matches at any depth under that folder, as
 * gitignore's do; the folder's own name is never read as a pattern.
 */
export function workspacePaths(paths: readonly string[], workspace: string, cwd: string): PathSpec[] {
  const base = insideWorkspace(cwd, workspace) ? cwd : workspace;
  return paths.map((p) => {
    const rel = relative(workspace, isAbsolute(p) ? p : resolve(base, p));
    if (!insideWorkspace(resolve(workspace, rel), workspace))
      throw new MoatError(`${p} is outside the run's workspace ${workspace}.`, {
        code: 'E_USAGE',
        hint: 'Give paths inside the workspace: relative to the current folder, or absolute.',
      });
    const path = rel === '' ? '.' : rel.split(sep).join('/');
    const glob = hasGlob(p) ? globOf(p, workspace, base) : undefined;
    return glob ? { path, glob } : { path };
  });
}

/** The glob of a path argument: its folder part (the workspace's, the current folder's, `..` steps) escaped. */
function globOf(p: string, workspace: string, base: string): string | undefined {
  let pattern = posix.normalize(p.split(sep).join('/')).replace(/\/+$/, '');
  // A slash before the end anchors it (`../*.md`, `src/*.ts`), as in .gitignore; without one, any depth.
  const anchored = pattern.includes('/');
  let dir = base;
  if (isAbsolute(pattern)) {
    if (!pattern.startsWith(`${workspace}/`)) return undefined; // the workspace's path is not a pattern
    dir = workspace;
    pattern = pattern.slice(workspace.length + 1);
  }
  while (pattern === '..' || pattern.startsWith('../')) {
    dir = dirname(dir);
    pattern = pattern.slice(3);
  }
  if (!hasGlob(pattern) || !insideWorkspace(dir, workspace)) return undefined;
  const fixed = relative(workspace, dir)
    .split(sep)
    .filter((x) => x !== '')
    .map((x) => x.replace(/[*?[\\]/g, '\\$&'));
  return [...fixed, ...(anchored ? [] : ['**']), pattern].join('/');
}

/** The current folder with links resolved (workspaces are recorded by real path). */
export async function currentFolder(): Promise<string> {
  return realpath(process.cwd()).catch(() => process.cwd());
}

/**
 * The run named, or else the most recent run of the (innermost) workspace the current folder is in, or else (outside
 * every workspace) the most recent run: never another workspace's run while this one has runs.
 */
export async function pickWorkspaceRun(ctx: CliContext, ref: string | undefined, what: string): Promise<RunMetadata> {
  if (ref) return ctx.pickRun(ref, what, () => true);
  const cwd = await currentFolder();
  // The innermost workspace holding the current folder (a nested one wins over its parent), newest run first.
  const mine = (await ctx.store.list())
    .filter((m) => insideWorkspace(cwd, m.workspace))
    .reduce<RunMetadata | undefined>((best, m) => (!best || m.workspace.length > best.workspace.length ? m : best), undefined);
  if (mine) {
    const m = await ctx.reconcile(mine);
    ctx.info(`(${what} ${m.name}, ${m.id})`, pc.dim);
    return m;
  }
  const m = await ctx.pickRun(undefined, what, () => true);
  ctx.info(`(no run started in ${cwd}: that run's workspace is ${m.workspace})`, pc.dim);
  return m;
}
