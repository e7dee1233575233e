/** Codex as an agent: the `codex` dependency, the `openai` grant, its command line. */
import type { AgentDefinition, AgentInvocation } from '../types.js';
import { stageCodex } from './staging.js';

export function codexCommand(inv: AgentInvocation): string[] {
  // Approvals and sandbox come from the staged config.toml (yolo or not).
  if (inv.prompt !== undefined) return ['codex', 'exec', '--skip-git-repo-check', ...inv.args, inv.prompt];
  if (inv.promptFromStdin) return ['codex', 'exec', '--skip-git-repo-check', ...inv.args];
  return ['codex', ...inv.args];
}

export const codexAgent: AgentDefinition = {
  name: 'codex',
  title: 'Codex',
  dependency: 'codex',
  companions: ['git', 'ripgrep'],
  grants: [{ name: 'openai', what: 'an OpenAI API key or your ChatGPT sign-in (--import)' }],
  command: codexCommand,
  containerCommand: codexCommand,
  stage: stageCodex,
};
