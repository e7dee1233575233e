import type { Command } from '@commander-js/extra-typings';
import type { CliContext } from './context.js';
import { addRunFlags, executeAndReport, prepareFlags } from './run.js';
import { AGENTS } from '../agents/index.js';
import type { AgentDefinition } from '../agents/types.js';
import { prepareAgentRun } from '../agents/prepare.js';

/**
 * `moat claude` and `moat codex`: an ordinary run (same flags) whose command is the agent, with its
 * grant added when stored, its CLI installed and its settings staged. Arguments after `--` go to the agent.
 */
function registerAgent(program: Command, ctx: CliContext, agent: AgentDefinition, trailing: string[] | undefined): void {
  const headless = agent.name === 'claude' ? 'claude -p' : 'codex exec';
  const cmd = program
    .command(agent.name)
    .description(`run ${agent.title} in a container with the workspace at /workspace (full permissions; credentials stay on the host)`)
    .argument('[workspace]', 'the workspace directory', '.')
    .usage(`[options] [workspace] [-- ${agent.name} arguments...]`)
    .configureOutput({
      outputError: (str, write) => {
        write(str);
        if (/unknown option|too many arguments/.test(str)) {
          write(`Options for ${agent.title} itself go after --, e.g. moat ${agent.name} . -- --help\n`);
        }
      },
    });
  addRunFlags(cmd)
    .option('-p, --prompt <text>', `run headless with this prompt (${headless}); output streams here and its exit code is moat's`)
    .option('--noyolo', `keep ${agent.title}'s own permission prompts (default: full permissions, the container is the sandbox)`)
    .action(async (workspace, o) => {
      const prompt = o.prompt;
      const tty = Boolean(process.stdin.isTTY);
      // No prompt: the TUI on a terminal (or detached, to attach later); piped stdin is the prompt otherwise.
      const interactive = prompt === undefined && (o.interactive === true || tty || o.detach === true);
      const spec = await prepareAgentRun(agent, workspace, {
        ...prepareFlags(o),
        interactive,
      }, {
        ...(prompt !== undefined ? { prompt } : {}),
        ...(prompt === undefined && !interactive ? { promptFromStdin: true } : {}),
        yolo: !o.noyolo,
        args: trailing ?? [],
      }, { home: ctx.home, env: ctx.env });
      await executeAndReport(ctx, spec, `${agent.title} run`);
    });
}

export function registerAgentCommands(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  for (const agent of Object.values(AGENTS)) registerAgent(program, ctx, agent, trailing);
}
