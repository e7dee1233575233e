import type { Command } from '@commander-js/extra-typings';
import { forOut, type CliContext } from './context.js';
import { MoatError } from '../errors.js';
import { LABEL_HOME, LABEL_MANAGED, LABEL_RUN_ID } from '../runtime/types.js';
import { LIVE_STATES } from '../run/types.js';

interface Plan {
  runs: Array<{ id: string; name: string; containerId?: string }>;
  containers: Array<{ id: string; name: string }>;
  networks: Array<{ id: string; name: string }>;
  images: Array<{ id: string; tags: string[] }>;
}

/** What `moat clean` would remove: only resources labelled with this home, never a live run's. */
async function planClean(ctx: CliContext): Promise<Plan> {
  const mine = { [LABEL_MANAGED]: 'true', [LABEL_HOME]: ctx.home.root };
  const runs = await ctx.reconcileAll();
  const live = new Set(runs.filter((r) => LIVE_STATES.has(r.state)).map((r) => r.id));
  const known = new Set(runs.map((r) => r.id));
  const stopped = runs.filter((r) => !LIVE_STATES.has(r.state));
  const stoppedIds = new Set(stopped.map((r) => r.id));
  const containers = (await ctx.runtime.list(mine)).filter((c) => {
    const run = c.labels[LABEL_RUN_ID];
    return !run || !known.has(run) || (!live.has(run) && !stoppedIds.has(run));
  });
  const networks = (await ctx.runtime.listNetworks(mine)).filter((n) => !live.has(n.labels[LABEL_RUN_ID] ?? ''));
  const used = new Set((await ctx.runtime.list({ [LABEL_MANAGED]: 'true' })).map((c) => c.image));
  for (const r of runs) if (!stoppedIds.has(r.id)) used.add(r.image);
  const images = (await ctx.runtime.listImages(mine)).filter((i) => !i.tags.some((t) => used.has(t)) && !used.has(i.id));
  return {
    runs: stopped.map((r) => ({ id: r.id, name: r.name, ...(r.containerId ? { containerId: r.containerId } : {}) })),
    containers: containers.map((c) => ({ id: c.id, name: c.name })),
    networks: networks.map((n) => ({ id: n.id, name: n.name })),
    images: images.map((i) => ({ id: i.id, tags: i.tags })),
  };
}

export function registerCleanCommand(program: Command, ctx: CliContext): void {
  program
    .command('clean')
    .description('remove stopped runs and orphaned moat containers, networks and images of this home')
    .option('--dry-run', 'only show what would be removed')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      const plan = await planClean(ctx);
      const total = plan.runs.length + plan.containers.length + plan.networks.length + plan.images.length;
      if (total === 0) {
        process.stdout.write('Nothing to clean.\n');
        return;
      }
      const lines = [
        ...plan.runs.map((r) => `run ${r.name} (${r.id})`),
        ...plan.containers.map((c) => `orphaned container ${c.name}`),
        ...plan.networks.map((n) => `network ${n.name}`),
        ...plan.images.map((i) => `image ${i.tags[0] ?? i.id.slice(7, 19)}`),
      ];
      process.stdout.write(forOut(`${o.dryRun ? 'Would remove' : 'Will remove'}:\n${lines.map((l) => `  ${l}`).join('\n')}\n`));
      if (o.dryRun) return;
      if (!o.yes) {
        if (!process.stdin.isTTY) throw new MoatError('moat clean asks before deleting, and there is no terminal to ask.', { code: 'E_USAGE', hint: 'Add -y to confirm: moat clean -y' });
        const { confirm } = await import('@inquirer/prompts');
        if (!(await confirm({ message: `Remove these ${total} items?`, default: false }))) return;
      }
      for (const r of plan.runs) {
        if (r.containerId) await ctx.runtime.remove(r.containerId, true);
        await ctx.store.remove(r.id);
      }
      for (const c of plan.containers) await ctx.runtime.remove(c.id, true);
      for (const n of plan.networks) await ctx.runtime.removeNetwork(n.id);
      for (const i of plan.images) await ctx.runtime.removeImage(i.id).catch(() => undefined);
      process.stdout.write(`Removed ${total} items.\n`);
    });
}
