/** Claude Code as an agent: the `claude-code` dependency, the `claude`/`anthropic` grants, its command line. */
import type { AgentDefinition, AgentInvocation } from '../types.js';
import { API_KEY_SUFFIX_MARKER, CLAUDE_FLAG_SETTINGS, stageClaude } from './staging.js';

/**
 * Claude Code 2.1.331's subcommands, aliases included (`claude --help`). `help` is not one: Claude Code
 * would take it as a prompt.
 */
const CLAUDE_SUBCOMMANDS: readonly string[] = [
  'agents',
  'attach',
  'auth',
  'auto-mode',
  'doctor',
  'gateway',
  'import',
  'install',
  'logs',
  'mcp',
  'plugin',
  'plugins',
  'purge',
  'respawn',
  'rm',
  'setup-token',
  'stop',
  'kill',
  'ultrareview',
  'update',
  'upgrade',
];

/** Claude Code's options that pick the conversation themselves: moat then chooses no id for a new one. */
const CLAUDE_CONVERSATION_FLAGS = ['--session-id', '--resume', '-r', '--continue', '-c', '--from-pr', '--teleport', '--fork-session', '--cloud'];

/**
 * Whether moat should choose the id of the conversation this invocation starts (`--session-id`): a new
 * session (headless or TUI), not a subcommand, not a resume, and no conversation option after `--`.
 */
export function claudeStartsNewConversation(inv: AgentInvocation): boolean {
  if (inv.subcommand || inv.resume) return false;
  return !inv.args.some((a) => CLAUDE_CONVERSATION_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)) || /^-[a-zA-Z]*[rc]$/.test(a));
}

/**
 * Claude Code's argv. moat's conversation options (`--session-id`, `--continue`, `--resume ID`) come before
 * `-p`, so the run's recorded command says which conversation it had (see recordedSessionIds).
 */
/** `--settings FILE` when moat.yaml decides plugins: a flag outranks the project's own settings files. */
const pluginSettings = (inv: AgentInvocation): string[] =>
  inv.pluginOverrides && Object.keys(inv.pluginOverrides).length > 0 ? ['--settings', CLAUDE_FLAG_SETTINGS] : [];

export function claudeCommand(inv: AgentInvocation): string[] {
  // A subcommand starts no session: the skip-permissions flag is a session's (the staged settings still apply).
  if (inv.subcommand) return ['claude', ...pluginSettings(inv), ...inv.args];
  const cmd = ['claude'];
  if (inv.yolo) cmd.push('--dangerously-skip-permissions');
  if (inv.resume) cmd.push(...inv.resume);
  else if (inv.sessionId !== undefined) cmd.push('--session-id', inv.sessionId);
  cmd.push(...pluginSettings(inv));
  if (inv.prompt !== undefined) cmd.push('-p', inv.prompt);
  else if (inv.promptFromStdin) cmd.push('-p');
  return [...cmd, ...inv.args];
}

/**
 * Before Claude Code starts, approve the run's placeholder API key (if any) by its last 20 characters,
 * as Claude Code records an approval itself; the key is only known inside the container. The argv
 * reaches `claude` as positional parameters, never through the script text.
 */
export const CLAUDE_PRELUDE = [
  'if [ -n "${ANTHROPIC_API_KEY:-}" ] && [ -f "$HOME/.claude.json" ]; then',
  '  suffix=$(printf %s "$ANTHROPIC_API_KEY" | tail -c 20 | tr -cd "A-Za-z0-9_-")',
  `  sed -i "s/${API_KEY_SUFFIX_MARKER}/$suffix/" "$HOME/.claude.json" 2>/dev/null || true`,
  'fi',
  'exec "$@"',
].join('\n');

export const claudeAgent: AgentDefinition = {
  name: 'claude',
  title: 'Claude Code',
  dependency: 'claude-code',
  companions: ['git', 'ripgrep'],
  grants: [
    { name: 'claude', what: 'your Claude Pro/Max subscription' },
    { name: 'anthropic', what: 'an Anthropic API key' },
  ],
  subcommands: CLAUDE_SUBCOMMANDS,
  command: claudeCommand,
  containerCommand: (inv) => ['/bin/sh', '-c', CLAUDE_PRELUDE, 'moat-claude', ...claudeCommand(inv)],
  stage: stageClaude,
};
