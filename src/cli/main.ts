import { Command, CommanderError } from '@commander-js/extra-typings';
import { mark } from '../timing.js';
import { VERSION } from '../version.js';
import { LIVE_STATES } from '../run/types.js';
import { resumeOrphanedRuns } from '../daemon/client.js';
import { CliContext } from './context.js';
import { jsonRequested, reportError, usageDocument } from './json.js';
import { registerRunCommand } from './run.js';
import { registerListCommand } from './list.js';
import { registerLogsCommand } from './logs.js';
import { registerAttachCommand } from './attach.js';
import { registerStopCommands } from './stop.js';
import { registerCleanCommand } from './clean.js';
import { registerStatusCommands } from './status.js';
import { registerProxyCommands } from './proxy.js';
import { registerTraceCommand } from './trace.js';
import { registerTrustCommands } from './trust.js';

/** Commands that look at runs: when the daemon died under live runs, they start the one that resumes them. */
const RESUMING_COMMANDS = new Set(['list', 'ls', 'status', 'logs', 'attach', 'stop', 'audit', 'trace']);

/** Split argv at the first `--`: what follows is the container command, never moat's flags. */
function splitTrailing(argv: string[]): { head: string[]; trailing: string[] | undefined } {
  const i = argv.indexOf('--', 2);
  return i < 0 ? { head: argv, trailing: undefined } : { head: argv.slice(0, i), trailing: argv.slice(i + 1) };
}

export async function main(argv: string[]): Promise<number> {
  mark('cli loaded');
  // `moat list | head`: a closed pipe ends the command quietly, like any Unix tool.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); else throw err; });
  }
  if (argv[2] === '__daemon') {
    const { runDaemon } = await import('../daemon/server.js');
    const ctx = new CliContext();
    await runDaemon(ctx.home, { idleMs: Number(process.env.MOAT_DAEMON_IDLE_MS ?? 60_000) });
    return -1; // keep running
  }
  const verbose = argv.includes('--verbose');
  const { head, trailing } = splitTrailing(argv.filter((a) => a !== '--verbose'));
  const json = jsonRequested(head);
  const ctx = new CliContext(process.env, { json });
  const program = new Command()
    .name('moat')
    .description('Run AI coding agents and any command in an isolated container that never holds your secrets.')
    .version(VERSION, '-V, --version')
    .option('--verbose', 'show stack traces of unexpected errors')
    .exitOverride();
  // With --json a usage error is an error document too (subcommands inherit this when they are created).
  if (json) program.configureOutput({ outputError: (text, write) => write(usageDocument(text)) });
  else program.showHelpAfterError('(add --help for usage)');
  registerRunCommand(program, ctx, trailing);
  registerListCommand(program, ctx);
  registerStatusCommands(program, ctx);
  registerLogsCommand(program, ctx);
  registerAttachCommand(program, ctx);
  registerStopCommands(program, ctx);
  registerCleanCommand(program, ctx);
  registerProxyCommands(program, ctx);
  registerTraceCommand(program, ctx);
  registerTrustCommands(program, ctx);
  // Commands with heavy dependencies (prompts, native keychain) load only when they are used or for help.
  const lazy: Record<string, () => Promise<void>> = {
    grant: async () => (await import('./grant.js')).registerGrantCommands(program, { home: ctx.home }),
  };
  lazy.revoke = lazy.grant as () => Promise<void>;
  lazy.claude = lazy.codex = async () => (await import('./agents.js')).registerAgentCommands(program, ctx, trailing);
  lazy.deps = async () => (await import('./deps.js')).registerDepsCommands(program);
  lazy.audit = async () => (await import('./audit.js')).registerAuditCommand(program, {
    home: ctx.home,
    resolveRunDir: async (ref) => {
      const m = await ctx.pickRun(ref, 'audit', () => true);
      return { id: m.id, dir: ctx.store.dir(m.id), live: LIVE_STATES.has(m.state) };
    },
  });
  const first = head[2];
  if (first && lazy[first]) await lazy[first]();
  else if (!first || first.startsWith('-') || first === 'help') for (const load of new Set(Object.values(lazy))) await load();
  for (const c of program.commands) c.exitOverride();

  if (first && RESUMING_COMMANDS.has(first)) {
    await resumeOrphanedRuns(ctx.home, async () => (await ctx.store.list()).some((m) => LIVE_STATES.has(m.state) && m.containerId !== undefined), ctx.env);
  }
  try {
    await program.parseAsync(head);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its one-line message (unknown option, missing argument, help).
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err, { json, verbose });
  }
}

/** Resolves once everything written to `s` so far has reached the OS (a pipe may still hold it in Node). */
function drained(s: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (s.writableLength === 0 || s.destroyed) resolve();
    else s.write('', () => resolve());
  });
}

const code = await main(process.argv);
if (code >= 0) {
  process.exitCode = code;
  // Leave no handle (stdin, sockets) keeping the process alive once the command is done, but only after
  // the output has left: exiting with writes pending cuts `moat logs | …` off at the pipe's buffer size.
  void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => setImmediate(() => process.exit(code)));
}
