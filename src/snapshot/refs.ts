/**
 * Which snapshots exist: each run's records (`runs/<id>/snapshots.json`: the settings it was taken with and
 * its snapshots, pre, post, manual, safety), and per workspace the last manifest taken (the stat cache of
 * the next snapshot). A manifest (and the objects it names) is kept while some run's record names it, or
 * while it is the last of a workspace that still exists (gc.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { atomicWriteJson, readJsonIfExists, withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import type { SnapshotSettings } from './limits.js';
import { sha256 } from './objects.js';

export type SnapshotKind = 'pre' | 'post' | 'manual' | 'safety';

export interface SnapshotRecord {
  id: string;
  kind: SnapshotKind;
  manifest: string;
  createdAt: string;
  label?: string;
  files: number;
  bytes: number;
  /** Bytes this snapshot added to the store. */
  added: number;
  /** Files recorded without their content (named by `moat snapshot list`). */
  unstored: number;
  /** In the run's audit log already (a manual or safety snapshot of a live run waits for the daemon). */
  audited?: boolean;
}

export interface RunSnapshots {
  settings: SnapshotSettings;
  records: SnapshotRecord[];
  /** The last snapshot that could not be taken, and why (said after the run). */
  failed?: { kind: SnapshotKind; message: string };
  /** When `moat snapshot prune` forgot its snapshots (a diff or rollback of it says so). */
  pruned?: string;
}

export const RUN_SNAPSHOTS_FILE = 'snapshots.json';

export function snapshotsRoot(home: MoatHome): string {
  return join(home.root, 'snapshots');
}

export function newSnapshotId(): string {
  return `snap_${randomBytes(5).toString('hex')}`;
}

function runFile(home: MoatHome, runId: string): string {
  return join(home.runDir(runId), RUN_SNAPSHOTS_FILE);
}

export async function readRunSnapshots(home: MoatHome, runId: string): Promise<RunSnapshots | undefined> {
  try {
    const r = await readJsonIfExists<RunSnapshots>(runFile(home, runId));
    return r && Array.isArray(r.records) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Read-modify-write a run's snapshot records under its lock. */
export async function updateRunSnapshots(home: MoatHome, runId: string, fn: (r: RunSnapshots | undefined) => RunSnapshots | undefined): Promise<void> {
  const file = runFile(home, runId);
  await withLock(file, async () => {
    const next = fn(await readRunSnapshots(home, runId));
    if (next) await atomicWriteJson(file, next);
  });
}

function cacheFile(home: MoatHome, workspace: string): string {
  return join(snapshotsRoot(home), 'workspaces', `${sha256(workspace).slice(0, 32)}.json`);
}

/** The manifest hash of the last snapshot of a workspace (the next one's stat cache). */
export async function lastManifest(home: MoatHome, workspace: string): Promise<string | undefined> {
  const r = await readJsonIfExists<{ workspace: string; manifest: string }>(cacheFile(home, workspace)).catch(() => undefined);
  return r?.workspace === workspace ? r.manifest : undefined;
}

export async function setLastManifest(home: MoatHome, workspace: string, manifest: string | undefined): Promise<void> {
  if (manifest === undefined) {
    await rm(cacheFile(home, workspace), { force: true });
    return;
  }
  // A cache, not a record: replaced atomically but not synced to disk (lost or torn by a crash, it names no
  // manifest, and the next snapshot reads every file again).
  const file = cacheFile(home, workspace);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(tmp, JSON.stringify({ workspace, manifest }), { mode: 0o600, flag: 'wx' });
  await rename(tmp, file).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}
