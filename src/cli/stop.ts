import type { Command } from '@commander-js/extra-typings';
import { forOut, type CliContext } from './context.js';
import { MoatError } from '../errors.js';
import { LIVE_STATES, type RunMetadata } from '../run/types.js';
import { markStopped, stopContainer } from '../run/launch.js';

async function stopRun(ctx: CliContext, meta: RunMetadata, timeout: number): Promise<number | undefined> {
  if (!meta.containerId) return undefined;
  await stopContainer(ctx.runtime, meta.containerId, meta.interactive, timeout);
  const info = await ctx.runtime.inspect(meta.containerId);
  const code = info?.exitCode ?? 137;
  await markStopped(ctx.home, meta.id, code);
  return code;
}

export function registerStopCommands(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('stop a run (SIGTERM, then SIGKILL after the timeout)')
    .argument('[run]', 'run id, id prefix or name (default: the most recent running run)')
    .option('-t, --time <seconds>', 'seconds to wait before killing', (v) => Number.parseInt(v, 10), 10)
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'stop', (m) => LIVE_STATES.has(m.state));
      if (!LIVE_STATES.has(meta.state)) {
        ctx.info(`Run ${meta.name} is already ${meta.state}.`);
        return;
      }
      const code = await stopRun(ctx, meta, o.time);
      process.stdout.write(forOut(`Stopped run ${meta.name} (${meta.id})${code !== undefined ? `, exit ${code}` : ''}.\n`));
    });

  program
    .command('destroy')
    .description("remove runs: their containers and their directories")
    .argument('[runs...]', 'run ids, id prefixes or names (default: the most recent stopped run)')
    .option('-f, --force', 'stop running runs first')
    .action(async (refs, o) => {
      const metas = refs.length > 0
        ? await Promise.all(refs.map(async (r) => ctx.reconcile(await ctx.store.resolve(r))))
        : [await ctx.pickRun(undefined, 'destroy', (m) => !LIVE_STATES.has(m.state))];
      const running = metas.filter((m) => LIVE_STATES.has(m.state));
      if (running.length > 0 && !o.force) {
        throw new MoatError(`Run ${running.map((m) => m.name).join(', ')} is still running.`, {
          code: 'E_CONFLICT',
          hint: `Stop it first (moat stop ${running[0]?.name}) or add -f.`,
        });
      }
      for (const m of metas) {
        if (m.containerId) await ctx.runtime.remove(m.containerId, true);
        await ctx.store.remove(m.id);
        process.stdout.write(forOut(`Destroyed run ${m.name} (${m.id}).\n`));
      }
    });
}
