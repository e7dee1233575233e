/** Codex as an agent: the `codex` dependency, the `openai` grant, its command line. */
import type { AgentDefinition, AgentInvocation } from '../types.js';
import { stageCodex } from './staging.js';

/** Codex CLI 0.169.0's subcommands, aliases included (`codex --help`). */
const CODEX_SUBCOMMANDS: readonly string[] = [
  'agents',
  'exec',
  'e',
  'review',
  'login',
  'logout',
  'mcp',
  'plugin',
  'app-server',
  'remote-control',
  'completion',
  'update',
  'doctor',
  'sandbox',
  'debug',
  'apply',
  'a',
  'resume',
  'queue',
  'archive',
  'delete',
  'migrate-rollouts',
  'migrate-nfs-db',
  'unarchive',
  'fork',
  'cloud',
  'exec-server',
  'features',
  'help',
];

export function codexCommand(inv: AgentInvocation): string[] {
  // `--no-daemon` is a top-level option every subcommand accepts; the ones that open the TUI (resume, fork) need it.
  if (inv.subcommand) return ['codex', '--no-daemon', ...inv.args];
  // Approvals and sandbox come from the staged config.toml (yolo or not).
  if (inv.prompt !== undefined) return ['codex', 'exec', '--skip-git-repo-check', ...inv.args, inv.prompt];
  if (inv.promptFromStdin) return ['codex', 'exec', '--skip-git-repo-check', ...inv.args];
  if (inv.resume) return ['codex', '--no-daemon', 'resume', ...inv.resume, ...inv.args];
  // The TUI otherwise starts a background app server it tracks with `ps`, which slim images lack; one
  // container is one session anyway.
  return ['codex', '--no-daemon', ...inv.args];
}

/**
 * Before Codex starts: with an API-key grant, record the run's placeholder key as Codex's API-key login
 * (`~/.codex/auth.json`), or its TUI stops at the sign-in screen. The placeholder is minted per run, so
 * only the container knows it; a ChatGPT grant stages its own placeholder auth.json, which is kept.
 */
export const CODEX_PRELUDE = [
  'if [ -n "${OPENAI_API_KEY:-}" ] && [ ! -e "$HOME/.codex/auth.json" ]; then',
  '  key=$(printf %s "$OPENAI_API_KEY" | tr -cd "A-Za-z0-9_-")',
  '  mkdir -p "$HOME/.codex" && (umask 077 && printf \'{"auth_mode":"apikey","OPENAI_API_KEY":"%s"}\\n\' "$key" > "$HOME/.codex/auth.json")',
  'fi',
  'exec "$@"',
].join('\n');

export const codexAgent: AgentDefinition = {
  name: 'codex',
  title: 'Codex',
  dependency: 'codex',
  companions: ['git', 'ripgrep'],
  grants: [{ name: 'openai', what: 'an OpenAI API key or your ChatGPT sign-in (--import)' }],
  subcommands: CODEX_SUBCOMMANDS,
  command: codexCommand,
  containerCommand: (inv) => ['/bin/sh', '-c', CODEX_PRELUDE, 'moat-codex', ...codexCommand(inv)],
  stage: stageCodex,
};
