/**
 * Sessions as the commands see them: a workspace's own transcript folder and its conversations, every
 * workspace's for `sessions --all` (plus the old shared folder, read only), and what `--continue` /
 * `--resume REF` pick, always within the workspace's folder. Only reads.
 */
import { access } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { loadWorkspaceConfig } from '../config/load.js';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { shellWord } from '../shell.js';
import type { RunMetadata } from '../store/types.js';
import { ambiguousSession, isAgentRun, isSessionId, listSessions, matchSessionId, namedByOthers, sessionsOfRun, type SessionFile } from './sessions.js';
import {
  canonicalWorkspace,
  legacyTranscriptDir,
  moatTranscriptDir,
  moatTranscriptDirs,
  transcriptFolder,
  workspaceKey,
  type TranscriptFolder,
  type UserDirs,
} from './transcripts.js';
import type { AgentDefinition, AgentName } from './types.js';

export interface WorkspaceTranscripts {
  agent: AgentDefinition;
  /** The workspace as moat records it on its runs. */
  workspace: string;
  /** Its path with symlinks resolved: what its folder is named after. */
  canonical: string;
  folder: TranscriptFolder;
  /** The conversations in its folder, newest first. */
  sessions: SessionFile[];
}

async function syncLogsOf(agent: AgentName, workspace: string): Promise<boolean | undefined> {
  try {
    return (await loadWorkspaceConfig(workspace)).config[agent]?.sync_logs;
  } catch {
    return undefined; // a workspace gone or with a broken moat.yaml: the default folder
  }
}

async function folderOf(
  agent: AgentName,
  workspace: string,
  home: MoatHome,
  dirs: UserDirs,
  syncLogs?: boolean,
): Promise<{ canonical: string; folder: TranscriptFolder }> {
  const canonical = await canonicalWorkspace(workspace);
  return { canonical, folder: transcriptFolder(agent, canonical, home, syncLogs ?? (await syncLogsOf(agent, workspace)), dirs) };
}

/** The workspace's folder (per its moat.yaml) and the conversations in it. */
export async function workspaceTranscripts(agent: AgentDefinition, workspace: string, home: MoatHome, dirs: UserDirs = {}): Promise<WorkspaceTranscripts> {
  const { config } = await loadWorkspaceConfig(workspace);
  const { canonical, folder } = await folderOf(agent.name, workspace, home, dirs, config[agent.name]?.sync_logs ?? false);
  return { agent, workspace, canonical, folder, sessions: await listSessions(agent.name, folder.dir) };
}

/** The conversations in the folder every workspace shared before (read only, marked `legacy`). */
function legacySessions(agent: AgentName, home: MoatHome): Promise<SessionFile[]> {
  return listSessions(agent, legacyTranscriptDir(agent, home), true);
}

/**
 * For `sessions --all`: each run's candidate conversations, those of its workspace's folder and of the old
 * shared folder (which only runs from before can match, by time).
 */
export async function allWorkspaceCandidates(
  agent: AgentName,
  runs: readonly RunMetadata[],
  home: MoatHome,
  dirs: UserDirs = {},
): Promise<(run: RunMetadata) => SessionFile[]> {
  const legacy = await legacySessions(agent, home);
  const byWorkspace = new Map<string, SessionFile[]>();
  for (const ws of new Set(runs.filter((r) => isAgentRun(r, agent)).map((r) => r.workspace))) {
    const { folder } = await folderOf(agent, ws, home, dirs);
    byWorkspace.set(
      ws,
      [...(await listSessions(agent, folder.dir)), ...legacy].sort((a, b) => b.lastActivity - a.lastActivity),
    );
  }
  return (run) => byWorkspace.get(run.workspace) ?? legacy;
}

/** `moat claude --resume` / `moat codex resume`, for messages. */
const resumeCommand = (agent: AgentName, ref: string): string => (agent === 'claude' ? `moat claude --resume ${ref}` : `moat codex resume ${ref}`);

