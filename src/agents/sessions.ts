/**
 * Agent conversations on the host: which transcript files a workspace's folder holds, which runs they belong
 * to, and what `--resume` / `--continue` resolve to. Everything here only reads. (Where the folders are:
 * transcripts.ts.)
 */
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { RunMetadata } from '../store/types.js';
import type { AgentName } from './types.js';

/** One conversation on disk. Times in milliseconds since the epoch. */
export interface SessionFile {
  sessionId: string;
  file: string;
  /** When the conversation began (its first timestamp, else the file name's, else its mtime). */
  startedAt: number;
  /** The file's mtime. */
  lastActivity: number;
  /** It is in the folder every workspace shared before transcripts were kept per workspace. */
  legacy?: boolean;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CLAUDE_FILE_RE = new RegExp(`^(${UUID})\\.jsonl$`, 'i');
const CODEX_FILE_RE = new RegExp(`^rollout-(\\d{4}-\\d{2}-\\d{2})T(\\d{2})-(\\d{2})-(\\d{2})-(${UUID})\\.jsonl$`, 'i');

/**
 * The start of a transcript (up to 64 KiB) and its mtime. The folder is the container's to write, and this
 * may run as root: only a regular file is read, never through a symlink (O_NOFOLLOW) and never blocking on
 * a FIFO or device swapped in after the check (O_NONBLOCK, then the opened file itself is checked).
 */
async function readHead(file: string): Promise<{ text: string; mtimeMs: number } | undefined> {
  try {
    const seen = await lstat(file);
    if (!seen.isFile()) return undefined;
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const s = await fh.stat();
      if (!s.isFile() || s.ino !== seen.ino || s.dev !== seen.dev) return undefined;
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return { text: buf.subarray(0, bytesRead).toString('utf8'), mtimeMs: s.mtimeMs };
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** The first `timestamp` in the first few lines of a JSONL text (Codex keeps it in `payload` too). */
function firstTimestamp(text: string): number | undefined {
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

/** A folder's regular files, or its real folders (never a symlink to one), sorted by name. */
async function entries(dir: string, kind: 'file' | 'dir'): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => (kind === 'file' ? e.isFile() : e.isDirectory()))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

async function sessionFile(file: string, sessionId: string, nameTime: number | undefined): Promise<SessionFile | undefined> {
  const head = await readHead(file);
  if (!head) return undefined;
  return { sessionId, file, startedAt: firstTimestamp(head.text) ?? nameTime ?? head.mtimeMs, lastActivity: head.mtimeMs };
}

/** Reads `jobs` a few at a time: a folder with a great many files must not exhaust file descriptors. */
async function inBatches<T>(jobs: ReadonlyArray<() => Promise<T>>, size = 32): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += size) out.push(...(await Promise.all(jobs.slice(i, i + size).map((j) => j()))));
  return out;
}

const newestFirst = (a: SessionFile, b: SessionFile): number => b.lastActivity - a.lastActivity;

/** Claude Code's conversations of one project folder: `<dir>/<session id>.jsonl`. */
export async function claudeSessions(dir: string): Promise<SessionFile[]> {
  const found = await inBatches(
    (await entries(dir, 'file')).map((name) => () => {
      const m = CLAUDE_FILE_RE.exec(name);
      return m?.[1] ? sessionFile(join(dir, name), m[1].toLowerCase(), undefined) : Promise.resolve(undefined);
    }),
  );
  return found.filter((s): s is SessionFile => s !== undefined).sort(newestFirst);
}

/** Codex's conversations: `<dir>/YYYY/MM/DD/rollout-YYYY-MM-DDTHH-MM-SS-<session id>.jsonl`. */
export async function codexSessions(dir: string): Promise<SessionFile[]> {
  const files: Array<() => Promise<SessionFile | undefined>> = [];
  for (const y of (await entries(dir, 'dir')).filter((d) => /^\d{4}$/.test(d))) {
    for (const m of (await entries(join(dir, y), 'dir')).filter((d) => /^\d{2}$/.test(d))) {
      for (const d of (await entries(join(dir, y, m), 'dir')).filter((x) => /^\d{2}$/.test(x))) {
        for (const name of await entries(join(dir, y, m, d), 'file')) {
          const r = CODEX_FILE_RE.exec(name);
          const id = r?.[5];
          if (!r || !id) continue;
          const t = Date.parse(`${r[1] ?? ''}T${r[2] ?? ''}:${r[3] ?? ''}:${r[4] ?? ''}Z`);
          files.push(() => sessionFile(join(dir, y, m, d, name), id.toLowerCase(), Number.isNaN(t) ? undefined : t));
        }
      }
    }
  }
  return (await inBatches(files)).filter((s): s is SessionFile => s !== undefined).sort(newestFirst);
}

/** The conversations in one folder of the agent's, newest first (`legacy` marks them as the old shared folder's). */
export async function listSessions(agent: AgentName, dir: string, legacy = false): Promise<SessionFile[]> {
  const found = agent === 'claude' ? await claudeSessions(dir) : await codexSessions(dir);
  return legacy ? found.map((s) => ({ ...s, legacy: true })) : found;
}

/** Whether a run was an agent's: recorded on the run, or (older runs) recognisable from its command. */
export function isAgentRun(run: RunMetadata, agent: AgentName): boolean {
  if (run.agent) return run.agent === agent;
  return run.command[0] === '/bin/sh' && run.command[3] === `moat-${agent}`;
}

const UUID_ONLY = new RegExp(`^${UUID}$`, 'i');

/**
 * The conversations a run named on its command line (kept in its metadata): the id moat chose for a new
 * Claude Code conversation (`--session-id`), or the one it resumed (`claude --resume ID`, `codex resume ID`).
 * Claude's options are read up to `-p`, whose prompt could look like anything.
 */
export function recordedSessionIds(run: RunMetadata): string[] {
  const argv = run.command[0] === '/bin/sh' ? run.command.slice(4) : [];
  const ids: string[] = [];
  const add = (v: string | undefined): void => {
    if (v !== undefined && UUID_ONLY.test(v)) ids.push(v.toLowerCase());
  };
  if (argv[0] === 'claude') {
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i] ?? '';
      if (a === '-p' || a === '--print' || a === '--') break;
      if (a === '--session-id' || a === '--resume' || a === '-r') add(argv[i + 1]);
      else if (a.startsWith('--session-id=') || a.startsWith('--resume=')) add(a.slice(a.indexOf('=') + 1));
    }
  } else if (argv[0] === 'codex' && argv[1] === '--no-daemon' && argv[2] === 'resume') {
    add(argv[3]);
  }
  return ids;
}

