import { basename } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { forErr, forOut, type CliContext } from './context.js';
import { prepareRun, type PrepareFlags } from '../run/prepare.js';
import type { RunSpec } from '../run/spec.js';
import { executeRun } from '../run/execute.js';
import { buildProgress } from './progress.js';
import { attachedBanner, startingLine, stoppedLine } from './session-text.js';
import { missingCommandMessage } from '../run/missing-command.js';
import type { RunMetadata } from '../store/types.js';
import { decimalNumber, wholeNumber } from './flag-values.js';
import { checkWorkspaceOperand } from './input-errors.js';
import { MAX_PIDS, MIN_PIDS, cpusProblem } from '../config/rules.js';
import { example } from './help.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The flags every command that starts a run shares (run, and later claude/codex). */
export function addRunFlags<C extends Command<[string | undefined]>>(cmd: C, opts: { shortPort?: boolean } = {}) {
  // `-p` is the agents' prompt: only `moat run` has it for --port.
  const portFlags = (opts.shortPort ? '-p, --port <name=port>' : '--port <name=port>') as '--port <name=port>';
  return cmd
    .option('-i, --interactive', 'attach a terminal (raw TTY) to the run')
    .option('-d, --detach', 'start the run in the background and print how to follow it')
    .option('-e, --env <KEY=VAL>', 'set an environment variable (repeatable)', collect, [] as string[])
    .option('-n, --name <name>', 'name the run (default: an adjective-animal name)')
    .option('-g, --grant <grant>', 'give the run a stored credential (repeatable)', collect, [] as string[])
    .option('--allow-host <pattern>', 'allow a host through the network policy (repeatable)', collect, [] as string[])
    .option(portFlags, 'reach a service of the run from the host at http://NAME.RUN.localhost:8080/ (repeatable)', collect, [] as string[])
    .option('--trace-bodies', 'record headers and the first 4 KiB of bodies in the network trace (credentials redacted)')
    .option('--keep', 'keep the container after the run stops')
    .option('--rebuild', 'rebuild the image even when it is cached')
    .option('--approve-config', 'accept the settings of moat.yaml that reach beyond the container (mounts, grants, build, network) without asking')
    .option('--allow-sensitive-workspace', "run in a workspace that holds keys or credentials, or is / or your home folder (moat's home stays hidden)")
    .addOption(new Option('--memory <size>', 'memory limit, e.g. 2g'))
    .addOption(new Option('--cpus <n>', 'CPU limit, e.g. 1.5').argParser(decimalNumber(cpusProblem)))
    .addOption(
      new Option(
        '--sandbox <sandbox>',
        "container runtime: gvisor (gVisor's user-space kernel) or runc (the host's kernel); default gvisor when the engine has it",
      ).choices(['gvisor', 'runc'] as const),
    )
    .addOption(new Option('--pids <n>', 'most processes and threads in the container (default 4096)').argParser(wholeNumber(MIN_PIDS, MAX_PIDS)));
}

type RunFlagValues = {
  interactive?: true;
  detach?: true;
  env: string[];
  name?: string;
  grant: string[];
  allowHost: string[];
  port: string[];
  keep?: true;
  rebuild?: true;
  traceBodies?: true;
  memory?: string;
  cpus?: number;
  pids?: number;
  approveConfig?: true;
  allowSensitiveWorkspace?: true;
  sandbox?: 'gvisor' | 'runc';
};

/** The shared run flags as PrepareFlags (the command and interactive mode are each command's own). */
export function prepareFlags(o: RunFlagValues): PrepareFlags {
  return {
    env: o.env,
    ...(o.name ? { name: o.name } : {}),
    grants: o.grant,
    allowHosts: o.allowHost,
    ...(o.port.length > 0 ? { ports: o.port } : {}),
    ...(o.memory ? { memory: o.memory } : {}),
    ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
    ...(o.pids !== undefined ? { pids: o.pids } : {}),
    ...(o.sandbox ? { sandbox: o.sandbox } : {}),
    detach: o.detach ?? false,
    keep: o.keep ?? false,
    rebuild: o.rebuild ?? false,
    traceBodies: o.traceBodies ?? false,
    approveConfig: o.approveConfig ?? false,
    allowSensitiveWorkspace: o.allowSensitiveWorkspace ?? false,
  };
}

