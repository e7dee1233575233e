/** Snapshots as the rest of moat uses them: take one of a workspace, record it on a run, read them back. */
import { relative, isAbsolute } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import type { SnapshotSettings } from './limits.js';
import { readManifest, totals, type Manifest } from './manifest.js';
import { ObjectStore } from './objects.js';
import { lastManifest, newSnapshotId, setLastManifest, snapshotsRoot, updateRunSnapshots, type SnapshotKind, type SnapshotRecord } from './refs.js';
import { takeSnapshot, type TakeResult } from './take.js';

export function objectStore(home: MoatHome): ObjectStore {
  return new ObjectStore(snapshotsRoot(home));
}

export interface WorkspaceSnapshotOptions {
  /** Take .gitignore rules from this manifest instead of the disk (the post-run snapshot: the pre-run's rules). */
  rulesFrom?: string;
}

/** .gitignore texts as a manifest holds them, by folder. */
async function rulesOf(store: ObjectStore, manifest: Manifest): Promise<(dir: string) => Promise<string | undefined>> {
  const files = new Map<string, string>();
  for (const e of manifest.entries) {
    if (e.type !== 'file' || !e.hash || !(e.path === '.gitignore' || e.path.endsWith('/.gitignore'))) continue;
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
  const previous = prevHash ? await readManifest(store, prevHash).catch(() => undefined) : undefined;
  const rulesManifest = o.rulesFrom ? (o.rulesFrom === prevHash ? previous : await readManifest(store, o.rulesFrom).catch(() => undefined)) : undefined;
  const inside = relative(workspace, home.root);
  const result = await takeSnapshot({
    workspace,
    store,
    limits: settings.limits,
    exclude: settings.exclude,
    ...(inside !== '' && !inside.startsWith('..') && !isAbsolute(inside) ? { excludeAbs: [home.root] } : {}),
    ...(previous && prevHash ? { previous, previousHash: prevHash } : {}),
    ...(rulesManifest ? { ignoreFrom: await rulesOf(store, rulesManifest) } : {}),
  });
  if (result.hash !== prevHash) await setLastManifest(home, workspace, result.hash);
  return result;
}

export function recordOf(kind: SnapshotKind, r: TakeResult, label?: string): SnapshotRecord {
  const t = totals(r.manifest);
  return {
    id: newSnapshotId(),
    kind,
    manifest: r.hash,
    createdAt: r.manifest.createdAt,
    ...(label ? { label } : {}),
    files: t.files,
    bytes: t.bytes,
    added: r.added,
    unstored: r.unstored.length,
  };
}

/** Add a snapshot to a run's records (creating them with the run's settings). */
export async function addRecord(home: MoatHome, runId: string, settings: SnapshotSettings, rec: SnapshotRecord): Promise<void> {
  await updateRunSnapshots(home, runId, (cur) => ({ ...(cur ?? { settings }), records: [...(cur?.records ?? []), rec] }));
}

export async function recordFailure(home: MoatHome, runId: string, settings: SnapshotSettings, kind: SnapshotKind, message: string): Promise<void> {
  await updateRunSnapshots(home, runId, (cur) => ({ ...(cur ?? { settings, records: [] }), failed: { kind, message } }));
}

/** A one-line account of files left without content (too large, over the budget), naming the first few. */
export function unstoredNote(r: TakeResult): string | undefined {
  if (r.unstored.length === 0) return undefined;
  const names = r.unstored
    .slice(0, 3)
    .map((e) => `${e.path} (${e.why === 'too-large' ? 'too large' : 'over the byte budget'})`)
    .join(', ');
  return `the snapshot records ${r.unstored.length} file(s) by size and time only, without their content: ${names}${r.unstored.length > 3 ? ', …' : ''}; rollback cannot restore them.`;
}
