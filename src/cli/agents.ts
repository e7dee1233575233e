import type { Command } from '@commander-js/extra-typings';
import { forOut, type CliContext } from './context.js';
import { shellJoin } from '../shell.js';
import { printJson } from './json.js';
import { addRunFlags, executeAndReport, prepareFlags, type ReportOptions } from './run.js';
import { example } from './help.js';
import { AGENTS } from '../agents/index.js';
import type { AgentDefinition } from '../agents/types.js';
import { agentMode } from '../agents/common.js';
import { prepareAgentRun } from '../agents/prepare.js';
import { MoatError } from '../errors.js';
import { registerClaudePluginCommands } from './claude-plugins.js';
import { checkWorkspaceOperand } from './input-errors.js';

/** The workspace's own transcript folder and its conversations (read-only). */
async function sessionContext(ctx: CliContext, agent: AgentDefinition, workspaceArg: string | undefined) {
  const { checkWorkspace } = await import('../run/prepare.js');
  const { workspaceTranscripts } = await import('../agents/session-scope.js');
  const workspace = await checkWorkspace(workspaceArg ?? '.');
  return workspaceTranscripts(agent, workspace, ctx.home, userDirs(ctx));
}

/** Where the user's own agent folders are (for sync_logs). */
const userDirs = (ctx: CliContext) => ({ env: ctx.env, ...(ctx.env.HOME ? { userHome: ctx.env.HOME } : {}) });

/**
 * What the agent needs to pick an earlier conversation up, always within this workspace's folder: the
 * newest one (`--continue`, `resume --last`) or one by session id or run, passed by id (`claude --resume ID`,
 * `codex resume ID`) so the run's record names it; nothing for Codex's own picker.
 */
async function resumeArgs(
  ctx: CliContext,
  agent: AgentDefinition,
  workspaceArg: string | undefined,
  want: { last?: boolean; ref?: string },
): Promise<string[]> {
  const { newestConversation, resolveResume } = await import('../agents/session-scope.js');
  const wt = await sessionContext(ctx, agent, workspaceArg);
  const runs = await ctx.store.list();
  const resumeFlag = agent.name === 'claude' ? ['--resume'] : [];
  if (want.ref !== undefined) return [...resumeFlag, await resolveResume(wt, want.ref, runs, (r) => ctx.store.resolve(r), ctx.home)];
  if (want.last) return [...resumeFlag, await newestConversation(wt, runs, ctx.home)];
  if (wt.sessions.length === 0) {
    // `codex resume`: Codex's own picker, over this workspace's folder
    throw new MoatError(`There is no ${agent.title} conversation to resume in ${wt.workspace}: its folder ${wt.folder.dir} holds none yet.`, {
      code: 'E_NOT_FOUND',
      hint: `Start one with moat ${agent.name} (its transcript is kept there for later).`,
    });
  }
  return [];
}

/** `moat <agent> sessions`: the agent's runs for this workspace (or all) with their conversations. Never writes. */
function registerSessions(cmd: Command<[string | undefined]>, ctx: CliContext, agent: AgentDefinition): void {
  const sessions = cmd
    .command('sessions')
    .description(`list ${agent.title} runs of this workspace with their last activity and session ids (newest first)`)
    .option('--all', 'every workspace (and the folder they shared before moat kept them apart)')
    .option('--json', 'print them as JSON')
    .action(async (o) => {
      const { sessionRows } = await import('../agents/sessions.js');
      const { allWorkspaceCandidates, legacyNote } = await import('../agents/session-scope.js');
      const wt = await sessionContext(ctx, agent, '.');
      const runs = await ctx.reconcileAll();
      const candidates = o.all ? await allWorkspaceCandidates(agent.name, runs, ctx.home, userDirs(ctx)) : () => wt.sessions;
      const rows = sessionRows(agent.name, runs, candidates, o.all ? undefined : wt.workspace);
      if (o.json) {
        await printJson({ sessions: rows });
        return;
      }
      const note = await legacyNote(agent.name, ctx.home, o.all ? new Set(rows.flatMap((r) => r.sessionIds)) : undefined);
      if (rows.length === 0) {
        ctx.info(`No ${agent.title} runs ${o.all ? 'yet' : `in ${wt.workspace}`}. Start one with: moat ${agent.name}`);
        if (note) ctx.info(note);
        return;
      }
      const { renderTable } = await import('../term/table.js');
      const { relativeTime } = await import('../term/time.js');
      const { tildePath } = await import('../term/home-path.js');
      const now = Date.now();
      process.stdout.write(
        renderTable(
          ['NAME', 'ID', 'STATE', 'LAST ACTIVITY', 'SESSION', ...(o.all ? [{ header: 'WORKSPACE', max: 40 }] : [])],
          rows.map((r) => [
            r.name,
            r.id,
            r.state === 'stopped' ? `stopped (${r.exitCode ?? '?'})` : r.state,
            relativeTime(r.lastActivity, now),
            r.sessionId ? `${r.sessionId}${r.legacy ? ' (old shared folder)' : ''}` : '-',
            ...(o.all ? [tildePath(r.workspace, ctx.env.HOME)] : []),
          ]),
          { safe: forOut },
        ),
      );
      if (note) ctx.info(note);
    });
  example(sessions, [`moat ${agent.name} sessions`, `moat ${agent.name} sessions --all`]);
}