/** A yes/no question on the terminal (default no); Ctrl-C answers no. */
async function askYesNo(question: string, details: string): Promise<boolean> {
  process.stderr.write(`${forErr(details)}\n`);
  const { confirm } = await import('@inquirer/prompts');
  try {
    return await confirm({ message: question, default: false }, { output: process.stderr });
  } catch {
    return false;
  }
}

/** How a command names what it runs, and what it adds once the run has ended. */
export interface ReportOptions {
  /** "run", "Claude Code run": in the lines about a run that goes on. */
  what?: string;
  /** "Claude Code", "bash": in the line said before an interactive run takes the terminal. */
  title?: string;
  /** After the run ended while attached (its hints, e.g. how to resume a conversation). */
  afterExit?: (meta: RunMetadata) => Promise<void>;
}

/** What an interactive run is called in its start line: the agent, else the command's program. */
function runTitle(spec: RunSpec): string {
  const program = spec.command[0];
  return program ? basename(program) : "the image's command";
}

/** Run a prepared spec attached to this terminal; print how to follow a run that goes on without us. */
export async function executeAndReport(ctx: CliContext, spec: RunSpec, report: ReportOptions = {}): Promise<void> {
  const what = report.what ?? 'run';
  if (ctx.dryRun) {
    const { printRunPlan } = await import('./dry-run.js');
    await printRunPlan(ctx, spec, what);
    return;
  }
  const { meta, end, changes } = await executeRun(
    {
      home: ctx.home,
      runtime: ctx.runtime,
      env: ctx.env,
      io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
      progress: () => buildProgress(),
      warn: (m) => ctx.warn(m),
      info: (m) => ctx.info(`moat: ${m}`, pc.dim),
      ...(process.stdin.isTTY && process.stdout.isTTY ? { confirm: askYesNo } : {}),
      // Before a program takes the screen over: what is starting, and the keys that leave it.
      beforeStart: (m, image) => {
        if (!spec.interactive) return;
        ctx.info(startingLine(report.title ?? runTitle(spec), image, performance.now()), pc.dim);
        ctx.info(attachedBanner(m.name), pc.dim);
      },
    },
    spec,
  );
  if (end.kind === 'started' || end.kind === 'detached') {
    const verb = end.kind === 'started' ? 'Started' : '\nDetached from';
    process.stdout.write(
      `${verb} ${what} ${pc.bold(forOut(meta.name))} (${meta.id}) in ${forOut(meta.workspace)}\n` +
        `  moat logs -f ${meta.name}    follow its output\n` +
        `  moat attach ${meta.name}     attach to it\n` +
        `  moat stop ${meta.name}       stop it\n`,
    );
    return;
  }
  process.exitCode = end.exitCode;
  if (end.stopped) ctx.info(stoppedLine(meta.name));
  if (end.missingCommand) {
    const { dependencyForCommand } = await import('../deps/commands.js');
    process.stderr.write(`${pc.red('moat:')} ${forErr(missingCommandMessage(spec.command[0], dependencyForCommand))}\n`);
    return;
  }
  if (changes) ctx.info(`moat: ${changes}`);
  await report.afterExit?.(meta);
}

export function registerRunCommand(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  const run = program
    .command('run')
    .description('run a command in a container with the workspace mounted at /workspace')
    .argument('[path]', 'the workspace directory', '.')
    .usage('[options] [path] [-- command...]');
  addRunFlags(run, { shortPort: true }).action(async (path, o) => {
    await checkWorkspaceOperand('run', path ?? '.', trailing);
    const spec = await prepareRun(path, {
      ...prepareFlags(o),
      ...(trailing && trailing.length > 0 ? { command: trailing } : {}),
      ...(o.interactive ? { interactive: true } : {}),
    });
    await executeAndReport(ctx, spec);
  });
  example(run, ['moat run -- npm test', 'moat run -i ~/src/app -- bash', 'moat run -d --grant github -- make release']);
}
