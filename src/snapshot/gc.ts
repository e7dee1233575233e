/**
 * Remove what no snapshot references: after `moat destroy`, `moat clean` and `moat snapshot prune`. A
 * manifest is live while a run's records name it, or while it is the last snapshot of a workspace that
 * still exists (the next snapshot of that workspace reuses its hashes without reading the files again, or
 * the manifest itself when nothing changed: collecting its objects would leave that snapshot naming
 * contents the store no longer holds); an object while a live manifest names it. Objects and temp files
 * younger than `graceMs` stay (a snapshot being taken right now has not recorded them yet).
 */
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonIfExists } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import { RUN_ID_RE } from '../store/names.js';
import { FANOUT_TMP, HASH_RE } from './objects.js';
import { readManifest } from './manifest.js';
import { collectPacks } from './pack-gc.js';
import { readRunSnapshots, snapshotsRoot } from './refs.js';
import { objectStore } from './service.js';

export interface GcReport {
  objects: number;
  bytes: number;
  /** Unreferenced bytes left inside packs that are still mostly in use (pack-gc.ts), when there are any. */
  leftInPacks?: number;
  /** Live manifests present but unreadable: nothing was collected (their objects are not known). */
  unreadable?: number;
}

export async function liveManifests(home: MoatHome): Promise<Set<string>> {
  const ids = (await readdir(home.runsDir).catch(() => [] as string[])).filter((d) => RUN_ID_RE.test(d));
  const live = new Set<string>();
  for (const id of ids) for (const r of (await readRunSnapshots(home, id))?.records ?? []) live.add(r.manifest);
  return live;
}

/**
 * The workspaces' last-snapshot pointers (`snapshots/workspaces/*.json`): the manifest each names, and the
 * pointer files that name nothing usable (torn, or their workspace is gone), which can be removed.
 */
async function workspacePointers(home: MoatHome): Promise<{ manifests: Set<string>; stale: string[] }> {
  const wsDir = join(snapshotsRoot(home), 'workspaces');
  const manifests = new Set<string>();
  const stale: string[] = [];
  for (const f of await readdir(wsDir).catch(() => [] as string[])) {
    const p = await readJsonIfExists<{ workspace?: unknown; manifest?: unknown }>(join(wsDir, f)).catch(() => undefined);
    const ok = typeof p?.workspace === 'string' && typeof p.manifest === 'string' && HASH_RE.test(p.manifest);
    // A workspace that is gone cannot be snapshotted against its pointer (the walk cannot open it).
    if (
      ok &&
      (await lstat(p.workspace as string).then(
        (st) => st.isDirectory(),
        () => false,
      ))
    )
      manifests.add(p.manifest as string);
    else stale.push(join(wsDir, f));
  }
  return { manifests, stale };
}

export async function collectGarbage(
  home: MoatHome,
  o: { dryRun?: boolean; graceMs?: number; now?: number; /** Rewrite every pack holding an unreferenced object (pack-gc.ts). */ compact?: boolean } = {},
): Promise<GcReport> {
  const store = objectStore(home);
  // Pointers first: a snapshot that replaces one meanwhile reuses the hashes of the manifest read here (kept)
  // or of a younger one (spared by the grace time).
  const pointers = await workspacePointers(home);
  const manifests = new Set([...(await liveManifests(home)), ...pointers.manifests]);
  const live = new Set(manifests);
  let unreadable = 0;
  for (const h of manifests) {
    const m = await readManifest(store, h).catch(() => undefined);
    // Present but unreadable (torn, or a path the reader refuses): what it names is unknown, so nothing
    // may go. A manifest no longer in the store names nothing that can be read back anyway.
    if (!m && (await store.has(h))) unreadable++;
    for (const e of m?.entries ?? []) if (e.hash) live.add(e.hash);
  }
  if (unreadable > 0) return { objects: 0, bytes: 0, unreadable };
  const before = (o.now ?? Date.now()) - (o.graceMs ?? 10 * 60_000);
  const report: GcReport = { objects: 0, bytes: 0 };
  for (const d of await readdir(store.objectsDir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of await readdir(join(store.objectsDir, d)).catch(() => [] as string[])) {
      if (f.startsWith(FANOUT_TMP)) {
        // A temp file a snapshot left (it was stopped between write and rename), once old enough.
        const st = await stat(join(store.objectsDir, d, f)).catch(() => undefined);
        if (!o.dryRun && st && st.mtimeMs <= before) await rm(join(store.objectsDir, d, f), { force: true });
        continue;
      }
      const hash = d + f;
      if (!HASH_RE.test(hash) || live.has(hash)) continue;
      const st = await stat(join(store.objectsDir, d, f)).catch(() => undefined);
      if (!st || st.mtimeMs > before) continue;
      report.objects++;
      report.bytes += st.size;
      if (!o.dryRun) await rm(join(store.objectsDir, d, f), { force: true });
    }
  }
  const packed = await collectPacks(store.packsDir, live, before, o.dryRun === true, o.compact === true);
  report.objects += packed.objects;
  report.bytes += packed.bytes;
  if (packed.left.bytes > 0) report.leftInPacks = packed.left.bytes;
  if (!o.dryRun) {
    for (const f of await readdir(store.tmpDir).catch(() => [] as string[])) {
      const st = await stat(join(store.tmpDir, f)).catch(() => undefined);
      if (st && st.mtimeMs <= before) await rm(join(store.tmpDir, f), { force: true });
    }
    for (const f of pointers.stale) await rm(f, { force: true });
  }
  return report;
}
