/**
 * The line after an agent run: how to pick its conversation up again, as a command that runs as printed
 * (`moat claude --resume ID`, `moat codex resume ID`, after a `cd` when the workspace is elsewhere).
 * Only reads.
 */
import type { MoatHome } from '../home/paths.js';
import { shellWord } from '../shell.js';
import type { RunMetadata } from '../store/types.js';
import { workspaceTranscripts } from './session-scope.js';
import { isAgentRun, namedByOthers, sessionsOfRun } from './sessions.js';
import { canonicalWorkspace, type UserDirs } from './transcripts.js';
import type { AgentDefinition } from './types.js';

/** The command that resumes `sessionId` of `workspace`, typed in `cwd`. */
export function resumeCommand(agent: AgentDefinition, sessionId: string, workspace: string, inWorkspace: boolean): string {
  const cmd = agent.name === 'claude' ? `moat claude --resume ${sessionId}` : `moat codex resume ${sessionId}`;
  return inWorkspace ? cmd : `cd ${shellWord(workspace)} && ${cmd}`;
}

/** The hint for a run that has ended, or undefined when it left no conversation. */
export async function resumeHint(
  agent: AgentDefinition,
  run: RunMetadata,
  runs: readonly RunMetadata[],
  home: MoatHome,
  opts: { cwd: string; dirs?: UserDirs },
): Promise<string | undefined> {
  let wt;
  try {
    wt = await workspaceTranscripts(agent, run.workspace, home, opts.dirs ?? {});
  } catch {
    return undefined; // its moat.yaml no longer loads: no hint rather than an error after the run
  }
  const agentRuns = runs.filter((r) => isAgentRun(r, agent.name));
  const newest = sessionsOfRun(run, wt.sessions, Date.now(), namedByOthers(run, agentRuns))[0];
  if (!newest) return undefined;
  const here = (await canonicalWorkspace(opts.cwd)) === wt.canonical;
  return `To continue this conversation: ${resumeCommand(agent, newest.sessionId, run.workspace, here)}`;
}
