/**
 * The workspace's moat.yaml is inside the workspace, which every run mounts read-write: an agent can edit
 * it, and the next run would obey. The settings that widen what a run can reach — host mounts, grants, the
 * network policy, the agent folders and plugins shared from the host — are therefore approved per
 * workspace: the first run records them, and a later run whose settings differ asks first (on a
 * terminal) or refuses until the user approves with --approve-config. Everything else in moat.yaml
 * (dependencies, env, MCP servers, resources) stays inside the container and needs no approval.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { atomicWriteJson, readJsonIfExists } from '../home/fs.js';
import type { MoatConfig } from '../config/schema.js';

/** The settings of moat.yaml that reach beyond the container, by the name a user sees in the file. */
export function guardedSettings(raw: MoatConfig): Record<string, unknown> {
  const picked: Record<string, unknown> = {
    mounts: raw.mounts ?? [],
    grants: raw.grants ?? [],
    network: raw.network ?? {},
    'claude.sync_logs': raw.claude?.sync_logs ?? false,
    'claude.host_plugins': raw.claude?.host_plugins ?? true,
    'claude.marketplaces': raw.claude?.marketplaces ?? {},
    'codex.sync_logs': raw.codex?.sync_logs ?? false,
    // Only when set, so approvals given before the setting existed stay valid.
    ...(raw.container?.log_limit ? { 'container.log_limit': raw.container.log_limit } : {}),
  };
  return JSON.parse(canonical(picked)) as Record<string, unknown>;
}

/** JSON with sorted keys, so equal settings always give the same text. */
function canonical(value: unknown): string {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, walk((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(walk(value));
}

export interface ConfigGuard {
  /** The config file read (undefined: the workspace has none). */
  file?: string;
  settings: Record<string, unknown>;
}

interface TrustRecord {
  workspace: string;
  settings: Record<string, unknown>;
  approvedAt: string;
}

function recordPath(home: MoatHome, workspace: string): string {
  return join(home.root, 'trust', `${createHash('sha256').update(workspace).digest('hex').slice(0, 32)}.json`);
}

/** The guarded settings that differ from the approved ones, by name. */
export function changedSettings(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((k) => canonical(before[k] ?? null) !== canonical(after[k] ?? null));
}

export interface TrustOptions {
  /** --approve-config: accept the current settings without asking. */
  approve: boolean;
  /** Asks the user (only when there is a terminal); undefined: nobody to ask. */
  confirm?: (question: string, details: string) => Promise<boolean>;
  now?: Date;
}

/**
 * Refuses a run whose guarded settings changed since this workspace's last approved run, unless the user
 * approves now. The first run of a workspace records what it finds (a workspace without moat.yaml records
 * that there is none, so a file an agent creates later is a change too).
 */
export async function checkConfigTrust(home: MoatHome, workspace: string, guard: ConfigGuard, opts: TrustOptions): Promise<void> {
  const path = recordPath(home, workspace);
  const record = await readJsonIfExists<TrustRecord>(path);
  const save = (): Promise<void> => atomicWriteJson(path, { workspace, settings: guard.settings, approvedAt: (opts.now ?? new Date()).toISOString() } satisfies TrustRecord);
  if (!record) return save();
  const changed = changedSettings(record.settings, guard.settings);
  if (changed.length === 0) return;
  if (opts.approve) return save();
  const file = guard.file ?? 'moat.yaml';
  const what = changed.length === 1 ? changed[0] : `${changed.slice(0, -1).join(', ')} and ${changed.at(-1) ?? ''}`;
  if (opts.confirm) {
    const details = [
      `${file} changed ${what} since the last run here (an agent in a run can edit this file):`,
      ...changed.map((k) => `  ${k}: ${canonical(record.settings[k] ?? null)} -> ${canonical(guard.settings[k] ?? null)}`),
    ].join('\n');
    if (await opts.confirm('Run with the new settings?', details)) return save();
    throw new MoatError(`Not started: the changed ${what} in ${file} ${changed.length === 1 ? 'was' : 'were'} not approved.`, { hint: `Review ${file}; to accept it, run again and answer yes, or add --approve-config.` });
  }
  throw new MoatError(`${file} changed ${what} since the last run in ${workspace}, and an agent in a run can edit that file.`, {
    hint: `Review ${file}, then run again with --approve-config to accept it.`,
  });
}
