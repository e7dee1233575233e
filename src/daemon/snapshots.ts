/**
 * The daemon's part in a run's snapshots: the pre-run snapshot (taken by the CLI) enters the run's audit
 * log when the daemon opens it, and the post-run snapshot is taken when the run's exit is recorded, with
 * the pre-run snapshot's .gitignore rules (a run cannot hide a change by writing one), on every path.
 */
import type { MoatHome } from '../home/paths.js';
import { readRunSnapshots, updateRunSnapshots } from '../snapshot/refs.js';
import { addRecord, recordFailure, recordOf, snapshotWorkspace } from '../snapshot/service.js';
import type { RunMetadata } from '../store/types.js';
import type { AuditSink } from './audit-sink.js';
import { daemonManifests, prewalksOf } from './snapshot-api.js';
import { inTurn } from './walk-turns.js';

export async function auditPreSnapshot(home: MoatHome, id: string, audit: AuditSink): Promise<void> {
  const r = await readRunSnapshots(home, id);
  const pre = r?.records.find((x) => x.kind === 'pre');
  if (pre) audit.append('lifecycle', { event: 'snapshot', kind: 'pre', snapshot: pre.id, manifest: pre.manifest, files: pre.files });
  else if (r?.failed?.kind === 'pre') audit.append('lifecycle', { event: 'snapshot-failed', kind: 'pre', reason: r.failed.message });
}

/**
 * Snapshots taken of a live run from outside (`moat snapshot`, a rollback's safety snapshot) enter its audit
 * log through the daemon, which holds the log: each record not audited yet gets its entry (name and
 * manifest hash), then is marked. Asked by the CLI right after it records one, and again before the post-run
 * snapshot (so one the CLI could not announce is not left out). Returns how many entries were appended.
 */
export async function auditPendingSnapshots(home: MoatHome, id: string, audit: AuditSink): Promise<number> {
  const r = await readRunSnapshots(home, id);
  const pending = (r?.records ?? []).filter((x) => (x.kind === 'manual' || x.kind === 'safety') && !x.audited);
  const done = new Set<string>();
  for (const rec of pending) {
    const ok = audit.append('lifecycle', {
      event: 'snapshot',
      kind: rec.kind,
      snapshot: rec.id,
      manifest: rec.manifest,
      files: rec.files,
      ...(rec.label ? { label: rec.label } : {}),
    });
    if (ok) done.add(rec.id);
  }
  if (done.size === 0) return 0;
  await updateRunSnapshots(home, id, (cur) => cur && { ...cur, records: cur.records.map((x) => (done.has(x.id) ? { ...x, audited: true } : x)) });
  return done.size;
}

export async function takePostSnapshot(home: MoatHome, meta: RunMetadata, audit: AuditSink, log: (m: string) => void): Promise<void> {
  const r = await readRunSnapshots(home, meta.id);
  const pre = r?.records.find((x) => x.kind === 'pre');
  if (!r || !pre || r.records.some((x) => x.kind === 'post')) return; // snapshots off, or taken already
  await auditPendingSnapshots(home, meta.id, audit).catch(() => undefined);
  try {
    // The daemon's manifests in memory: the next run's pre-run snapshot (asked of this daemon) starts from it.
    const taken = await inTurn(meta.workspace, () => snapshotWorkspace(home, meta.workspace, r.settings, { rulesFrom: pre.manifest, cache: daemonManifests }));
    const rec = recordOf('post', taken);
    prewalksOf(home).remember(meta.workspace, r.settings); // the next run here can be pre-walked (prewalk.ts)
    await addRecord(home, meta.id, r.settings, rec);
    audit.append('lifecycle', { event: 'snapshot', kind: 'post', snapshot: rec.id, manifest: rec.manifest, files: rec.files, added: rec.added });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`run ${meta.id}: post-run snapshot failed: ${message}`);
    audit.append('lifecycle', { event: 'snapshot-failed', kind: 'post', reason: message });
    await recordFailure(home, meta.id, r.settings, 'post', message).catch(() => undefined);
  }
}