/** How to bring a conversation of the old shared folder into this workspace's folder (the user decides). */
async function copyIntoWorkspace(wt: WorkspaceTranscripts, s: SessionFile, home: MoatHome): Promise<string> {
  if (wt.agent.name === 'claude') {
    // Claude Code keeps a conversation's subagent transcripts in a folder named after it.
    const extra = join(dirname(s.file), s.sessionId);
    const withDir = await access(extra).then(
      () => true,
      () => false,
    );
    return `mkdir -p ${shellWord(wt.folder.dir)} && cp -r ${shellWord(s.file)}${withDir ? ` ${shellWord(extra)}` : ''} ${shellWord(wt.folder.dir)}/`;
  }
  const dest = join(wt.folder.dir, dirname(relative(legacyTranscriptDir('codex', home), s.file)));
  return `mkdir -p ${shellWord(dest)} && cp ${shellWord(s.file)} ${shellWord(dest)}/`;
}

function legacyError(wt: WorkspaceTranscripts, s: SessionFile, copy: string, home: MoatHome): MoatError {
  return new MoatError(
    `The ${wt.agent.title} conversation ${s.sessionId} is in ${legacyTranscriptDir(wt.agent.name, home)}, the folder every workspace shared ` +
      `before moat kept them apart; to continue it in ${wt.workspace}, copy it into this workspace's folder first:`,
    { code: 'E_CONFLICT', hint: `${copy} && ${resumeCommand(wt.agent.name, s.sessionId)}` },
  );
}

/** A conversation `ref` names in another workspace's folder under the moat home, or the old shared one. */
async function elsewhere(wt: WorkspaceTranscripts, ref: string, runs: readonly RunMetadata[], home: MoatHome): Promise<MoatError | undefined> {
  const agent = wt.agent.name;
  for (const dir of await moatTranscriptDirs(agent, home)) {
    if (dir === wt.folder.dir) continue;
    const ids = matchSessionId(ref, await listSessions(agent, dir));
    if (ids.length > 1) return ambiguousSession(ref, ids, wt.agent.title);
    const id = ids[0];
    if (id === undefined) continue;
    if (dir === moatTranscriptDir(agent, home, workspaceKey(wt.canonical))) {
      // This workspace's own moat folder, while sync_logs mounts the user's folder instead.
      return new MoatError(
        `The ${wt.agent.title} conversation ${id} is in this workspace's moat folder ${dir}, but with sync_logs: true moat mounts ${wt.folder.dir} instead.`,
        {
          code: 'E_CONFLICT',
          hint: `Remove sync_logs from ${agent}: in moat.yaml to resume it, or copy it across: cp -r ${shellWord(dir)}/. ${shellWord(wt.folder.dir)}/`,
        },
      );
    }
    let owner: string | undefined;
    for (const ws of new Set(runs.filter((r) => isAgentRun(r, agent)).map((r) => r.workspace))) {
      if (moatTranscriptDir(agent, home, workspaceKey(await canonicalWorkspace(ws))) === dir) owner = ws;
    }
    const where = owner ?? `the workspace whose conversations are in ${dir}`;
    return new MoatError(
      `The ${wt.agent.title} conversation ${id} belongs to ${where}, and each workspace keeps its own conversations: resume it from there.`,
      {
        code: 'E_CONFLICT',
        hint: owner ? `cd ${shellWord(owner)} && ${resumeCommand(agent, id)}` : `moat ${agent} sessions --all lists every workspace's runs.`,
      },
    );
  }
  const legacy = await legacySessions(agent, home);
  const ids = matchSessionId(ref, legacy);
  if (ids.length > 1) return ambiguousSession(ref, ids, wt.agent.title);
  const s = legacy.find((x) => x.sessionId === ids[0]);
  return s ? legacyError(wt, s, await copyIntoWorkspace(wt, s, home), home) : undefined;
}

/**
 * `--resume REF` / `codex resume REF` in this workspace: a conversation id of its folder (or a unique prefix
 * of 8+ characters), or a run of this workspace (id, id prefix or name) as its newest conversation. Another
 * workspace's conversation or run is an error that says where to resume it.
 */
