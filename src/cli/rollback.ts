import type { Command } from '@commander-js/extra-typings';
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MoatError, errnoCode } from '../errors.js';
import { auditSnapshotEvent } from '../snapshot/audit.js';
import { pathFilter, sameContent } from '../snapshot/diff.js';
import { byPath, readManifest, type Manifest } from '../snapshot/manifest.js';
import { readRunSnapshots } from '../snapshot/refs.js';
import { DEFAULT_LIMITS } from '../snapshot/limits.js';
import { applyRestore, pathOf, planRestore, type Action } from '../snapshot/restore.js';
import { addRecord, objectStore, recordOf, snapshotWorkspace } from '../snapshot/service.js';
import { LIVE_STATES } from '../store/types.js';
import { forErr, forOut, type CliContext } from './context.js';
import { runSnapshotPair } from './diff.js';
import { example } from './help.js';
import { currentFolder, pickWorkspaceRun, workspacePaths } from './snapshot-scope.js';
import { printJson, writeOut } from './json.js';

const verb = (a: Action): string =>
  a.op === 'write' ? (a.replace ? 'restore' : 'create') : a.op === 'mkdir' ? 'mkdir' : a.op === 'delete' ? 'delete' : a.op === 'chmod' ? 'mode' : 'skip';

/**
 * Paths where the workspace now differs from what the run left (someone changed them since). A missing
 * folder made only on the way to the paths given overwrites nothing: it is never one of them.
 */
function changedSince(post: Manifest, now: Manifest, actions: Action[]): string[] {
  const a = byPath(post);
  const b = byPath(now);
  return actions
    .filter((x) => !(x.op === 'mkdir' && x.onTheWay))
    .map(pathOf)
    .filter((p) => {
      const x = a.get(p),
        y = b.get(p);
      if (!x || !y) return x !== y;
      return !sameContent(x, y) || x.mode !== y.mode;
    });
}

/** The --to folder, made unless `dryRun` (a dry run writes nothing), and refused unless it is empty. */
export async function emptyTarget(dir: string, dryRun = false): Promise<string> {
  const abs = resolve(dir);
  const notFolder = (err: unknown): never => {
    const code = errnoCode(err);
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    throw new MoatError(`${abs} is not a folder; --to writes the snapshot into a new or empty folder.`, {
      code: 'E_USAGE',
      hint: 'Pick a new folder, e.g. --to /tmp/before-run',
    });
  };
  if (dryRun) {
    const names = await readdir(abs).catch((err: unknown) => (errnoCode(err) === 'ENOENT' ? [] : notFolder(err)));
    if (names.length > 0) throw notEmpty(abs);
    return abs;
  }
  await makeFolders(abs).catch(notFolder);
  if ((await readdir(abs).catch(notFolder)).length > 0) throw notEmpty(abs);
  return realpath(abs);
}

/**
 * mkdir -p, one folder at a time from the deepest one there: Node's recursive mkdir loops forever where
 * mkdir answers ENOENT for a parent that exists (under /proc). A folder that cannot be made is said.
 */
async function makeFolders(abs: string): Promise<void> {
  const missing: string[] = [];
  for (
    let p = abs;
    !(await stat(p).then(
      () => true,
      () => false,
    ));
    p = dirname(p)
  ) {
    if (p === dirname(p) || missing.length > 256) break;
    missing.unshift(p);
  }
  for (const p of missing) {
    await mkdir(p, { mode: 0o755 }).catch((err: unknown) => {
      const code = errnoCode(err);
      if (code === 'EEXIST' || code === 'ENOTDIR') throw err;
      throw new MoatError(`Could not make the folder ${p} (${code ?? 'error'}); --to writes the snapshot into a new or empty folder.`, {
        code: 'E_USAGE',
        hint: 'Pick a folder you can write, e.g. --to /tmp/before-run',
      });
    });
  }
}

function notEmpty(abs: string): MoatError {
  return new MoatError(`${abs} is not empty; --to writes the snapshot into a new or empty folder.`, {
    code: 'E_USAGE',
    hint: 'Pick a new folder, e.g. --to /tmp/before-run',
  });
}

