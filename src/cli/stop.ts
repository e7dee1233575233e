import type { Command } from '@commander-js/extra-typings';
import { forOut, type CliContext } from './context.js';
import { example } from './help.js';
import { MoatError } from '../errors.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';
import { markStopped, stopContainer } from '../run/launch.js';
import { wholeNumber } from './flag-values.js';
import { waitReleased } from '../daemon/client.js';

async function stopRun(ctx: CliContext, meta: RunMetadata, timeout: number): Promise<number | undefined> {
  if (!meta.containerId) return undefined;
  await stopContainer(ctx.runtime, meta.containerId, meta.interactive, timeout);
  const info = await ctx.runtime.inspect(meta.containerId);
  const code = info?.exitCode ?? 137;
  await markStopped(ctx.home, meta.id, code);
  return code;
}

/** Asks on the terminal before removing (default no); without a terminal, an error with the fix. */
export async function confirmRemoval(question: string, noTerminal: string, hint: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new MoatError(noTerminal, { code: 'E_USAGE', hint });
  const { confirm } = await import('@inquirer/prompts');
  try {
    return await confirm({ message: question, default: false }, { output: process.stderr });
  } catch {
    return false;
  }
}

export function registerStopCommands(program: Command, ctx: CliContext): void {
  const stop = program
    .command('stop')
    .description('stop a run (SIGTERM, then SIGKILL after the timeout)')
    .argument('[run]', 'run id, id prefix or name (default: the most recent running run)')
    .option('-t, --time <seconds>', 'seconds to wait before killing', wholeNumber(0, 3600), 10)
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'stop', (m) => LIVE_STATES.has(m.state));
      if (!LIVE_STATES.has(meta.state)) {
        ctx.info(`Run ${meta.name} is already ${meta.state}.`);
        return;
      }
      if (ctx.dryRun) {
        process.stdout.write(forOut(`Would stop run ${meta.name} (${meta.id}): SIGTERM, then SIGKILL after ${o.time} s (dry run: nothing was stopped).\n`));
        return;
      }
      const code = await stopRun(ctx, meta, o.time);
      process.stdout.write(forOut(`Stopped run ${meta.name} (${meta.id})${code !== undefined ? `, exit ${code}` : ''}.\n`));
    });
  example(stop, ['moat stop', 'moat stop brave-otter -t 30']);

  const destroy = program
    .command('destroy')
    .description('remove runs: their containers and their directories')
    .argument('[runs...]', 'run ids, id prefixes or names (default: the most recent stopped run)')
    .option('-f, --force', 'stop running runs first')
    .option('-y, --yes', 'do not ask before destroying the most recent stopped run (when no run is named)')
    .action(async (refs, o) => {
      const implicit = refs.length === 0;
      const metas = !implicit
        ? await Promise.all(refs.map(async (r) => ctx.reconcile(await ctx.store.resolve(r))))
        : [await ctx.pickRun(undefined, 'destroy', (m) => !LIVE_STATES.has(m.state))];
      const running = metas.filter((m) => LIVE_STATES.has(m.state));
      if (running.length > 0 && !o.force) {
        throw new MoatError(`Run ${running.map((m) => m.name).join(', ')} is still running.`, {
          code: 'E_CONFLICT',
          hint: `Stop it first (moat stop ${running[0]?.name}) or add -f.`,
        });
      }
      if (ctx.dryRun) {
        const what = (m: RunMetadata): string =>
          `run ${m.name} (${m.id}): ${m.containerId ? `its container ${m.containerId.slice(0, 12)} and ` : ''}its directory ${ctx.store.dir(m.id)}`;
        process.stdout.write(forOut(`Would remove (dry run: nothing was removed):\n${metas.map((m) => `  ${what(m)}`).join('\n')}\n`));
        return;
      }
      // No run named: the one picked is said, and removing it needs a yes, as for moat clean.
      if (implicit && !o.yes) {
        const m = metas[0];
        if (
          m &&
          !(await confirmRemoval(
            `Destroy run ${m.name} (${m.id}), its output and its audit log?`,
            `moat destroy asks before removing the most recent stopped run (${m.name}), and there is no terminal to ask.`,
            `Name it (moat destroy ${m.name}) or add -y.`,
          ))
        )
          return;
      }
      // A live run is killed first, and its directory removed only once the daemon has let it go: the
      // daemon records the exit and closes the audit log there, and would otherwise write it back.
      for (const m of running) if (m.containerId) await ctx.runtime.stop(m.containerId, 0).catch(() => undefined);
      await waitReleased(
        ctx.home,
        metas.map((m) => m.id),
      );
      for (const m of metas) {
        if (m.containerId) await ctx.runtime.remove(m.containerId, true);
        await ctx.store.remove(m.id);
        process.stdout.write(forOut(`Destroyed run ${m.name} (${m.id}).\n`));
      }
      // Snapshot contents no remaining run references go with them.
      await (await import('../snapshot/gc.js')).collectGarbage(ctx.home, { compact: true }).catch(() => undefined);
    });
  example(destroy, ['moat destroy brave-otter', 'moat destroy -f run_1a2b run_3c4d']);
}
