import type { Command } from '@commander-js/extra-typings';
import { auditSnapshotEvent } from '../snapshot/audit.js';
import { DEFAULT_LIMITS } from '../snapshot/limits.js';
import { readRunSnapshots, type SnapshotRecord } from '../snapshot/refs.js';
import { addRecord, recordOf, snapshotWorkspace, unstoredNote } from '../snapshot/service.js';
import { LIVE_STATES } from '../store/types.js';
import { forOut, type CliContext } from './context.js';
import { bytes } from '../term/units.js';
import { example } from './help.js';
import { pickWorkspaceRun } from './snapshot-scope.js';
import { renderTable, type Column } from '../term/table.js';
import { relativeTime } from '../term/time.js';
import { printJson, writeOut } from './json.js';
import { registerDiffCommand } from './diff.js';
import { registerRollbackCommand } from './rollback.js';
import { registerPruneCommand } from './snapshot-prune.js';

export function registerSnapshotCommands(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  registerDiffCommand(program, ctx, trailing);
  registerRollbackCommand(program, ctx, trailing);
  const snap = program
    .command('snapshot')
    .description("take a snapshot of a run's workspace now (list and prune them with the subcommands)")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run of the workspace you are in)')
    .option('--label <text>', 'a label to find it by')
    .option('--json', 'one JSON document')
    .action(async (ref, o) => {
      const meta = await pickWorkspaceRun(ctx, ref, 'snapshot the workspace of');
      const settings = (await readRunSnapshots(ctx.home, meta.id))?.settings ?? { exclude: [], limits: DEFAULT_LIMITS };
      const taken = await snapshotWorkspace(ctx.home, meta.workspace, settings);
      const rec = recordOf('manual', taken, o.label);
      await addRecord(ctx.home, meta.id, settings, rec);
      // A live run's log is the daemon's: it appends the entry (or, failing that, before the post-run
      // snapshot); an ended run's log is appended here.
      const entry = { event: 'snapshot', kind: 'manual', snapshot: rec.id, manifest: rec.manifest, files: rec.files, ...(o.label ? { label: o.label } : {}) };
      let audited = LIVE_STATES.has(meta.state) && (await (await import('../daemon/client.js')).auditLiveSnapshots(ctx.home, meta.id));
      // Not live (or it ended meanwhile, its log closed): the entry is appended here, unless the daemon
      // did so when the run ended (the record says).
      if (!audited && (await readRunSnapshots(ctx.home, meta.id))?.records.find((x) => x.id === rec.id)?.audited) audited = true;
      if (!audited && !LIVE_STATES.has((await ctx.store.read(meta.id))?.state ?? meta.state)) audited = await auditSnapshotEvent(ctx.home, meta.id, entry);
      if (o.json) {
        await printJson({ ...rec, run: meta.id, audited });
        return;
      }
      const note = unstoredNote(taken);
      if (note) ctx.warn(note);
      await writeOut(
        `Snapshot ${rec.id} of ${forOut(meta.workspace)}: ${rec.files} file${rec.files === 1 ? '' : 's'}, ${bytes(rec.bytes)} (${bytes(rec.added)} new)${o.label ? `, label ${forOut(o.label)}` : ''}\n`,
      );
    });
  example(snap, ['moat snapshot --label before-refactor', 'moat snapshot list', 'moat snapshot prune --keep 5']);
  const list = snap
    .command('list')
    .description('list the snapshots of a run, or of every run')
    .argument('[run]', 'run id, id prefix or name (default: every run)')
    .option('--json', 'one JSON document')
    .action(async (ref, o) => {
      const runs = ref ? [await ctx.store.resolve(ref)] : await ctx.store.list();
      const rows: Array<SnapshotRecord & { run: string; runName: string; workspace: string }> = [];
      for (const m of runs) {
        for (const r of (await readRunSnapshots(ctx.home, m.id))?.records ?? []) rows.push({ ...r, run: m.id, runName: m.name, workspace: m.workspace });
      }
      // `--json` after `list` is read by the parent command too: either one asks for JSON.
      if (o.json || ctx.json) {
        await printJson({ snapshots: rows });
        return;
      }
      if (rows.length === 0) {
        ctx.info('No snapshots (a run takes them before and after it runs).');
        return;
      }
      const now = Date.now();
      const labelled = rows.some((r) => r.label);
      const columns: Column[] = [
        { header: 'ID' },
        { header: 'KIND' },
        { header: 'CREATED' },
        { header: 'RUN', max: 24 },
        { header: 'FILES', align: 'right' },
        { header: 'SIZE', align: 'right' },
        ...(labelled ? [{ header: 'LABEL', max: 40 }] : []),
      ];
      const cells = rows.map((r) => [
        r.id,
        r.kind,
        relativeTime(r.createdAt, now),
        r.runName,
        String(r.files),
        bytes(r.bytes),
        ...(labelled ? [r.label ?? ''] : []),
      ]);
      await writeOut(renderTable(columns, cells, { safe: forOut }));
    });
  example(list, ['moat snapshot list', 'moat snapshot list brave-otter --json']);
  registerPruneCommand(snap, ctx);
}
