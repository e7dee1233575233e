/**
 * Where each workspace's agent transcripts live on the host, and the run's mount for them. Every
 * workspace gets its own folder, so an agent in one workspace never sees another's conversations:
 *
 * - Claude Code: `$MOAT_HOME/claude/projects/<key>`, or with `claude.sync_logs: true` the folder the
 *   host's own Claude Code uses for the workspace (`~/.claude/projects/<Claude's name>`), mounted at
 *   `/home/moat/.claude/projects/-workspace` (Claude Code's folder for the cwd /workspace).
 * - Codex: `$MOAT_HOME/codex/workspaces/<key>/sessions`, mounted at `/home/moat/.codex/sessions`. With
 *   `codex.sync_logs: true` the user's own `~/.codex/sessions`, which Codex keeps as one dated tree for every
 *   project and so cannot be split: it stays shared (and moat says so once per workspace).
 *
 * Before this layout every workspace shared `$MOAT_HOME/claude/projects/-workspace` and
 * `$MOAT_HOME/codex/sessions`; those "legacy" folders are only ever read.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, realpath, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import type { Mount } from '../runtime/types.js';
import type { AgentName } from './types.js';

/** Where the agent keeps the workspace's transcripts inside the container. */
const CONTAINER_TRANSCRIPTS: Readonly<Record<AgentName, string>> = {
  claude: '/home/moat/.claude/projects/-workspace',
  codex: '/home/moat/.codex/sessions',
};

/** Claude Code shortens a longer folder name and appends a hash of the path. */
const CLAUDE_NAME_MAX = 200;

/** Claude Code's 32-bit string hash of a path (for names past 200 characters). */
function claudePathHash(path: string): string {
  let h = 0;
  for (let i = 0; i < path.length; i++) h = ((h << 5) - h + path.charCodeAt(i)) | 0;
  return Math.abs(h).toString(36);
}

/**
 * The folder name Claude Code gives a project path under `~/.claude/projects` (as Claude Code 2.1.331
 * does it): the path in NFC with every UTF-16 unit other than an ASCII letter or digit replaced by `-`,
 * cut at 200 characters plus `-<hash>` when longer. Lossy: `/a-b`, `/a/b` and `/a_b` share `-a-b`.
 */
export function claudeProjectName(path: string): string {
  const p = path.normalize('NFC');
  const name = p.replace(/[^a-zA-Z0-9]/g, '-');
  return name.length <= CLAUDE_NAME_MAX ? name : `${name.slice(0, CLAUDE_NAME_MAX)}-${claudePathHash(p)}`;
}

/**
 * moat's own folder name for a workspace: Claude Code's name for it (readable) plus the first 12 hex digits
 * of the SHA-256 of the exact path, so two different paths never share a folder (Claude's name alone is
 * lossy, and differs only by case on a case-insensitive disk).
 */
export function workspaceKey(path: string): string {
  const p = path.normalize('NFC');
  return `${claudeProjectName(p)}-${createHash('sha256').update(p).digest('hex').slice(0, 12)}`;
}

/** The workspace as the host's tools see it: symlinks resolved (as the kernel reports the cwd), in NFC. */
export async function canonicalWorkspace(workspace: string): Promise<string> {
  try {
    return (await realpath(workspace)).normalize('NFC');
  } catch {
    return resolve(workspace).normalize('NFC');
  }
}

export interface TranscriptFolder {
  agent: AgentName;
  /** The host folder mounted for this workspace. */
  dir: string;
  /** The folder also holds other conversations (Codex with sync_logs: the user's whole history). */
  shared: boolean;
  /** It is the user's own folder (`sync_logs: true`). */
  synced: boolean;
}

export interface UserDirs {
  /** The host user's home (defaults to the process's). */
  userHome?: string;
  /** For CLAUDE_CONFIG_DIR and CODEX_HOME. */
  env?: NodeJS.ProcessEnv;
}

