/** Snapshots as the rest of moat uses them: take one of a workspace, record it on a run, read them back. */
import { relative, isAbsolute } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import type { SnapshotSettings } from './limits.js';
import { byPath, childrenByDir, readManifest, totals, type Entry, type Manifest, type NotStored } from './manifest.js';
import { ObjectStore } from './objects.js';
import { lastManifest, newSnapshotId, setLastManifest, snapshotsRoot, updateRunSnapshots, type SnapshotKind, type SnapshotRecord } from './refs.js';
import { MAX_IGNORE_FILE, takeSnapshot, type TakeResult } from './take.js';

export function objectStore(home: MoatHome): ObjectStore {
  return new ObjectStore(snapshotsRoot(home));
}

export interface WorkspaceSnapshotOptions {
  /** Take .gitignore rules from this manifest instead of the disk (the post-run snapshot: the pre-run's rules). */
  rulesFrom?: string;
  /** Manifests kept in memory (the daemon's): the previous one is taken from it instead of read and parsed. */
  cache?: ManifestCache;
}

/** A manifest the cache keeps: with its entries by path, and its weight (path characters). */
type KeptManifest = { hash: string; manifest: Manifest; byPath: Map<string, Entry>; children?: Map<string, string[]>; weight: number };

/**
 * The last manifest of each workspace, kept in memory by a long-lived process (the daemon), with its
 * entries by path: an unchanged re-snapshot is then a walk compared against memory. An entry is used only
 * when the workspace's pointer on disk still names its hash (another process may have taken one since).
 */
export class ManifestCache {
  private readonly byWorkspace = new Map<string, KeptManifest>();
  /**
   * At most this many entries and path characters in all (the least recently used workspaces are forgotten
   * first; a manifest larger than either alone is not kept): a run that writes long paths or raises
   * snapshots.max_files cannot make the daemon hold its manifest for good.
   */
  constructor(
    private readonly maxEntries = 400_000,
    private readonly maxPathChars = 40_000_000,
  ) {}

  get(workspace: string, hash: string): { manifest: Manifest; byPath: Map<string, Entry>; children?: Map<string, string[]> } | undefined {
    const hit = this.byWorkspace.get(workspace);
    return hit?.hash === hash ? hit : undefined;
  }

  set(workspace: string, hash: string, manifest: Manifest): void {
    const hit = this.byWorkspace.get(workspace);
    this.byWorkspace.delete(workspace); // most recent last
    const kept = hit?.hash === hash ? hit : this.entryOf(hash, manifest);
    if (!kept) return;
    this.byWorkspace.set(workspace, kept);
    let entries = 0;
    let chars = 0;
    for (const v of this.byWorkspace.values()) {
      entries += v.manifest.entries.length;
      chars += v.weight;
    }
    for (const [k, v] of this.byWorkspace) {
      if (entries <= this.maxEntries && chars <= this.maxPathChars) break;
      this.byWorkspace.delete(k);
      entries -= v.manifest.entries.length;
      chars -= v.weight;
    }
  }

  /** A manifest as kept (its entries by path, its weight); undefined when it alone is over the budget. */
  private entryOf(hash: string, manifest: Manifest): KeptManifest | undefined {
    // Each path, and its name once more: the per-folder name index the walk builds when it first needs it.
    let weight = 0;
    for (const e of manifest.entries) weight += e.path.length + (e.path.length - e.path.lastIndexOf('/') - 1);
    if (manifest.entries.length > this.maxEntries || weight > this.maxPathChars) return undefined;
    return { hash, manifest, byPath: byPath(manifest), weight };
  }
}

/** .gitignore texts as a manifest holds them, by folder. */
async function rulesOf(store: ObjectStore, manifest: Manifest): Promise<(dir: string) => Promise<string | undefined>> {
  const files = new Map<string, string>();
  for (const e of manifest.entries) {
    if (e.type !== 'file' || !e.hash || !(e.path === '.gitignore' || e.path.endsWith('/.gitignore'))) continue;
    // The walk that took this manifest applied no rules from a file over the limit: neither does a later one
    // (else a run could hide what it adds behind a rule the pre-run snapshot never applied).
    if (e.size > MAX_IGNORE_FILE) continue;
    files.set(e.path === '.gitignore' ? '' : e.path.slice(0, -'/.gitignore'.length), e.hash);
  }
  return async (dir) => {
    const hash = files.get(dir);
    return hash ? (await store.read(hash)).toString('utf8') : undefined;
  };
}

