/** What every agent shares: its image dependencies and the automatic choice of its provider grant. */
import { MoatError } from '../errors.js';
import type { McpServerConfig } from '../config/schema.js';
import type { StoredCredential } from '../credentials/types.js';
import type { AgentDefinition, AgentSettings } from './types.js';

/**
 * The dependencies an agent image needs: the CLI (pinned by `<agent>.version` when set; otherwise the
 * registry's tested default, or the version `dependencies:` names) plus git and ripgrep. Node comes with
 * the CLI's own requirements.
 */
export function agentDependencies(agent: AgentDefinition, settings: AgentSettings): string[] {
  const cli = settings.version ? `${agent.dependency}@${settings.version}` : agent.dependency;
  return [cli, ...agent.companions];
}

/** Looks a grant up in the credential store: undefined when none is stored. */
export type GrantLookup = (name: string) => Promise<StoredCredential | undefined>;

/** A stored credential is usable unless it has expired with no way to renew it. */
function usable(cred: StoredCredential, now: Date): boolean {
  if (!cred.expiresAt) return true;
  const t = Date.parse(cred.expiresAt);
  return Number.isNaN(t) || t > now.getTime() || Boolean(cred.secret.refreshToken);
}

/**
 * The grants to add for the agent. None when the run already has one of the agent's grants (from -g or
 * moat.yaml); otherwise the first of the agent's grants that is stored and usable. Without any, a
 * MoatError listing the `moat grant` commands.
 */
export async function agentGrants(agent: AgentDefinition, requested: readonly string[], lookup: GrantLookup, now = new Date()): Promise<string[]> {
  const names = new Set(agent.grants.map((g) => g.name));
  if (requested.some((r) => names.has((r.split(':')[0] ?? r).trim().toLowerCase()))) return [];
  const problems: string[] = [];
  for (const { name } of agent.grants) {
    let cred: StoredCredential | undefined;
    try {
      cred = await lookup(name);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    if (cred && usable(cred, now)) return [name];
    if (cred) problems.push(`The grant "${name}" has expired.`);
  }
  const commands = agent.grants.map((g) => `moat grant ${g.name}  (${g.what})`).join('\n  ');
  throw new MoatError(
    `${agent.title} needs a credential, and none is stored${problems.length > 0 ? ` (${problems.join(' ')})` : ''}. Grant one:\n  ${commands}`,
    { code: 'E_CREDENTIAL', hint: `Then run the same moat ${agent.name} command again.` },
  );
}

/**
 * A stdio MCP server as `{command, args, env}` for agents whose config has no working directory: a
 * `cwd` becomes a tiny `sh -c 'cd DIR && exec CMD ARGS'` wrapper (arguments passed as positional
 * parameters, never interpolated into the script).
 */
export function mcpWithCwd(server: McpServerConfig): { command: string; args: string[]; env?: Record<string, string> } {
  const args = server.args ?? [];
  const base = server.cwd
    ? { command: '/bin/sh', args: ['-c', 'cd "$0" && exec "$@"', server.cwd, server.command, ...args] }
    : { command: server.command, args };
  return server.env && Object.keys(server.env).length > 0 ? { ...base, env: { ...server.env } } : base;
}

/**
 * The agent subcommand the arguments after `--` start with (`mcp` in `mcp list`), or undefined when they
 * are options or a prompt for the agent's TUI. Decided by the agent's own list: a first word that is not
 * one of its subcommands is a prompt (`claude "fix the bug"`).
 */
export function agentSubcommand(agent: AgentDefinition, args: readonly string[]): string | undefined {
  const first = args[0];
  return first !== undefined && agent.subcommands.includes(first) ? first : undefined;
}

/** How `moat <agent>` was called, as far as choosing the agent's mode goes. */
export interface AgentModeInput {
  /** Arguments after `--`. */
  args: readonly string[];
  prompt?: string;
  /** Standard input is a terminal. */
  tty: boolean;
  /** -i, -d, and --continue/--resume. */
  interactive?: boolean;
  detach?: boolean;
  resuming?: boolean;
}

export interface AgentMode {
  /** The run gets a terminal. */
  interactive: boolean;
  /** Headless, the prompt read from standard input. */
  promptFromStdin: boolean;
  /** The agent subcommand the arguments start with. */
  subcommand?: string;
}

/**
 * The agent's mode. A subcommand (`-- mcp list`) runs as it is: with a terminal only from one (or -i),
 * its stdin forwarded and never taken as a prompt. Otherwise: a prompt runs headless; without one, the
 * TUI on a terminal (or detached, to attach later), and piped stdin is the prompt.
 */
export function agentMode(agent: AgentDefinition, input: AgentModeInput): AgentMode {
  const subcommand = agentSubcommand(agent, input.args);
  if (subcommand !== undefined) {
    if (input.prompt !== undefined || input.resuming) {
      const flag = input.prompt !== undefined ? '-p' : '--continue/--resume';
      throw new MoatError(`${flag} starts a ${agent.title} session, but "${subcommand}" after -- is one of ${agent.title}'s subcommands; use one.`, {
        code: 'E_USAGE',
        hint: `moat ${agent.name} -- ${subcommand} … runs the subcommand; a prompt that starts with "${subcommand}" goes through -p.`,
      });
    }
    return { interactive: input.interactive === true || input.tty, promptFromStdin: false, subcommand };
  }
  const interactive = input.prompt === undefined && (input.interactive === true || input.tty || input.detach === true);
  return { interactive, promptFromStdin: input.prompt === undefined && !interactive };
}
