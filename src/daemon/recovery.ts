import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { JsonlAuditStore, activeWriter, ENTRIES_FILE, type JsonObject, type ResumedLog } from '../audit/index.js';
import { RECOVERED_EVENT } from '../audit/verify.js';
import type { AuditSink } from './audit-sink.js';

/** What the gateway's recorder needs of a run's audit log. */
export type AuditLike = Pick<AuditSink, 'append' | 'appendEncoded'>;

/** Audit appends made before the run's log is open (a hand-over: the previous daemon still holds it). */
export class DeferredAudit implements AuditLike {
  private sink: AuditLike | undefined;
  private queue: ((s: AuditLike) => void)[] = [];

  append(...args: Parameters<AuditSink['append']>): boolean {
    if (this.sink) return this.sink.append(...args);
    this.queue.push((s) => s.append(...args));
    return true;
  }

  appendEncoded(...args: Parameters<AuditSink['appendEncoded']>): boolean {
    if (this.sink) return this.sink.appendEncoded(...args);
    this.queue.push((s) => s.appendEncoded(...args));
    return true;
  }

  attach(sink: AuditLike): void {
    for (const replay of this.queue) replay(sink);
    this.queue = [];
    this.sink = sink;
  }
}

/**
 * The `lifecycle` entry a daemon appends when it takes over a log whose writer died: when it died (after its
 * last entry), what the new daemon signed for it, and what is missing. `moat audit` shows each one.
 */
export function recoveredEntry(r: ResumedLog, missing: string): JsonObject {
  return {
    event: RECOVERED_EVENT,
    cause: 'the daemon that kept this log stopped without closing it (killed or crashed)',
    diedAfter: r.lastTs ?? '',
    detectedAt: new Date().toISOString(),
    // Entries the dead daemon wrote but had not signed yet: checked (hashes, chain) and signed on recovery.
    signedOnRecovery: Math.max(0, r.entries - r.signed),
    tornBytes: r.tornBytes,
    missing,
  };
}

/** True when a run's audit log exists, nobody writes it, and no final checkpoint closes it. */
export async function auditLeftOpen(dir: string): Promise<boolean> {
  try {
    if ((await stat(join(dir, ENTRIES_FILE))).size === 0) return false;
  } catch {
    return false;
  }
  if (await activeWriter(dir).catch(() => undefined)) return false;
  const last = (await new JsonlAuditStore(dir).readCheckpoints()).at(-1) as { final?: unknown } | undefined;
  return last?.final !== true;
}