export async function resolveResume(
  wt: WorkspaceTranscripts,
  ref: string,
  runs: readonly RunMetadata[],
  resolveRun: (ref: string) => Promise<RunMetadata>,
  home: MoatHome,
): Promise<string> {
  const { name: agent, title } = wt.agent;
  const ids = matchSessionId(ref, wt.sessions);
  if (ids.length > 1) throw ambiguousSession(ref, ids, title);
  if (ids[0] !== undefined) return ids[0];
  let run: RunMetadata;
  try {
    run = await resolveRun(ref);
  } catch (err) {
    if (!(err instanceof MoatError)) throw err;
    if (/^[0-9a-f-]{8,}$/i.test(ref.trim())) {
      const other = await elsewhere(wt, ref, runs, home);
      if (other) throw other;
    }
    if (isSessionId(ref)) {
      throw new MoatError(`There is no ${title} conversation ${ref} in ${wt.workspace} (its folder is ${wt.folder.dir}).`, {
        code: 'E_NOT_FOUND',
        hint: `moat ${agent} sessions lists this workspace's; moat ${agent} sessions --all every workspace's.`,
      });
    }
    throw new MoatError(`"${ref}" is neither a ${title} session id nor a run: ${err.message}`, {
      code: 'E_NOT_FOUND',
      hint: `moat ${agent} sessions lists runs and their session ids.`,
    });
  }
  if (!isAgentRun(run, agent)) {
    throw new MoatError(`The run ${run.name} (${run.id}) was not a ${title} run.`, {
      code: 'E_CONFLICT',
      hint: `moat ${agent} sessions lists the ${title} runs.`,
    });
  }
  if ((await canonicalWorkspace(run.workspace)) !== wt.canonical) {
    throw new MoatError(`The run ${run.name} (${run.id}) belongs to ${run.workspace}, and each workspace keeps its own conversations: resume it from there.`, {
      code: 'E_CONFLICT',
      hint: `cd ${shellWord(run.workspace)} && ${resumeCommand(agent, run.name)}`,
    });
  }
  const agentRuns = runs.filter((r) => isAgentRun(r, agent));
  const newest = sessionsOfRun(run, wt.sessions, Date.now(), namedByOthers(run, agentRuns))[0];
  if (newest) return newest.sessionId;
  const old = sessionsOfRun(run, await legacySessions(agent, home))[0];
  if (old) throw legacyError(wt, old, await copyIntoWorkspace(wt, old, home), home);
  throw new MoatError(`The run ${run.name} (${run.id}) left no ${title} transcript to resume.`, {
    code: 'E_NOT_FOUND',
    hint: `moat ${agent} sessions lists the runs that did; or start a new conversation with moat ${agent}.`,
  });
}

/**
 * `--continue` / `codex resume --last`: the newest conversation of this workspace. Its own folder holds only
 * its conversations; a shared one (Codex with sync_logs) is narrowed to this workspace's runs by time.
 */
export async function newestConversation(wt: WorkspaceTranscripts, runs: readonly RunMetadata[], home: MoatHome): Promise<string> {
  const { name: agent, title } = wt.agent;
  let newest = wt.sessions[0];
  if (wt.folder.shared) {
    const agentRuns = runs.filter((r) => isAgentRun(r, agent));
    const mine = new Set(
      agentRuns.filter((r) => r.workspace === wt.workspace).flatMap((r) => sessionsOfRun(r, wt.sessions, Date.now(), namedByOthers(r, agentRuns))),
    );
    newest = wt.sessions.find((s) => mine.has(s));
  }
  if (newest) return newest.sessionId;
  const legacy = (await legacySessions(agent, home)).length > 0;
  throw new MoatError(`There is no ${title} conversation in ${wt.workspace} to continue (its folder ${wt.folder.dir} holds none).`, {
    code: 'E_NOT_FOUND',
    hint: `Start one with moat ${agent}${legacy ? `; moat ${agent} sessions --all also lists those from before moat kept workspaces apart` : ''}.`,
  });
}

/**
 * A one-line note for `sessions` about the old shared folder: that it holds conversations (this workspace's
 * list), or which of them no run listed accounts for (`--all`, whose rows are runs).
 */
export async function legacyNote(agent: AgentName, home: MoatHome, listed?: ReadonlySet<string>): Promise<string | undefined> {
  const all = await legacySessions(agent, home);
  const rest = listed ? all.filter((s) => !listed.has(s.sessionId)) : all;
  const n = rest.length;
  if (n === 0) return undefined;
  const where = `${n === 1 ? 'is' : 'are'} in ${legacyTranscriptDir(agent, home)}, from before moat kept workspaces apart`;
  if (!listed) return `${n} conversation${n === 1 ? '' : 's'} ${where}: moat ${agent} sessions --all lists ${n === 1 ? 'it' : 'them'}.`;
  const ids = rest
    .slice(0, 5)
    .map((s) => s.sessionId)
    .join(', ');
  return `${n} conversation${n === 1 ? '' : 's'} of no listed run ${where}: ${ids}${n > 5 ? ', …' : ''} (newest first).`;
}
