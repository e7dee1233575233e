import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { MoatError } from '../errors.js';
import { LIVE_STATES } from '../run/types.js';
import { runAttached } from '../run/session.js';
import { markStopped, stopContainer } from '../run/launch.js';

export function registerAttachCommand(program: Command, ctx: CliContext): void {
  program
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
      if (meta.interactive) {
        ctx.info(`Attached to ${meta.name}. Ctrl-/ d detaches, Ctrl-/ k stops the run.`, pc.dim);
      }
      const end = await runAttached({
        runtime: ctx.runtime,
        containerId,
        streams,
        tty: meta.interactive,
        forwardStdin: false,
        io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
        // A redraw for full-screen programs: nudge the size so they repaint.
        start: meta.interactive
          ? async () => {
            const rows = process.stdout.rows || 24;
            const cols = process.stdout.columns || 80;
            await ctx.runtime.resize(containerId, rows - 1, cols);
          }
          : undefined,
        onStop: () => stopContainer(ctx.runtime, containerId, meta.interactive),
      });
      if (end.kind === 'detached') {
        process.stdout.write(forOut(`\nDetached from run ${meta.name} (${meta.id}); moat attach ${meta.name} to return.\n`));
        return;
      }
      await markStopped(ctx.home, meta.id, end.exitCode);
      process.exitCode = end.exitCode;
    });
}