export function registerRollbackCommand(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  const cmd = program
    .command('rollback')
    .description("restore a run's workspace (or only the paths given) to how it was before the run")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run of the workspace you are in)')
    .usage('[options] [run] [-- paths...]')
    .option('--to <dir>', 'write the pre-run tree into this new or empty folder instead of the workspace')
    .option('--snapshot <id>', 'restore this snapshot of the run instead (e.g. the safety snapshot, to undo a rollback)')
    .option('-y, --yes', 'do not ask before writing')
    .option('--force', 'restore files changed since the run ended too')
    .option('--json', 'one JSON document')
    .action(async (ref, o) => {
      const meta = await pickWorkspaceRun(ctx, ref, 'roll back');
      const paths = workspacePaths(trailing ?? [], meta.workspace, await currentFolder());
      const store = objectStore(ctx.home);
      const { pre, post } = await runSnapshotPair(ctx, meta);
      const records = (await readRunSnapshots(ctx.home, meta.id))?.records ?? [];
      const chosen = o.snapshot ? records.find((r) => r.id === o.snapshot) : pre;
      if (!chosen)
        throw new MoatError(`Run ${meta.name} has no snapshot ${o.snapshot ?? ''}.`, { code: 'E_NOT_FOUND', hint: `moat snapshot list ${meta.name}` });
      const target = await readManifest(store, chosen.manifest);
      if (o.to) {
        const dir = await emptyTarget(o.to, ctx.dryRun);
        const actions = planRestore(target, undefined, pathFilter(paths, target));
        if (ctx.dryRun) {
          await printPlan(ctx, actions, o.json ?? false);
          return;
        }
        const report = await applyRestore(dir, store, actions);
        await auditSnapshotEvent(ctx.home, meta.id, { event: 'rollback', to: dir, manifest: chosen.manifest, written: report.written });
        if (o.json) {
          await printJson({ run: meta.id, to: dir, manifest: chosen.manifest, ...report });
          return;
        }
        await writeOut(`Wrote ${report.written} entries of ${meta.name}'s ${chosen.kind} snapshot to ${forOut(dir)}\n`);
        for (const s of report.skipped.slice(0, 20)) ctx.warn(`${s.path}: ${s.why}`);
        return;
      }
      if (LIVE_STATES.has(meta.state))
        throw new MoatError(`Run ${meta.name} is still running; its workspace is still changing.`, {
          code: 'E_CONFLICT',
          hint: `Stop it first (moat stop ${meta.name}), or write the pre-run tree elsewhere with --to DIR.`,
        });
      // The workspace as it is now: the rollback's safety snapshot (recorded only when something is written).
      const run = await readRunSnapshots(ctx.home, meta.id);
      const safetyTaken = await snapshotWorkspace(ctx.home, meta.workspace, run?.settings ?? { exclude: [], limits: DEFAULT_LIMITS });
      const ended = !o.snapshot && post ? await readManifest(store, post.manifest) : undefined;
      const actions = planRestore(target, safetyTaken.manifest, pathFilter(paths, target, safetyTaken.manifest, ended));
      // Paths someone changed since the run ended: refused, or with --force marked in the plan and said.
      const changed = ended ? changedSince(ended, safetyTaken.manifest, actions) : [];
      if (!o.force && changed.length > 0)
        throw new MoatError(`The workspace changed since run ${meta.name} ended, in ${changed.length} of the files to restore: ${listed(changed)}.`, {
          code: 'E_CONFLICT',
          hint: `Restore the other paths only (moat rollback ${meta.name} -- PATHS), or overwrite them too with --force.`,
        });
      const writes = actions.filter((a) => a.op !== 'skip');
      const edited = new Set(changed);
      if (ctx.dryRun || writes.length === 0) {
        await printPlan(ctx, actions, o.json ?? false, process.stdout, edited);
        if (writes.length === 0) ctx.info(`Nothing to restore: the workspace already matches ${meta.name}'s ${chosen.kind} snapshot.`);
        return;
      }
      if (!o.yes) {
        if (!process.stdin.isTTY || !process.stderr.isTTY)
          throw new MoatError(`The rollback would change ${writes.length} paths in ${meta.workspace}, and there is no terminal to ask.`, {
            code: 'E_USAGE',
            hint: `Preview it with moat --dry-run rollback ${meta.name}, then add -y.`,
          });
        await printPlan(ctx, actions, false, process.stderr, edited);
        const { confirm } = await import('@inquirer/prompts');
        const overwrite = edited.size > 0 ? `, overwriting ${edited.size} changed since the run ended` : '';
        const ok = await confirm(
          { message: `Restore ${writes.length} paths in ${forErr(meta.workspace)}${overwrite}?`, default: false },
          { output: process.stderr },
        ).catch(() => false);
        if (!ok) {
          ctx.info('Nothing was changed.');
          return;
        }
      }
      if (o.yes && edited.size > 0 && !o.json)
        ctx.warn(
          `--force: overwriting ${edited.size} path${edited.size === 1 ? '' : 's'} changed since run ${meta.name} ended: ${listed(changed)} (the undo below brings them back).`,
        );
      const safety = recordOf('safety', safetyTaken, `before rollback to ${chosen.id}`);
      await addRecord(ctx.home, meta.id, run?.settings ?? { exclude: [], limits: DEFAULT_LIMITS }, safety);
      // The safety snapshot is a snapshot like any other: its own audit event, before anything is written.
      await auditSnapshotEvent(ctx.home, meta.id, { event: 'snapshot', kind: 'safety', snapshot: safety.id, manifest: safety.manifest, files: safety.files });
      const report = await applyRestore(meta.workspace, store, actions).catch((err: unknown) => {
        // What was put back before the failure stays: the safety snapshot taken above undoes it.
        if (!(err instanceof MoatError)) throw err;
        throw new MoatError(err.message, {
          code: err.code,
          cause: err,
          hint: `${err.hint ? `${err.hint} ` : ''}To undo what was restored: moat rollback ${meta.name} --snapshot ${safety.id} -y`,
        });
      });
      await auditSnapshotEvent(ctx.home, meta.id, {
        event: 'rollback',
        manifest: chosen.manifest,
        safety: safety.manifest,
        safetySnapshot: safety.id,
        written: report.written,
        deleted: report.deleted,
        modes: report.modes,
        paths: paths.slice(0, 100).map((x) => x.glob ?? x.path),
      });
      if (o.json) {
        await printJson({ run: meta.id, manifest: chosen.manifest, safety: safety.id, ...report });
        return;
      }
      for (const s of report.skipped.slice(0, 20)) ctx.warn(`${s.path}: ${s.why}`);
      await writeOut(
        `${restoredSummary(report)} in ${forOut(meta.workspace)} (${chosen.kind} snapshot of ${meta.name}).\n` +
          `  undo: moat rollback ${meta.name} --snapshot ${safety.id} -y\n`,
      );
    });
  example(cmd, ['moat rollback', 'moat rollback my-run -- src/', 'moat --dry-run rollback my-run', 'moat rollback my-run --to /tmp/before']);
}