/** How an agent run is named, and the line after it: how to resume its conversation (a person is reading). */
function agentReport(ctx: CliContext, agent: AgentDefinition): ReportOptions {
  return {
    what: `${agent.title} run`,
    title: agent.title,
    afterExit: async (meta) => {
      if (!process.stderr.isTTY) return;
      const { resumeHint } = await import('../agents/resume-hint.js');
      const run = (await ctx.store.read(meta.id)) ?? meta;
      const hint = await resumeHint(agent, run, await ctx.store.list(), ctx.home, { cwd: process.cwd(), dirs: userDirs(ctx) });
      if (hint) ctx.info(hint);
    },
  };
}

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
      await checkWorkspaceOperand(agent.name, workspace ?? '.', trailing);
      const prompt = o.prompt;
      const { continue: cont, resume } = o as { continue?: boolean; resume?: string };
      if (cont && resume !== undefined)
        throw new MoatError('--continue and --resume pick different conversations; use one.', {
          code: 'E_USAGE',
          hint: `moat ${agent.name} sessions lists them.`,
        });
      // Before anything is read or built: a subcommand with a session flag is an error.
      const mode = agentMode(agent, {
        args: trailing ?? [],
        tty: Boolean(process.stdin.isTTY),
        ...(prompt !== undefined ? { prompt } : {}),
        interactive: o.interactive === true,
        detach: o.detach === true,
        resuming: cont === true || resume !== undefined,
      });
      const resumeArgv =
        cont || resume !== undefined ? await resumeArgs(ctx, agent, workspace, resume !== undefined ? { ref: resume } : { last: true }) : undefined;
      // What `moat list` shows: the agent as the person asked for it, not moat's prelude around it.
      const typed = [
        agent.name,
        ...(cont ? ['--continue'] : []),
        ...(resume !== undefined ? ['--resume', resume] : []),
        ...(prompt !== undefined ? ['-p', prompt] : []),
        ...(trailing ?? []),
      ];
      const spec = await prepareAgentRun(
        agent,
        workspace,
        {
          ...prepareFlags(o),
          interactive: mode.interactive,
          commandLine: shellJoin(typed),
        },
        {
          ...(prompt !== undefined ? { prompt } : {}),
          ...(mode.promptFromStdin ? { promptFromStdin: true } : {}),
          ...(mode.subcommand !== undefined ? { subcommand: true } : {}),
          yolo: !o.noyolo,
          args: trailing ?? [],
          ...(resumeArgv ? { resume: resumeArgv } : {}),
        },
        { home: ctx.home, env: ctx.env, warn: (m) => ctx.warn(m), dryRun: ctx.dryRun },
      );
      await executeAndReport(ctx, spec, agentReport(ctx, agent));
    });
  if (agent.name === 'claude') {
    // Added after the action (the action reads them untyped): Claude's own flags for an earlier conversation.
    cmd
      .option('--continue', 'continue the newest conversation of this workspace (claude --continue), in a fresh container')
      .option('--resume <run|session>', "resume a conversation by session id, or a run's newest one (claude --resume ID)");
  }
  example(
    cmd,
    agent.name === 'claude'
      ? ['moat claude', "moat claude -p 'fix the failing test'", 'moat claude --continue', 'moat claude ~/src/app -- mcp list']
      : ['moat codex', "moat codex -p 'explain this repository'", 'moat codex resume --last'],
  );
  registerSessions(cmd, ctx, agent);
  if (agent.name === 'claude') registerClaudePluginCommands(cmd, ctx);
  if (agent.name === 'codex') registerCodexResume(cmd, ctx, agent, trailing);
}

/**
 * `moat codex resume [--last | ID]`: Codex's TUI on an earlier conversation, in a fresh container. The
 * run flags may come before or after `resume` (commander hands those before it to the parent).
 */
function registerCodexResume(parent: Command<[string | undefined]>, ctx: CliContext, agent: AgentDefinition, trailing: string[] | undefined): void {
  const sub = parent
    .command('resume')
    .description(
      `resume a ${agent.title} conversation (codex resume) in a fresh container: the newest of this workspace with --last, one by session id or run, or pick one`,
    )
    .argument('[session]', 'a session id, or a run id or name (its newest conversation)');
  addRunFlags(sub)
    .option('--last', 'the newest conversation of this workspace')
    .option('--noyolo', `keep ${agent.title}'s own approval prompts`)
    .action(async (ref, own) => {
      const inherited = parent.opts() as Record<string, unknown>;
      const o = { ...inherited } as typeof own;
      for (const [k, v] of Object.entries(own)) if (v !== undefined && !(Array.isArray(v) && v.length === 0)) (o as Record<string, unknown>)[k] = v;
      if (o.last && ref !== undefined)
        throw new MoatError('--last and a session id pick different conversations; use one.', { code: 'E_USAGE', hint: 'moat codex sessions lists them.' });
      const resume = await resumeArgs(ctx, agent, '.', ref !== undefined ? { ref } : { last: Boolean(o.last) });
      const typed = [agent.name, 'resume', ...(o.last ? ['--last'] : []), ...(ref !== undefined ? [ref] : []), ...(trailing ?? [])];
      const spec = await prepareAgentRun(
        agent,
        '.',
        { ...prepareFlags(o), interactive: true, commandLine: shellJoin(typed) },
        {
          yolo: !o.noyolo,
          args: trailing ?? [],
          resume,
        },
        { home: ctx.home, env: ctx.env, warn: (m) => ctx.warn(m), dryRun: ctx.dryRun },
      );
      await executeAndReport(ctx, spec, agentReport(ctx, agent));
    });
  example(sub, ['moat codex resume --last', 'moat codex resume brave-otter']);
}

export function registerAgentCommands(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  for (const agent of Object.values(AGENTS)) registerAgent(program, ctx, agent, trailing);
}
