import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from './context.js';
import { printJson } from './json.js';
import { daemonView } from './views.js';
import { example } from './help.js';
import { relativeTime } from '../term/time.js';
import { daemonHealth, restartDaemon, stopDaemon } from '../daemon/client.js';
import { daemonLog } from '../daemon/protocol.js';

/** `moat proxy status|stop|restart`: the host daemon that owns live runs (and their gateways). */
export function registerProxyCommands(program: Command, ctx: CliContext): void {
  const proxy = program.command('proxy').description('the moat daemon that serves live runs');
  example(proxy, ['moat proxy status', 'moat proxy restart']);
  const status = proxy
    .command('status')
    .description('whether the daemon runs: its pid, version, live runs, spares and log file')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const h = await daemonHealth(ctx.home);
      if (o.json) {
        await printJson(daemonView(h, ctx.home));
        return;
      }
      process.stdout.write(
        h
          ? `running: pid ${h.pid}, version ${h.version}, started ${relativeTime(h.startedAt)}, ${h.runs.length} live runs, ${h.spares ?? 0} spares; log ${daemonLog(ctx.home)}\n`
          : 'not running (it starts on demand with the next run)\n',
      );
    });
  example(status, ['moat proxy status', 'moat proxy status --json']);
  const stop = proxy
    .command('stop')
    .description('stop the daemon')
    .action(async () => {
      process.stdout.write((await stopDaemon(ctx.home, ctx.env)) ? 'stopped\n' : 'not running\n');
    });
  example(stop, ['moat proxy stop']);
  const restart = proxy
    .command('restart')
    .description('stop the daemon and start a new one')
    .action(async () => {
      const h = await restartDaemon(ctx.home, ctx.env);
      process.stdout.write(`running: pid ${h.pid}\n`);
    });
  example(restart, ['moat proxy restart']);
}
