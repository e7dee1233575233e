/**
 * An agent (Claude Code, Codex) as plain data plus small pure functions: which dependency installs it,
 * which grants it needs, its command line, and the files staged into the container user's home.
 * Nothing here touches Docker, the network or the credential store.
 */
import type { McpServerConfig } from '../config/schema.js';

import type { AgentName } from '../store/types.js';
import type { HomeFile } from '../container/plan.js';

export type { AgentName };
/** A file for the container user's home (container/plan.ts). */
export type { HomeFile };

/** What the user asked for on the command line. */
export interface AgentInvocation {
  /** Headless prompt (-p). Absent: the agent's TUI, or a prompt read from piped stdin. */
  prompt?: string;
  /** Headless without -p: the prompt comes from standard input. */
  promptFromStdin?: boolean;
  /** Full permissions (the default); `--noyolo` turns it off. */
  yolo: boolean;
  /** Arguments after `--`, passed to the agent as they are. */
  args: string[];
  /**
   * Continue an earlier conversation: Claude's `--continue` / `--resume ID`, Codex's `resume` arguments
   * (`--last` or an ID).
   */
  resume?: string[];
  /**
   * The id of a new conversation, chosen by moat so the run records which conversation it started
   * (Claude Code's `--session-id`). Never with `resume` or a subcommand.
   */
  sessionId?: string;
  /**
   * Claude Code only: moat.yaml's own `claude.plugins`, passed with `--settings` (a flag outranks the
   * project's `.claude/settings*.json`, which Claude Code reads itself), so moat.yaml decides last.
   */
  pluginOverrides?: Record<string, boolean>;
  /**
   * The arguments start with one of the agent's own subcommands (`mcp list`, `doctor`): they run as they
   * are, with no prompt and no permission flag (the staged settings still apply).
   */
  subcommand?: boolean;
}

/** The agent's section of moat.yaml (`claude:` / `codex:`), as far as staging needs it. */
export interface AgentSettings {
  version?: string;
  mcp?: Record<string, McpServerConfig>;
  plugins?: Record<string, boolean>;
  /** Keep transcripts in the user's own agent folder instead of the moat home's. */
  sync_logs?: boolean;
  marketplaces?: Record<string, unknown>;
}

export interface Staging {
  files: HomeFile[];
  /** Environment the agent needs (never a secret); the user's -e flags override it. */
  env: Record<string, string>;
}

export interface AgentDefinition {
  name: AgentName;
  /** Product name for messages. */
  title: string;
  /** The registry dependency that installs the CLI (`claude-code`, `codex`). */
  dependency: string;
  /** Tools that come along with every agent image. */
  companions: readonly string[];
  /**
   * Grants the agent can use, in order of preference; the first one stored is added automatically.
   * Each with what it is, for the "no credential" message.
   */
  grants: ReadonlyArray<{ name: string; what: string }>;
  /**
   * The CLI's own subcommands (and their aliases) at the pinned version, from its `--help`. Arguments after
   * `--` that start with one run as that subcommand; anything else is the TUI's arguments or prompt.
   */
  subcommands: readonly string[];
  /** The agent's argv (what the user would type inside the container). */
  command(inv: AgentInvocation): string[];
  /** The container's command: the agent's argv, possibly behind a tiny preparation step. */
  containerCommand(inv: AgentInvocation): string[];
  stage(settings: AgentSettings, inv: AgentInvocation): Staging;
}
