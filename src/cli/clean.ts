import type { Command } from '@commander-js/extra-typings';
import { forOut, type CliContext } from './context.js';
import { confirmRemoval } from './stop.js';
import { example } from './help.js';
import { renderTable } from '../term/table.js';
import { LABEL_HOME, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_RUN_ID } from '../runtime/types.js';
import { LIVE_STATES } from '../store/types.js';
import { daemonHealth, waitReleased } from '../daemon/client.js';
import { LABEL_SPARE } from '../container/plan.js';
import { RUN_ID_RE } from '../store/names.js';
import { processAlive } from '../process-alive.js';

interface Plan {
  runs: Array<{ id: string; name: string; containerId?: string }>;
  /** `run`: the run id of a spare (its folder goes with it). */
  containers: Array<{ id: string; name: string; spare?: string }>;
  images: Array<{ id: string; tags: string[] }>;
}

/** What `moat clean` would remove: only resources labelled with this home, never a live run's. */
async function planClean(ctx: CliContext, withImages: boolean): Promise<Plan> {
  const mine = { [LABEL_MANAGED]: 'true', [LABEL_HOME]: ctx.home.root };
  const runs = await ctx.reconcileAll();
  const live = new Set(runs.filter((r) => LIVE_STATES.has(r.state)).map((r) => r.id));
  const known = new Set(runs.map((r) => r.id));
  const stopped = runs.filter((r) => !LIVE_STATES.has(r.state));
  const stoppedIds = new Set(stopped.map((r) => r.id));
  // A running daemon's spares are its own (it removes them itself); a stopped daemon's are left over.
  const daemonUp = (await daemonHealth(ctx.home)) !== undefined;
  const containers = (await ctx.runtime.list(mine)).filter((c) => {
    const run = c.labels[LABEL_RUN_ID];
    if (c.labels[LABEL_SPARE] === '1' && run && !known.has(run) && daemonUp) return false;
    const owner = Number(c.labels[LABEL_OWNER_PID]);
    if (!run && owner > 1 && processAlive(owner)) return false; // another CLI's image build is using it
    return !run || !known.has(run) || (!live.has(run) && !stoppedIds.has(run));
  });
  const used = new Set((await ctx.runtime.list({ [LABEL_MANAGED]: 'true' })).map((c) => c.image));
  for (const r of runs) if (!stoppedIds.has(r.id)) used.add(r.image);
  const images = !withImages ? [] : (await ctx.runtime.listImages(mine)).filter((i) => !i.tags.some((t) => used.has(t)) && !used.has(i.id));
  return {
    runs: stopped.map((r) => ({ id: r.id, name: r.name, ...(r.containerId ? { containerId: r.containerId } : {}) })),
    containers: containers.map((c) => {
      const run = c.labels[LABEL_RUN_ID];
      return { id: c.id, name: c.name, ...(c.labels[LABEL_SPARE] === '1' && run && RUN_ID_RE.test(run) && !known.has(run) ? { spare: run } : {}) };
    }),
    images: images.map((i) => ({ id: i.id, tags: i.tags })),
  };
}

export function registerCleanCommand(program: Command, ctx: CliContext): void {
  const clean = program
    .command('clean')
    .description('remove stopped runs and orphaned moat containers of this home (and unused images with --images)')
    .option('--images', 'also remove the images no run uses (the next run rebuilds them)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      const plan = await planClean(ctx, o.images === true);
      const total = plan.runs.length + plan.containers.length + plan.images.length;
      if (total === 0) {
        process.stdout.write('Nothing to clean.\n');
        return;
      }
      const short = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
      const rows = [
        ...plan.runs.map((r) => ['run', r.name, r.id]),
        ...plan.containers.map((c) => [c.spare ? 'container (spare of a stopped daemon)' : 'container (orphaned)', c.name, short(c.id)]),
        ...plan.images.map((i) => ['image', i.tags[0] ?? '-', short(i.id)]),
      ];
      process.stdout.write(
        `${ctx.dryRun ? 'Would remove (dry run: nothing was removed)' : 'Will remove'}:\n${renderTable(['WHAT', 'NAME', 'ID'], rows, { safe: forOut })}`,
      );
      if (ctx.dryRun) return;
      if (
        !o.yes &&
        !(await confirmRemoval(
          `Remove these ${total} items?`,
          'moat clean asks before deleting, and there is no terminal to ask.',
          'Add -y to confirm: moat clean -y',
        ))
      )
        return;
      await waitReleased(
        ctx.home,
        plan.runs.map((r) => r.id),
      ); // a run just stopped may still be being recorded
      for (const r of plan.runs) {
        if (r.containerId) await ctx.runtime.remove(r.containerId, true);
        await ctx.store.remove(r.id);
      }
      for (const c of plan.containers) {
        await ctx.runtime.remove(c.id, true);
        if (c.spare) await ctx.store.remove(c.spare);
      }
      for (const i of plan.images) await ctx.runtime.removeImage(i.id).catch(() => undefined);
      await (await import('../snapshot/gc.js')).collectGarbage(ctx.home, { compact: true }).catch(() => undefined);
      process.stdout.write(`Removed ${total} items.\n`);
    });
  example(clean, ['moat clean --dry-run', 'moat clean -y']);
}
