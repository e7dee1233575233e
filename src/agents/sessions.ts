/**
 * Agent conversation state that outlives the container: where each agent's transcripts live on the host
 * (bind-mounted into every agent run), which transcript files exist, which runs they belong to, and what
 * `--resume` / `--continue` resolve to. Everything here only reads, except `transcriptMount`, which
 * creates the host directory.
 */
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import type { Mount } from '../runtime/types.js';
import type { RunMetadata } from '../run/types.js';
import type { AgentName } from './types.js';

interface TranscriptLayout {
  /** Under the moat home (the default). */
  moatDir: string;
  /** Under the user's own home (`<agent>.sync_logs: true`). */
  userDir: string;
  /** Where the agent keeps it inside the container. */
  containerDir: string;
}

export const TRANSCRIPTS: Readonly<Record<AgentName, TranscriptLayout>> = {
  claude: { moatDir: 'claude/projects', userDir: '.claude/projects', containerDir: '/home/moat/.claude/projects' },
  codex: { moatDir: 'codex/sessions', userDir: '.codex/sessions', containerDir: '/home/moat/.codex/sessions' },
};

/** Claude Code names a project's folder after its cwd with `/` replaced by `-`: /workspace → -workspace. */
export const CLAUDE_PROJECT_FOLDER = '-workspace';

/** The host directory holding the agent's transcripts. */
export function transcriptDir(agent: AgentName, home: MoatHome, syncLogs: boolean | undefined, userHome = homedir()): string {
  const t = TRANSCRIPTS[agent];
  return syncLogs ? join(userHome, t.userDir) : join(home.root, t.moatDir);
}

/** The run's mount for the agent's transcripts; creates the host directory (0700) first. */
export async function transcriptMount(agent: AgentName, hostDir: string): Promise<Mount> {
  await mkdir(hostDir, { recursive: true, mode: 0o700 });
  return { source: hostDir, target: TRANSCRIPTS[agent].containerDir, readOnly: false };
}

/** One conversation on disk. Times in milliseconds since the epoch. */
export interface SessionFile {
  sessionId: string;
  file: string;
  /** When the conversation began (its first timestamp, else the file name's, else its mtime). */
  startedAt: number;
  /** The file's mtime. */
  lastActivity: number;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CLAUDE_FILE_RE = new RegExp(`^(${UUID})\\.jsonl$`, 'i');
const CODEX_FILE_RE = new RegExp(`^rollout-(\\d{4}-\\d{2}-\\d{2})T(\\d{2})-(\\d{2})-(\\d{2})-(${UUID})\\.jsonl$`, 'i');

/** The first `timestamp` in the first few lines of a JSONL file (Codex keeps it in `payload` too). */
async function firstTimestamp(file: string): Promise<number | undefined> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(0, 20)) {
    try {
      const v = JSON.parse(line) as { timestamp?: unknown; payload?: { timestamp?: unknown } };
      for (const ts of [v.timestamp, v.payload?.timestamp]) {
        const t = typeof ts === 'string' ? Date.parse(ts) : NaN;
        if (!Number.isNaN(t)) return t;
      }
    } catch {
      // a partial last line, or not JSON
    }
  }
  return undefined;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function sessionFile(file: string, sessionId: string, nameTime: number | undefined): Promise<SessionFile | undefined> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return undefined;
    const startedAt = (await firstTimestamp(file)) ?? nameTime ?? s.mtimeMs;
    return { sessionId, file, startedAt, lastActivity: s.mtimeMs };
  } catch {
    return undefined;
  }
}

const newestFirst = (a: SessionFile, b: SessionFile): number => b.lastActivity - a.lastActivity;

/** Claude Code's conversations: `<dir>/-workspace/<session id>.jsonl`. */
export async function claudeSessions(dir: string): Promise<SessionFile[]> {
  const project = join(dir, CLAUDE_PROJECT_FOLDER);
  const found = await Promise.all((await entries(project)).map(async (name) => {
    const m = CLAUDE_FILE_RE.exec(name);
    return m?.[1] ? sessionFile(join(project, name), m[1].toLowerCase(), undefined) : undefined;
  }));
  return found.filter((s): s is SessionFile => s !== undefined).sort(newestFirst);
}

/** Codex's conversations: `<dir>/YYYY/MM/DD/rollout-YYYY-MM-DDTHH-MM-SS-<session id>.jsonl`. */
export async function codexSessions(dir: string): Promise<SessionFile[]> {
  const files: Array<Promise<SessionFile | undefined>> = [];
  for (const y of (await entries(dir)).filter((d) => /^\d{4}$/.test(d))) {
    for (const m of (await entries(join(dir, y))).filter((d) => /^\d{2}$/.test(d))) {
      for (const d of (await entries(join(dir, y, m))).filter((x) => /^\d{2}$/.test(x))) {
        for (const name of await entries(join(dir, y, m, d))) {
          const r = CODEX_FILE_RE.exec(name);
          if (!r?.[5]) continue;
          const t = Date.parse(`${r[1] ?? ''}T${r[2] ?? ''}:${r[3] ?? ''}:${r[4] ?? ''}Z`);
          files.push(sessionFile(join(dir, y, m, d, name), r[5].toLowerCase(), Number.isNaN(t) ? undefined : t));
        }
      }
    }
  }
  return (await Promise.all(files)).filter((s): s is SessionFile => s !== undefined).sort(newestFirst);
}

