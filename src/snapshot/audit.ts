/**
 * Snapshot and rollback events in the run's own audit log (a `lifecycle` entry with the manifest's hash).
 * The daemon appends them while it follows the run; afterwards the CLI opens the log, appends and closes it
 * (the writer re-signs the log's final checkpoint).
 */
import { AuditWriter, loadOrCreateSigner, type JsonObject } from '../audit/index.js';
import type { MoatHome } from '../home/paths.js';

/** Append one entry; false when the log is held by another writer (a live run) or cannot be opened. */
export async function auditSnapshotEvent(home: MoatHome, runId: string, data: JsonObject): Promise<boolean> {
  try {
    const writer = await AuditWriter.open(home.runDir(runId), await loadOrCreateSigner(home), { runId, lockWaitMs: 3_000 });
    writer.append('lifecycle', data);
    await writer.close();
    return true;
  } catch {
    return false;
  }
}