/** Clock slack between the host (run record) and the container (transcript timestamps). */
const SLACK_MS = 5_000;

/**
 * The conversations a run took part in, newest first: those it named (recordedSessionIds), and those begun
 * or last written while it was alive that no other run named (`others`). Within one workspace's folder
 * only that workspace's runs compete for a conversation.
 */
export function sessionsOfRun(run: RunMetadata, sessions: readonly SessionFile[], now = Date.now(), others: ReadonlySet<string> = new Set()): SessionFile[] {
  const own = new Set(recordedSessionIds(run));
  const from = Date.parse(run.startedAt ?? run.createdAt) - SLACK_MS;
  const to = (run.stoppedAt ? Date.parse(run.stoppedAt) : now) + SLACK_MS;
  const inside = (t: number): boolean => t >= from && t <= to;
  return sessions.filter((s) => own.has(s.sessionId) || (!others.has(s.sessionId) && (inside(s.startedAt) || inside(s.lastActivity))));
}

/** The conversation ids the other runs named, for sessionsOfRun. */
export function namedByOthers(run: RunMetadata, runs: readonly RunMetadata[]): Set<string> {
  return new Set(runs.filter((r) => r.id !== run.id).flatMap(recordedSessionIds));
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
  /** Its conversations are in the folder every workspace shared before (`--all` only). */
  legacy?: true;
}

/**
 * The agent's runs (of `workspace`, or all when undefined) with their conversations, newest first.
 * `candidates` gives the conversations a run may have had: those of its workspace's folder.
 */
export function sessionRows(
  agent: AgentName,
  runs: readonly RunMetadata[],
  candidates: (run: RunMetadata) => readonly SessionFile[],
  workspace: string | undefined,
  now = Date.now(),
): AgentSessionRow[] {
  const agentRuns = runs.filter((r) => isAgentRun(r, agent));
  const rows = agentRuns
    .filter((r) => workspace === undefined || r.workspace === workspace)
    .map((r) => {
      const mine = sessionsOfRun(r, candidates(r), now, namedByOthers(r, agentRuns));
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
        ...(mine.some((s) => s.legacy) ? { legacy: true as const } : {}),
      };
      return row;
    });
  return rows.sort((a, b) => b.lastActivity.localeCompare(a.lastActivity) || b.createdAt.localeCompare(a.createdAt));
}

/** The conversation ids of `sessions` that `ref` names: the id itself, or (8+ characters) those it starts. */
export function matchSessionId(ref: string, sessions: readonly SessionFile[]): string[] {
  const lower = ref.trim().toLowerCase();
  if (sessions.some((s) => s.sessionId === lower)) return [lower];
  if (lower.length < 8) return [];
  return [...new Set(sessions.filter((s) => s.sessionId.startsWith(lower)).map((s) => s.sessionId))];
}

/** Whether `ref` can only be a conversation id (a whole UUID). */
export function isSessionId(ref: string): boolean {
  return UUID_ONLY.test(ref.trim());
}

/** A MoatError for a prefix that names several conversations. */
export function ambiguousSession(ref: string, ids: readonly string[], title: string): MoatError {
  return new MoatError(`"${ref}" is the start of ${ids.length} ${title} conversations: ${ids.join(', ')}.`, {
    code: 'E_AMBIGUOUS',
    hint: 'Type more of the session id.',
  });
}
