/**
 * The workspace's moat.yaml is inside the workspace, which every run mounts read-write: an agent can edit
 * it (or write one in a subfolder), and the next run there would obey. The settings that widen what a run
 * can reach — host mounts (by their real paths), grants, what the image build runs (base image,
 * dependencies), the network policy, the agent plugins and folders shared from the host — are therefore
 * approved per workspace, like direnv's `allow`: the first time a moat.yaml with such settings is seen,
 * and whenever they change, the user is shown a summary and asked (on a terminal), or the run is refused
 * until the user approves with --approve-config. A moat.yaml with only in-container settings (env, MCP
 * servers, resources) needs no approval. Approvals are keyed by the workspace's real path.
 */
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { atomicWriteJson, readJsonIfExists } from '../home/fs.js';
import { migrateSettings, reachesBeyondDefaults, type GuardedSettings } from './trust-settings.js';
import { diffSettings, displayText, summaryLines, type SettingChange } from './trust-summary.js';

export interface ConfigGuard {
  /** The config file read (undefined: the workspace has none). */
  file?: string;
  settings: GuardedSettings;
}

/** `version` 2: settings in trust-settings.ts's shape; without it, an older record (migrated when read). */
interface TrustRecord {
  version?: 2;
  workspace: string;
  settings: GuardedSettings;
  approvedAt: string;
}

function recordPath(home: MoatHome, workspace: string): string {
  return join(home.root, 'trust', `${createHash('sha256').update(workspace).digest('hex').slice(0, 32)}.json`);
}

export interface Approved {
  /** The workspace's real path (what approvals are keyed by). */
  realWorkspace: string;
  /** The approved settings; undefined when nothing was ever approved here. */
  settings: GuardedSettings | undefined;
  /** The record predates the current format (it is rewritten when the settings are unchanged). */
  migrated: boolean;
}

/** The approved settings of a workspace, in today's shape (an older record, keyed by the path as typed, is migrated). */
export async function approvedSettings(home: MoatHome, workspace: string, homeDir: string = homedir()): Promise<Approved> {
  const realWorkspace = await realpath(workspace).catch(() => workspace);
  for (const key of new Set([realWorkspace, workspace])) {
    const record = await readJsonIfExists<TrustRecord>(recordPath(home, key));
    if (!record || typeof record.settings !== 'object' || record.settings === null) continue;
    if (record.version === 2 && key === realWorkspace) return { realWorkspace, settings: record.settings, migrated: false };
    return { realWorkspace, settings: migrateSettings(record.settings, record.workspace, realWorkspace, homeDir), migrated: true };
  }
  return { realWorkspace, settings: undefined, migrated: false };
}

/** The pending changes of a workspace against its approval: what a run there would ask about. */
export async function pendingChanges(
  home: MoatHome,
  workspace: string,
  guard: ConfigGuard,
  homeDir: string = homedir(),
): Promise<{ approved: Approved; changes: SettingChange[] }> {
  const approved = await approvedSettings(home, workspace, homeDir);
  if (approved.settings === undefined && !reachesBeyondDefaults(guard.settings)) return { approved, changes: [] };
  return { approved, changes: diffSettings(approved.settings, guard.settings, { homeDir }) };
}

export interface TrustOptions {
  /** --approve-config: accept the current settings without asking. */
  approve: boolean;
  /** Asks the user (only when there is a terminal); undefined: nobody to ask. */
  confirm?: (question: string, details: string) => Promise<boolean>;
  now?: Date;
  /** The host user's home, shown as "~" (defaults to os.homedir()). */
  homeDir?: string;
}

const andList = (xs: readonly string[]): string => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1) ?? ''}`);

/** The first line of the question or refusal: what is being asked for, and why it needs a person. */
function headline(file: string, ws: string, firstSight: boolean, changes: readonly SettingChange[]): string {
  const onlyRedirects = changes.length === 1 && changes[0]?.key === 'mounts' && changes[0].added.length === 0 && changes[0].removed.length === 0;
  if (onlyRedirects)
    return `A mount source in ${file} now resolves to another host path than the one approved in ${ws} (a run can replace a folder on the way with a symbolic link):`;
  const what = andList(changes.map((c) => c.key));
  if (firstSight) return `${file} in ${ws} sets ${what}, which reach beyond the container, and nobody has approved them here yet:`;
  return `${file} changed ${what} since the last run in ${ws}, and an agent in a run can edit that file:`;
}

/**
 * Refuses a run whose guarded settings are not the ones approved for this workspace, unless the user
 * approves now (--approve-config, or yes on the terminal). A moat.yaml without guarded settings is
 * recorded as it is, so one an agent adds later is a change too.
 */
export async function checkConfigTrust(home: MoatHome, workspace: string, guard: ConfigGuard, opts: TrustOptions): Promise<void> {
  const homeDir = opts.homeDir ?? homedir();
  const { approved, changes } = await pendingChanges(home, workspace, guard, homeDir);
  const { realWorkspace } = approved;
  const save = (): Promise<void> =>
    atomicWriteJson(recordPath(home, realWorkspace), {
      version: 2,
      workspace: realWorkspace,
      settings: guard.settings,
      approvedAt: (opts.now ?? new Date()).toISOString(),
    } satisfies TrustRecord);
  if (changes.length === 0) {
    if (approved.settings === undefined || approved.migrated) await save();
    return;
  }
  if (opts.approve) return save();
  const file = guard.file ?? 'moat.yaml';
  const ws = displayText(realWorkspace, 200);
  const summary = summaryLines(changes, { homeDir });
  const details = [
    headline(file, ws, approved.settings === undefined, changes),
    ...summary.lines.map((l) => `  ${l}`),
    ...(summary.folded ? [`  (moat trust show ${ws} lists every entry)`] : []),
  ].join('\n');
  const what = andList(changes.map((c) => c.key));
  if (opts.confirm) {
    if (await opts.confirm('Run with these settings?', details)) return save();
    throw new MoatError(`Not started: the ${what} in ${file} ${changes.length === 1 ? 'was' : 'were'} not approved.`, {
      code: 'E_NOT_APPROVED',
      hint: `Review ${file}; to accept it, run again and answer yes, or add --approve-config.`,
    });
  }
  throw new MoatError(details, { code: 'E_NOT_APPROVED', hint: `Review them (moat trust show ${ws}), then run again with --approve-config to accept them.` });
}
