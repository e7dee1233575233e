import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { collectGarbage } from '../snapshot/gc.js';
import { readRunSnapshots, updateRunSnapshots } from '../snapshot/refs.js';
import { LIVE_STATES } from '../store/types.js';
import { forOut, type CliContext } from './context.js';
import { bytes } from '../term/units.js';
import { wholeNumber } from './flag-values.js';
import { printJson, writeOut } from './json.js';
import { example } from './help.js';

export function registerPruneCommand(snap: CommandUnknownOpts, ctx: CliContext): void {
  const prune = snap
    .command('prune')
    .description('forget the snapshots of all but the newest runs of each workspace, and free what nothing references')
    .option('--keep <N>', 'runs per workspace whose snapshots are kept', wholeNumber(0), 10)
    .option('--json', 'one JSON document')
    .action(async (o) => {
      const keep = o.keep;
      const byWorkspace = new Map<string, string[]>();
      const drop: Array<{ id: string; name: string; workspace: string; snapshots: number }> = [];
      for (const m of await ctx.store.list()) {
        // newest first
        const r = await readRunSnapshots(ctx.home, m.id);
        if (!r || r.records.length === 0) continue;
        const kept = byWorkspace.get(m.workspace) ?? [];
        if (kept.length < keep || LIVE_STATES.has(m.state)) {
          kept.push(m.id);
          byWorkspace.set(m.workspace, kept);
          continue;
        }
        drop.push({ id: m.id, name: m.name, workspace: m.workspace, snapshots: r.records.length });
      }
      if (!ctx.dryRun)
        for (const d of drop) await updateRunSnapshots(ctx.home, d.id, (cur) => (cur ? { ...cur, records: [], pruned: new Date().toISOString() } : undefined));
      const freed = await collectGarbage(ctx.home, { dryRun: ctx.dryRun });
      if (o.json || ctx.json) {
        await printJson({
          dryRun: ctx.dryRun,
          runs: drop,
          objects: freed.objects,
          bytes: freed.bytes,
          leftInPacks: freed.leftInPacks ?? 0,
          unreadable: freed.unreadable ?? 0,
        });
        return;
      }
      const lines = drop.map((d) => `  ${forOut(d.name)} (${d.id}): ${d.snapshots} snapshot(s)\n`).join('');
      await writeOut(
        `${ctx.dryRun ? 'Would forget' : 'Forgot'} the snapshots of ${drop.length} run(s)${drop.length ? ':\n' + lines : '\n'}` +
          `${ctx.dryRun ? 'Would free' : 'Freed'} ${freed.objects} unreferenced object(s), ${bytes(freed.bytes)}${ctx.dryRun && drop.length ? ' (more once those runs are forgotten)' : ''}.\n` +
          (freed.leftInPacks
            ? `${bytes(freed.leftInPacks)} more stays inside packs still mostly in use; it is freed once half of such a pack is unreferenced.\n`
            : '') +
          (freed.unreadable ? `Nothing was collected: ${freed.unreadable} snapshot manifest(s) in use could not be read, so what they keep is unknown.\n` : ''),
      );
    });
  example(prune, ['moat snapshot prune --dry-run', 'moat snapshot prune --keep 3']);
}
