/**
 * The settings of moat.yaml that reach beyond the container, as plain comparable data: what the user
 * approves per workspace (config-trust.ts) and what the approval summary shows (trust-summary.ts).
 * Mount sources are recorded as the real paths they resolved to (mount-sources.ts), so a symbolic link a
 * run plants on the way changes the setting even when the text of moat.yaml stays the same.
 */
import path from 'node:path';
import type { MoatConfig } from '../config/schema.js';
import type { Mount } from '../runtime/types.js';

/** One mount as approved: the text of moat.yaml and the real host path it resolved to (`source`, no symbolic link in it). */
export interface MountEntry extends Mount {
  /** The entry as written in moat.yaml, e.g. "./cfg/data:/data:ro". */
  spec: string;
  /** The source is written inside the workspace but resolves outside it. */
  outside?: boolean;
}

export type GuardedSettings = Record<string, unknown>;

/**
 * Every guarded setting, the most dangerous first (the order the approval summary uses): what the host
 * shares into the container, the credentials, what the image build runs, then the network policy.
 */
const GUARDED_KEYS = [
  'mounts',
  'grants',
  // Secrets send host data out: their sources and the hosts each may reach.
  'secrets',
  'base_image',
  'dependencies',
  'claude.version',
  'codex.version',
  'claude.plugins',
  'claude.marketplaces',
  'claude.host_plugins',
  'network.policy',
  'network.rules',
  'network.deny',
  // An inbound path: the host's browser reaches the run's servers at NAME.RUN.localhost.
  'ports',
  'claude.sync_logs',
  'codex.sync_logs',
  // A run's container stops at this many processes; an agent raising it could fork-bomb the host next run.
  'container.pids',
  // Raising the stored-output cap lets a run grow host storage further.
  'container.log_limit',
  // runc shares the host's kernel: a run writing `sandbox: runc` would take the next run out of gVisor.
  'sandbox',
] as const;

/** The settings of moat.yaml that reach beyond the container, by the name a user sees in the file. */
export function guardedSettings(raw: MoatConfig, mounts: readonly MountEntry[]): GuardedSettings {
  const picked: Record<(typeof GUARDED_KEYS)[number], unknown> = {
    mounts: mounts.map((m) => ({ spec: m.spec, source: m.source, target: m.target, readOnly: m.readOnly, ...(m.outside ? { outside: true } : {}) })),
    grants: raw.grants ?? [],
    secrets: raw.secrets ?? {},
    base_image: raw.base_image ?? null,
    dependencies: raw.dependencies ?? [],
    'claude.version': raw.claude?.version ?? null,
    'codex.version': raw.codex?.version ?? null,
    'claude.plugins': raw.claude?.plugins ?? {},
    'claude.marketplaces': raw.claude?.marketplaces ?? {},
    'claude.host_plugins': raw.claude?.host_plugins ?? true,
    'network.policy': raw.network?.policy ?? 'permissive',
    'network.rules': raw.network?.rules ?? [],
    'network.deny': raw.network?.deny ?? [],
    ports: raw.ports ?? {},
    'claude.sync_logs': raw.claude?.sync_logs ?? false,
    'codex.sync_logs': raw.codex?.sync_logs ?? false,
    'container.pids': raw.container?.pids ?? null,
    'container.log_limit': raw.container?.log_limit ?? null,
    // Only the weaker choice is guarded: gvisor (or nothing) is what a workspace gets without approval.
    sandbox: raw.sandbox === 'runc' ? 'runc' : null,
  };
  return JSON.parse(canonical(picked)) as GuardedSettings;
}

/** The guarded settings of a workspace without moat.yaml: nothing beyond the container. */
export const DEFAULT_SETTINGS: GuardedSettings = guardedSettings({}, []);

/** JSON with sorted keys, so equal settings always give the same text. */
export function canonical(value: unknown): string {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, walk((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return JSON.stringify(walk(value)) ?? 'null';
}

/** The guarded settings that differ, by name, in {@link GUARDED_KEYS} order (unknown keys last). */
export function changedSettings(before: GuardedSettings, after: GuardedSettings): string[] {
  const known: readonly string[] = GUARDED_KEYS;
  const keys = [...known, ...[...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !known.includes(k)).sort()];
  // A key a record lacks (guarded only since it was written) stands at its default, which needs no approval.
  const at = (s: GuardedSettings, k: string): string => canonical(s[k] ?? DEFAULT_SETTINGS[k] ?? null);
  return keys.filter((k) => at(before, k) !== at(after, k));
}

/** Settings beyond {@link DEFAULT_SETTINGS}: a moat.yaml with none needs no approval. */
export function reachesBeyondDefaults(settings: GuardedSettings): boolean {
  return changedSettings(DEFAULT_SETTINGS, settings).length > 0;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Settings recorded by an older Moat, in today's shape: `network` as one object becomes its three keys;
 * mounts recorded as text become entries whose source is the text resolved against the workspace as it
 * was then (rebased on the workspace's real path), so an unchanged mount without a symbolic link on the
 * way stays approved. Keys the old record lacks (base_image, dependencies, the agent versions and
 * claude.plugins) get their
 * defaults: they were never approved, so a value other than the default is shown once.
 */
export function migrateSettings(old: GuardedSettings, oldWorkspace: string, realWorkspace: string, homeDir: string): GuardedSettings {
  const out: GuardedSettings = { ...DEFAULT_SETTINGS, ...old };
  if ('network' in out) {
    const n = isRecord(out.network) ? out.network : {};
    delete out.network;
    out['network.policy'] = n.policy ?? 'permissive';
    out['network.rules'] = n.rules ?? [];
    out['network.deny'] = n.deny ?? [];
  }
  if (Array.isArray(out.mounts) && out.mounts.some((m) => typeof m === 'string')) {
    out.mounts = out.mounts.map((m) => {
      if (typeof m !== 'string') return m;
      const [src = '', target = '', mode] = m.split(':');
      let source = src === '~' ? homeDir : src.startsWith('~/') ? path.join(homeDir, src.slice(2)) : path.resolve(oldWorkspace, src);
      const rel = path.relative(oldWorkspace, source);
      if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) source = path.join(realWorkspace, rel);
      return { spec: m, source, target: path.posix.normalize(target), readOnly: mode === 'ro' };
    });
  }
  return JSON.parse(canonical(out)) as GuardedSettings;
}