/** What an in-place rollback did, every kind of change counted (the plan listed each). */
export function restoredSummary(r: { written: number; deleted: number; modes: number }): string {
  const modes = r.modes > 0 ? `, set the mode of ${r.modes}` : '';
  return `Restored ${r.written}${modes} and removed ${r.deleted} paths`;
}

/** Up to ten paths, comma-separated, then "…" (the error and the warning name them alike). */
function listed(paths: readonly string[]): string {
  return `${paths.slice(0, 10).join(', ')}${paths.length > 10 ? ', …' : ''}`;
}

/** The plan, a line per path; a path changed since the run ended (restored only with --force) is marked. */
async function printPlan(
  ctx: CliContext,
  actions: Action[],
  json: boolean,
  out: NodeJS.WriteStream = process.stdout,
  edited: ReadonlySet<string> = new Set(),
): Promise<void> {
  if (json) {
    await printJson({
      plan: actions.map((a) => ({
        op: a.op,
        path: pathOf(a),
        ...(a.op === 'skip' ? { why: a.why } : {}),
        ...(a.op === 'mkdir' && a.onTheWay ? { onTheWay: true } : {}),
        ...(edited.has(pathOf(a)) ? { changedSinceRun: true } : {}),
      })),
    });
    return;
  }
  const why = (a: Action): string => (a.op === 'skip' ? ` (${a.why})` : edited.has(pathOf(a)) ? ' (changed since the run ended)' : '');
  const text = actions.map((a) => `  ${verb(a).padEnd(7)} ${out === process.stdout ? forOut(pathOf(a)) : forErr(pathOf(a))}${why(a)}\n`).join('');
  if (out === process.stdout) await writeOut(text);
  else out.write(text);
}
