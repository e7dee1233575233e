import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { age, forOut, shellJoin, type CliContext } from './context.js';
import { printJson } from './json.js';
import type { RunMetadata } from '../run/types.js';

function stateText(m: RunMetadata): string {
  switch (m.state) {
    case 'running': return pc.green('running');
    case 'stopped': return m.exitCode === 0 ? 'stopped (0)' : pc.yellow(`stopped (${m.exitCode ?? '?'})`);
    case 'failed': return pc.red(`failed${m.reason ? `: ${forOut(m.reason)}` : ''}`);
    case 'created': case 'starting': return pc.cyan(m.state);
  }
}

/** `moat list`: read-only; the state shown is reconciled with the engine but never written. */
export function registerListCommand(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .alias('ls')
    .description('list the runs of this moat home')
    .option('--json', 'print the runs as JSON')
    .action(async (o) => {
      const runs = await ctx.reconcileAll();
      if (o.json) {
        await printJson({ runs });
        return;
      }
      if (runs.length === 0) {
        ctx.info('No runs yet. Start one with: moat run -- echo hello');
        return;
      }
      const { default: Table } = await import('cli-table3');
      const t = new Table({ head: ['NAME', 'ID', 'STATE', 'AGE', 'COMMAND'], style: { head: [], border: [] },
        chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
          'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' } });
      for (const r of runs) t.push([forOut(r.name), r.id, stateText(r), age(r.createdAt), forOut(shellJoin(r.command).slice(0, 60))]);
      process.stdout.write(`${t.toString().split('\n').map((l) => l.replace(/^ /, '').trimEnd()).join('\n')}\n`);
    });
}
