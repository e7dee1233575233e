import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { example } from './help.js';
import { MoatError } from '../errors.js';
import { LIVE_STATES } from '../store/types.js';
import { runAttached } from '../run/session.js';
import { markStopped, stopContainer } from '../run/launch.js';
import { INTERRUPT_WINDOW_MS, armedLine, attachedBanner, detachedLine, outputBanner, stoppedLine, stoppingLine } from './session-text.js';
import { networkReport } from '../run/network-report.js';

export function registerAttachCommand(program: Command, ctx: CliContext): void {
  const attach = program
    .command('attach')
    .description("reattach to a running run's output, or to its terminal if it is interactive")
    .argument('[run]', 'run id, id prefix or name (default: the most recent running run)')
    .action(async (ref) => {
      const meta = await ctx.pickRun(ref, 'attach to', (m) => m.state === 'running');
      if (!LIVE_STATES.has(meta.state) || !meta.containerId) {
        throw new MoatError(`Run ${meta.name} is not running (${meta.state}${meta.exitCode !== undefined ? `, exit ${meta.exitCode}` : ''}).`, {
          code: 'E_CONFLICT',
          hint: `moat logs ${meta.name} shows its output.`,
        });
      }
      if (meta.interactive && !process.stdin.isTTY) {
        throw new MoatError(`Run ${meta.name} is interactive and standard input is not a terminal.`, {
          code: 'E_USAGE',
          hint: `Attach from a terminal, or read its output with: moat logs -f ${meta.name}`,
        });
      }
      const containerId = meta.containerId;
      const streams = await ctx.runtime.attach(containerId, meta.interactive);
      if (meta.interactive) ctx.info(attachedBanner(meta.name), pc.dim);
      else if (process.stdin.isTTY) ctx.info(outputBanner(meta.name), pc.dim);
      // Refused and unreachable hosts from now on, live (not over a full-screen run); all of them at the end.
      const network = networkReport(ctx.home, meta.id, { live: !meta.interactive, stderr: process.stderr, env: ctx.env, quietHistory: true });
      const end = await runAttached({
        runtime: ctx.runtime,
        containerId,
        streams,
        tty: meta.interactive,
        forwardStdin: false,
        io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
        // A full-screen program repaints for the terminal that joins it.
        redraw: meta.interactive,
        // Not interactive: the run goes on without us; Ctrl-C is ours, not the run's.
        ...(meta.interactive
          ? {}
          : {
              detachOnInterrupt: {
                windowMs: INTERRUPT_WINDOW_MS,
                onArm: () => ctx.info(`\n${armedLine(meta.name)}`, pc.dim),
                onStopping: () => ctx.info(`\n${stoppingLine(meta.name)}`, pc.dim),
              },
            }),
        onStop: () => stopContainer(ctx.runtime, containerId, meta.interactive),
      }).finally(() => network.stop());
      if (end.kind === 'detached') {
        process.stdout.write(forOut(`${meta.interactive ? '\n' : ''}${detachedLine(meta.name, meta.id)}\n`));
        return;
      }
      await markStopped(ctx.home, meta.id, end.exitCode);
      if (end.stopped) ctx.info(stoppedLine(meta.name));
      network.summarize();
      process.exitCode = end.exitCode;
    });
  example(attach, ['moat attach', 'moat attach brave-otter']);
}