/** The user's Claude Code configuration folder, as Claude Code finds it. */
function claudeConfigDir(dirs: UserDirs = {}): string {
  const set = dirs.env?.CLAUDE_CONFIG_DIR?.trim();
  return (set ? resolve(set) : join(dirs.userHome ?? homedir(), '.claude')).normalize('NFC');
}

/** The user's Codex home, as Codex finds it. */
function codexHomeDir(dirs: UserDirs = {}): string {
  const set = dirs.env?.CODEX_HOME?.trim();
  return set ? resolve(set) : join(dirs.userHome ?? homedir(), '.codex');
}

/** The folder under the moat home holding one workspace folder per key. */
function moatWorkspacesRoot(agent: AgentName, home: MoatHome): string {
  return agent === 'claude' ? join(home.root, 'claude', 'projects') : join(home.root, 'codex', 'workspaces');
}

/** A workspace's folder under the moat home. */
export function moatTranscriptDir(agent: AgentName, home: MoatHome, key: string): string {
  const root = moatWorkspacesRoot(agent, home);
  return agent === 'claude' ? join(root, key) : join(root, key, 'sessions');
}

/** The folder every workspace shared before transcripts were kept per workspace (read only). */
export function legacyTranscriptDir(agent: AgentName, home: MoatHome): string {
  return agent === 'claude' ? join(home.root, 'claude', 'projects', '-workspace') : join(home.root, 'codex', 'sessions');
}

/** The host folder for a workspace's transcripts (`canonical` from canonicalWorkspace). Creates nothing. */
export function transcriptFolder(agent: AgentName, canonical: string, home: MoatHome, syncLogs: boolean | undefined, dirs: UserDirs = {}): TranscriptFolder {
  if (!syncLogs) return { agent, dir: moatTranscriptDir(agent, home, workspaceKey(canonical)), shared: false, synced: false };
  if (agent === 'claude') {
    return { agent, dir: join(claudeConfigDir(dirs), 'projects', claudeProjectName(canonical)), shared: false, synced: true };
  }
  return { agent, dir: join(codexHomeDir(dirs), 'sessions'), shared: true, synced: true };
}

/** Every per-workspace folder under the moat home (not the legacy one), for `sessions --all`. */
export async function moatTranscriptDirs(agent: AgentName, home: MoatHome): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(moatWorkspacesRoot(agent, home), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  const legacy = legacyTranscriptDir(agent, home);
  return names
    .sort()
    .map((n) => moatTranscriptDir(agent, home, n))
    .filter((d) => d !== legacy);
}

/**
 * The run's mount for the workspace's transcripts; creates the host folder (0700) first. Its source is the
 * folder's real path (a linked ~/.claude or moat home resolved), as every mount source is checked to be
 * (container/sources.ts); named as is when it does not exist (--dry-run).
 */
export async function transcriptMount(folder: TranscriptFolder, create = true): Promise<Mount> {
  if (create) await mkdir(folder.dir, { recursive: true, mode: 0o700 });
  const source = await realpath(folder.dir).catch(() => folder.dir);
  return { source, target: CONTAINER_TRANSCRIPTS[folder.agent], readOnly: false };
}

/**
 * The one-time notice for a shared folder (Codex with sync_logs): the container can read the user's whole
 * Codex history. Returns the sentence the first time for this workspace, undefined afterwards.
 */
export async function sharedFolderNotice(folder: TranscriptFolder, canonical: string, home: MoatHome): Promise<string | undefined> {
  if (!folder.shared) return undefined;
  const marker = join(home.root, 'codex', 'shared-history-noticed', workspaceKey(canonical));
  try {
    await access(marker);
    return undefined;
  } catch {
    // not noticed yet
  }
  await mkdir(join(home.root, 'codex', 'shared-history-noticed'), { recursive: true, mode: 0o700 });
  await writeFile(marker, `${canonical}\n`, { mode: 0o600 });
  return (
    `codex.sync_logs: true mounts your whole ${folder.dir} (Codex keeps every project's conversations in one dated folder), ` +
    "so this workspace's Codex can read all of them; remove sync_logs from codex: in moat.yaml to keep this workspace's conversations apart."
  );
}
