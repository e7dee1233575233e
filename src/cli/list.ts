import type { Command } from '@commander-js/extra-typings';
import { homedir } from 'node:os';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { shellJoin } from '../shell.js';
import { printJson } from './json.js';
import { example } from './help.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';
import { runUrls } from '../gateway/routes.js';
import { routingPort } from '../config/routing.js';
import { renderTable, type Cell } from '../term/table.js';
import { relativeTime } from '../term/time.js';
import { tildePath } from '../term/home-path.js';

const hasUrls = (m: RunMetadata): boolean => LIVE_STATES.has(m.state) && Object.keys(m.ports ?? {}).length > 0;

function stateCell(m: RunMetadata): Cell {
  switch (m.state) {
    case 'running':
      return { text: 'running', paint: pc.green };
    case 'stopped':
      return m.exitCode === 0 ? 'stopped (0)' : { text: `stopped (${m.exitCode ?? '?'})`, paint: pc.yellow };
    case 'failed':
      return { text: `failed${m.reason ? `: ${m.reason}` : ''}`, paint: pc.red };
    case 'created':
    case 'starting':
      return { text: m.state, paint: pc.cyan };
  }
}

/**
 * The command as the person typed it: the recorded command line; for runs recorded before there was one,
 * the agent's name, moat.yaml's command string out of its `sh -c`, or the argv itself.
 */
function shownCommand(m: Pick<RunMetadata, 'command' | 'commandLine' | 'agent'>): string {
  if (m.commandLine !== undefined) return m.commandLine;
  if (m.agent) return m.agent;
  const [sh, c, script, ...rest] = m.command;
  if (sh === '/bin/sh' && c === '-c' && script !== undefined && rest.length === 0) return script;
  return shellJoin(m.command);
}

/** `moat list`: read-only; the state shown is reconciled with the engine but never written. */
export function registerListCommand(program: Command, ctx: CliContext): void {
  const list = program
    .command('list')
    .alias('ls')
    .description('list the runs of this moat home, newest first')
    .option('--json', 'print the runs as JSON')
    .action(async (o) => {
      const runs = await ctx.reconcileAll();
      // Live runs with ports: their services' URLs (the routing proxy's, routes.ts).
      const port = runs.some(hasUrls) ? await routingPort(ctx.home.globalConfig) : 0;
      if (o.json) {
        await printJson({ runs: runs.map((r) => (hasUrls(r) ? { ...r, urls: runUrls(r.name, r.ports, port) } : r)) });
        return;
      }
      if (runs.length === 0) {
        ctx.info('No runs yet. Start one with: moat run -- echo hello');
        return;
      }
      const home = ctx.env.HOME ?? homedir();
      const now = Date.now();
      const urls = port > 0;
      process.stdout.write(
        renderTable(
          ['NAME', { header: 'COMMAND', max: 40 }, { header: 'WORKSPACE', max: 40 }, { header: 'STATE', max: 40 }, 'AGE', 'ID', ...(urls ? ['URL'] : [])],
          runs.map((r) => [
            r.name,
            shownCommand(r),
            tildePath(r.workspace, home),
            stateCell(r),
            relativeTime(r.createdAt, now),
            r.id,
            ...(urls ? [hasUrls(r) ? Object.values(runUrls(r.name, r.ports, port)).join(' ') : ''] : []),
          ]),
          { safe: forOut },
        ),
      );
    });
  example(list, ['moat list', 'moat ls --json']);
}
