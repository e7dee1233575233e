/**
 * Which run and which paths a snapshot command (diff, rollback, snapshot) means when the user leaves them
 * implicit: the run of the workspace the shell is in, and paths as the shell sees them (relative to the
 * current folder, or absolute), like git's.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MoatError } from '../errors.js';
import { hasGlob } from '../snapshot/diff.js';
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
 * from the current folder when that is inside the workspace (from the workspace's top otherwise); a glob
 * without a slash at any depth under that folder. A path outside the workspace is refused rather than
 * matching nothing.
 */
export function workspacePaths(paths: readonly string[], workspace: string, cwd: string): string[] {
  const base = insideWorkspace(cwd, workspace) ? cwd : workspace;
  return paths.map((p) => {
    // A glob without a slash (`'*.ts'`) matches at any depth under the current folder, as gitignore's do.
    const at = hasGlob(p) && !p.includes('/') ? join(base, '**', p) : p;
    const rel = relative(workspace, isAbsolute(at) ? at : resolve(base, at));
    if (!insideWorkspace(resolve(workspace, rel), workspace))
      throw new MoatError(`${p} is outside the run's workspace ${workspace}.`, {
        code: 'E_USAGE',
        hint: 'Give paths inside the workspace: relative to the current folder, or absolute.',
      });
    return rel === '' ? '.' : rel.split(sep).join('/');
  });
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
