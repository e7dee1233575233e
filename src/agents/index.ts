import { claudeAgent } from './claude/index.js';
import { codexAgent } from './codex/index.js';
import type { AgentDefinition, AgentName } from './types.js';

export const AGENTS: Readonly<Record<AgentName, AgentDefinition>> = { claude: claudeAgent, codex: codexAgent };

export { agentDependencies, agentGrants, mcpWithCwd } from './common.js';
export type { AgentDefinition, AgentInvocation, AgentName, AgentSettings, HomeFile, Staging } from './types.js';
