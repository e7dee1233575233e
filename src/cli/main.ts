import { statSync } from 'node:fs';
import { Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { MoatError } from '../errors.js';
import { mark } from '../timing.js';
import { VERSION } from '../version.js';
import { LIVE_STATES } from '../store/types.js';
import { resumeOrphanedRuns } from '../daemon/client.js';
import { CliContext } from './context.js';
import { configureHelpStyle, example } from './help.js';
import { jsonRequested, reportError, usageDocument } from './json.js';
import { registerRunCommand } from './run.js';
import { registerListCommand } from './list.js';
import { registerOpenCommand } from './open.js';
import { registerLogsCommand } from './logs.js';
import { registerAttachCommand } from './attach.js';
import { registerStopCommands } from './stop.js';
import { registerCleanCommand } from './clean.js';
import { registerStatusCommands } from './status.js';
import { registerProxyCommands } from './proxy.js';
import { registerTraceCommand } from './trace.js';
import { registerTrustCommands } from './trust.js';
import { registerDoctorCommand } from './doctor.js';
import { forgottenDashDash, moatCommanderText } from './input-errors.js';

/** Commands that look at runs: when the daemon died under live runs, they start the one that resumes them. */
const RESUMING_COMMANDS = new Set(['list', 'ls', 'status', 'logs', 'attach', 'stop', 'audit', 'trace']);

/** Commands whose operands after the workspace are a container command (and belong after `--`). */
const RUN_COMMANDS = new Set(['run', 'claude', 'codex']);

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Every command's commander errors in moat's words (`moat: …`, `did you mean: moat …`); for run, claude
 * and codex an unknown option or an extra operand, with no `--`, suggests where `--` was forgotten.
 */
function wordErrors(cmd: CommandUnknownOpts, path: string[], argv: readonly string[], json: boolean): void {
  const prev = cmd.configureOutput().outputError ?? ((str: string, write: (s: string) => void) => write(str));
  cmd.configureOutput({
    outputError: (str, write) => {
      let hint: string | undefined;
      if (path.length === 1 && RUN_COMMANDS.has(path[0] ?? '') && /unknown option|too many arguments/.test(str)) {
        const at = argv.indexOf(path[0] ?? '', 2);
        const flag = (f: string): 'value' | 'switch' | undefined => {
          const o = cmd.options.find((x) => x.short === f || x.long === f);
          return o === undefined ? undefined : o.required || o.optional ? 'value' : 'switch';
        };
        hint = at < 0 ? undefined : forgottenDashDash({ name: path[0] ?? '', flag }, argv.slice(at + 1), isDir);
      }
      // --json: the same words as one E_USAGE error document (the suggestion, if any, is its hint).
      if (json) {
        write(usageDocument(moatCommanderText(str, path), hint));
        return;
      }
      const text = moatCommanderText(str, path, pc.red('moat:'));
      if (hint) {
        write(`${text}  ${hint}\n`);
        return;
      }
      prev(text, write);
    },
  });
  for (const sub of cmd.commands) wordErrors(sub, [...path, sub.name()], argv, json);
}

/** The commands --dry-run previews. */
const DRY_RUN_COMMANDS = new Set(['run', 'claude', 'codex', 'stop', 'destroy', 'clean', 'rollback', 'snapshot']);

/** Split argv at the first `--`: what follows is the container command, never moat's flags. */
function splitTrailing(argv: string[]): { head: string[]; trailing: string[] | undefined } {
  const i = argv.indexOf('--', 2);
  return i < 0 ? { head: argv, trailing: undefined } : { head: argv.slice(0, i), trailing: argv.slice(i + 1) };
}

export async function main(argv: string[]): Promise<number> {
  mark('cli loaded');
  // `moat list | head`: a closed pipe ends the command quietly, like any Unix tool.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      else throw err;
    });
  }
  if (argv[2] === '__complete') {
    // Tab completion's dynamic values: the home's files only, before any command is loaded.
    const { printDynamicValues } = await import('./completion.js');
    await printDynamicValues(argv[3], new CliContext().home, process.stdout);
    return 0;
  }
  const verbose = argv.includes('--verbose');
  const split = splitTrailing(argv.filter((a) => a !== '--verbose'));
  const trailing = split.trailing;
  // --dry-run is global (before or after the command), read here like --verbose; never after `--`.
  const head = split.head.filter((a) => a !== '--dry-run');
  const json = jsonRequested(head);
  const ctx = new CliContext(process.env, { json });
  ctx.dryRun = head.length !== split.head.length;
  const program = new Command()
    .name('moat')
    .description('Run AI coding agents and any command in an isolated container that never holds your secrets.')
    .version(VERSION, '-V, --version')
    .option('--verbose', 'show stack traces of unexpected errors')
    .option('--dry-run', 'run, claude, codex, stop, destroy, clean: print what would be created or removed, and do nothing')
    .exitOverride();
  // With --json a usage error is an error document (wordErrors below); otherwise the help pointer follows it.
  if (!json) program.showHelpAfterError('(add --help for usage)');
  configureHelpStyle(program);
  example(program, ['moat claude', 'moat run -- npm test', 'moat list']);
  registerRunCommand(program, ctx, trailing);
  registerListCommand(program, ctx);
  registerOpenCommand(program, ctx);
  registerStatusCommands(program, ctx);
  registerLogsCommand(program, ctx);
  registerAttachCommand(program, ctx);
  registerStopCommands(program, ctx);
  registerCleanCommand(program, ctx);
  registerProxyCommands(program, ctx);
  registerTraceCommand(program, ctx);
  registerTrustCommands(program, ctx);
  registerDoctorCommand(program, ctx);
  // Commands with heavy dependencies (prompts, native keychain) load only when they are used or for help
  // (each once: `completion` loads them all to describe them).
  const once = (load: () => Promise<void>): (() => Promise<void>) => {
    let loading: Promise<void> | undefined;
    return () => (loading ??= load());
  };
  const lazy: Record<string, () => Promise<void>> = {
    grant: once(async () => (await import('./grant.js')).registerGrantCommands(program, { home: ctx.home })),
  };
  lazy.revoke = lazy.grant as () => Promise<void>;
  lazy.claude = lazy.codex = once(async () => (await import('./agents.js')).registerAgentCommands(program, ctx, trailing));
  lazy.diff = lazy.rollback = lazy.snapshot = once(async () => (await import('./snapshot.js')).registerSnapshotCommands(program, ctx, trailing));
  lazy.deps = once(async () => (await import('./deps.js')).registerDepsCommands(program));
  lazy.audit = once(async () =>
    (await import('./audit.js')).registerAuditCommand(program, {
      home: ctx.home,
      resolveRunDir: async (ref) => {
        const m = await ctx.pickRun(ref, 'audit', () => true);
        return { id: m.id, dir: ctx.store.dir(m.id), live: LIVE_STATES.has(m.state) };
      },
    }),
  );
  lazy.completion = once(async () => {
    const { builtinProviderNames } = await import('../credentials/providers/registry.js');
    (await import('./completion.js')).registerCompletionCommand(
      program,
      [...builtinProviderNames(), 'ssh'], // `moat grant ssh --host HOST` is a grant of its own kind
    );
  });
  const first = head[2];
  const registered = (n: string): boolean => program.commands.some((c) => c.name() === n || c.aliases().includes(n));
  if (first && lazy[first] && first !== 'completion') await lazy[first]();
  // Help, completion, and an unknown command (its "did you mean" considers every command).
  else if (!first || first.startsWith('-') || first === 'help' || first === 'completion' || !registered(first))
    for (const load of new Set(Object.values(lazy))) await load();
  for (const c of program.commands) c.exitOverride();
  wordErrors(program, [], head, json);

  if (first && RESUMING_COMMANDS.has(first) && !ctx.dryRun) {
    await resumeOrphanedRuns(ctx.home, async () => (await ctx.store.list()).some((m) => LIVE_STATES.has(m.state) && m.containerId !== undefined), ctx.env);
  }
  try {
    if (ctx.dryRun && !DRY_RUN_COMMANDS.has(first ?? '')) {
      throw new MoatError(`--dry-run previews run, claude, codex, stop, destroy and clean${first ? `, not ${first}` : ''}.`, {
        code: 'E_USAGE',
        hint: first ? `Leave --dry-run out (moat ${first} has no preview).` : 'Example: moat --dry-run run -- make test',
        exitCode: 2,
      });
    }
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

// No top-level await: the bundled CLI is a CommonJS script (scripts/bundle.mjs, bin/moat's code cache).
void main(process.argv).then(async (code) => {
  process.exitCode = code;
  // Leave no handle (stdin, sockets) keeping the process alive once the command is done, but only after
  // the output has left: exiting with writes pending cuts `moat logs | …` off at the pipe's buffer size.
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  setImmediate(() => process.exit(code));
});