export async function snapshotWorkspace(home: MoatHome, workspace: string, settings: SnapshotSettings, o: WorkspaceSnapshotOptions = {}): Promise<TakeResult> {
  const store = objectStore(home);
  const prevHash = await lastManifest(home, workspace);
  const cached = prevHash ? o.cache?.get(workspace, prevHash) : undefined;
  const previous = cached?.manifest ?? (prevHash ? await readManifest(store, prevHash).catch(() => undefined) : undefined);
  const rulesManifest = o.rulesFrom ? (o.rulesFrom === prevHash ? previous : await readManifest(store, o.rulesFrom).catch(() => undefined)) : undefined;
  const inside = relative(workspace, home.root);
  const result = await takeSnapshot({
    workspace,
    store,
    limits: settings.limits,
    exclude: settings.exclude,
    ...(inside !== '' && !inside.startsWith('..') && !isAbsolute(inside) ? { excludeAbs: [home.root] } : {}),
    ...(previous && prevHash
      ? {
          previous,
          previousHash: prevHash,
          ...(cached ? { previousByPath: cached.byPath, previousChildren: (cached.children ??= childrenByDir(cached.manifest)) } : {}),
        }
      : {}),
    ...(rulesManifest ? { ignoreFrom: await rulesOf(store, rulesManifest) } : {}),
  });
  if (result.hash !== prevHash) await setLastManifest(home, workspace, result.hash);
  if (o.cache && result.manifest.entries.length > 0) o.cache.set(workspace, result.hash, result.manifest);
  return result;
}

/** What a run records of a snapshot (and what the daemon answers when it takes one for the CLI). */
export interface SnapshotSummary {
  hash: string;
  createdAt: string;
  files: number;
  bytes: number;
  read: number;
  added: number;
  /** The first few files recorded without their content, and how many in all. */
  unstored: Array<{ path: string; why: NotStored }>;
  unstoredCount: number;
}

const UNSTORED_NAMED = 3;
/** Each reason a file has no content, as the unstored note says it (every reason named: none falls to another's words). */
const UNSTORED_WHY: Record<NotStored, string> = { 'too-large': 'too large', 'over-budget': 'over the byte budget', unreadable: 'could not be read' };

export function summaryOf(r: TakeResult | SnapshotSummary): SnapshotSummary {
  if (!('manifest' in r)) return r;
  const t = totals(r.manifest);
  return {
    hash: r.hash,
    createdAt: r.manifest.createdAt,
    files: t.files,
    bytes: t.bytes,
    read: r.read,
    added: r.added,
    unstored: r.unstored.slice(0, UNSTORED_NAMED).map((e) => ({ path: e.path, why: e.why ?? 'too-large' })),
    unstoredCount: r.unstored.length,
  };
}

export function recordOf(kind: SnapshotKind, taken: TakeResult | SnapshotSummary, label?: string): SnapshotRecord {
  const r = summaryOf(taken);
  return {
    id: newSnapshotId(),
    kind,
    manifest: r.hash,
    createdAt: r.createdAt,
    ...(label ? { label } : {}),
    files: r.files,
    bytes: r.bytes,
    added: r.added,
    unstored: r.unstoredCount,
  };
}

/** Add a snapshot to a run's records (creating them with the run's settings). */
export async function addRecord(home: MoatHome, runId: string, settings: SnapshotSettings, rec: SnapshotRecord): Promise<void> {
  await updateRunSnapshots(home, runId, (cur) => ({ ...(cur ?? { settings }), records: [...(cur?.records ?? []), rec] }));
}

export async function recordFailure(home: MoatHome, runId: string, settings: SnapshotSettings, kind: SnapshotKind, message: string): Promise<void> {
  await updateRunSnapshots(home, runId, (cur) => ({ ...(cur ?? { settings, records: [] }), failed: { kind, message } }));
}

/** The first few of `total` files left without content, each with why: `big.bin (too large), …`. */
export function unstoredNames(entries: ReadonlyArray<{ path: string; why: NotStored }>, total = entries.length): string {
  const named = entries
    .slice(0, UNSTORED_NAMED)
    .map((e) => `${e.path} (${UNSTORED_WHY[e.why]})`)
    .join(', ');
  return `${named}${total > UNSTORED_NAMED ? ', …' : ''}`;
}

/** A one-line account of files left without content (too large, over the budget), naming the first few. */
export function unstoredNote(taken: TakeResult | SnapshotSummary): string | undefined {
  const r = summaryOf(taken);
  if (r.unstoredCount === 0) return undefined;
  return `the snapshot records ${r.unstoredCount} file(s) by size and time only, without their content: ${unstoredNames(r.unstored, r.unstoredCount)}; rollback cannot restore them.`;
}