export function listSessions(agent: AgentName, dir: string): Promise<SessionFile[]> {
  return agent === 'claude' ? claudeSessions(dir) : codexSessions(dir);
}

/** Whether a run was an agent's: recorded on the run, or (older runs) recognisable from its command. */
export function isAgentRun(run: RunMetadata, agent: AgentName): boolean {
  if (run.agent) return run.agent === agent;
  return run.command[0] === '/bin/sh' && run.command[3] === `moat-${agent}`;
}

/** Clock slack between the host (run record) and the container (transcript timestamps). */
const SLACK_MS = 5_000;

/**
 * The conversations a run took part in: begun or last written while it was alive. (Every run of an agent
 * shares one transcript folder, since the workspace is always /workspace, so time is what tells them apart.)
 */
export function sessionsOfRun(run: RunMetadata, sessions: readonly SessionFile[], now = Date.now()): SessionFile[] {
  const from = Date.parse(run.startedAt ?? run.createdAt) - SLACK_MS;
  const to = (run.stoppedAt ? Date.parse(run.stoppedAt) : now) + SLACK_MS;
  const inside = (t: number): boolean => t >= from && t <= to;
  return sessions.filter((s) => inside(s.startedAt) || inside(s.lastActivity));
}

export interface AgentSessionRow {
  name: string;
  id: string;
  state: RunMetadata['state'];
  exitCode?: number;
  workspace: string;
  createdAt: string;
  /** ISO time: the newest transcript's mtime, else the run's stop or start. */
  lastActivity: string;
  /** The newest conversation's id, if the run left a transcript. */
  sessionId?: string;
  /** All of the run's conversation ids, newest first. */
  sessionIds: string[];
}

/** The agent's runs (of `workspace`, or all when undefined) with their conversations, newest first. */
export function sessionRows(agent: AgentName, runs: readonly RunMetadata[], sessions: readonly SessionFile[], workspace: string | undefined, now = Date.now()): AgentSessionRow[] {
  const rows = runs.filter((r) => isAgentRun(r, agent) && (workspace === undefined || r.workspace === workspace)).map((r) => {
    const mine = sessionsOfRun(r, sessions, now);
    const newest = mine[0];
    const fallback = r.stoppedAt ?? r.startedAt ?? r.createdAt;
    const row: AgentSessionRow = {
      name: r.name,
      id: r.id,
      state: r.state,
      ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
      workspace: r.workspace,
      createdAt: r.createdAt,
      lastActivity: newest ? new Date(newest.lastActivity).toISOString() : fallback,
      ...(newest ? { sessionId: newest.sessionId } : {}),
      sessionIds: mine.map((s) => s.sessionId),
    };
    return row;
  });
  return rows.sort((a, b) => b.lastActivity.localeCompare(a.lastActivity) || b.createdAt.localeCompare(a.createdAt));
}

/**
 * `--resume REF`: a conversation id (or a unique prefix of one, at least 8 characters) as it is, else a
 * run (id, id prefix or name, through `resolveRun`) as its newest conversation.
 */
export async function resolveResume(
  agent: AgentName,
  ref: string,
  sessions: readonly SessionFile[],
  resolveRun: (ref: string) => Promise<RunMetadata>,
  title: string,
): Promise<string> {
  const lower = ref.trim().toLowerCase();
  const exact = sessions.find((s) => s.sessionId === lower);
  if (exact) return exact.sessionId;
  if (lower.length >= 8) {
    const ids = [...new Set(sessions.filter((s) => s.sessionId.startsWith(lower)).map((s) => s.sessionId))];
    if (ids.length === 1 && ids[0]) return ids[0];
    if (ids.length > 1) {
      throw new MoatError(`"${ref}" is the start of ${ids.length} ${title} conversations: ${ids.join(', ')}.`, { hint: 'Type more of the session id.' });
    }
  }
  let run: RunMetadata;
  try {
    run = await resolveRun(ref);
  } catch (err) {
    if (new RegExp(`^${UUID}$`, 'i').test(lower)) {
      throw new MoatError(`There is no ${title} conversation ${ref} in the synced transcripts.`, { hint: `moat ${agent} sessions lists the ones there are.` });
    }
    if (err instanceof MoatError) {
      throw new MoatError(`"${ref}" is neither a ${title} session id nor a run: ${err.message}`, { hint: `moat ${agent} sessions lists runs and their session ids.` });
    }
    throw err;
  }
  if (!isAgentRun(run, agent)) {
    throw new MoatError(`The run ${run.name} (${run.id}) was not a ${title} run.`, { hint: `moat ${agent} sessions lists the ${title} runs.` });
  }
  const newest = sessionsOfRun(run, sessions)[0];
  if (!newest) {
    throw new MoatError(`The run ${run.name} (${run.id}) left no ${title} transcript to resume.`, {
      hint: `moat ${agent} sessions lists the runs that did; or start a new conversation with moat ${agent}.`,
    });
  }
  return newest.sessionId;
}

/** The newest conversation any of the agent's runs in `workspace` took part in. */
export function newestOfWorkspace(agent: AgentName, runs: readonly RunMetadata[], sessions: readonly SessionFile[], workspace: string, now = Date.now()): SessionFile | undefined {
  const mine = new Set(runs.filter((r) => isAgentRun(r, agent) && r.workspace === workspace).flatMap((r) => sessionsOfRun(r, sessions, now)));
  return sessions.find((s) => mine.has(s));
}
