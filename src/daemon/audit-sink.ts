import type { MoatHome } from '../home/paths.js';
import {
  AuditWriter,
  canonicalJson,
  emptyCounts,
  loadOrCreateSigner,
  type AuditSigner,
  type AuditType,
  type JsonObject,
  type ResumedLog,
} from '../audit/index.js';
import type { RunMetadata } from '../store/types.js';
import { ByteBudget, RECORD_LIMITS, type Priority } from './record-limits.js';

export interface AuditSinkOptions {
  /** Byte budget of the run's audit.jsonl (default RECORD_LIMITS.budgetBytes). */
  budgetBytes?: number;
  /** How often entries dropped over the budget are summed up in one entry (ms; default 10 s). */
  windowMs?: number;
  /** How long to wait for the log's writer lock (a hand-over: the previous daemon still holds it). */
  lockWaitMs?: number;
}

/**
 * The daemon is the single writer of each live run's audit log: lifecycle, console lines, and (with the
 * gateway) network events. A run whose log cannot be opened still runs; the failure goes to the daemon log.
 *
 * The log has a byte budget: once single entries would pass it, one `audit-budget-reached` lifecycle entry
 * is written, later entries are only counted (one `audit-entries-dropped` entry per window and one at
 * close), and the final checkpoint still signs everything written.
 */
export class AuditSink {
  private readonly budget: ByteBudget | undefined;
  private reached = false;
  private dropped = emptyCounts();
  private droppedSince: string | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly writer: AuditWriter | undefined,
    opts: AuditSinkOptions,
  ) {
    if (!writer) return;
    this.budget = new ByteBudget(opts.budgetBytes ?? RECORD_LIMITS.budgetBytes, writer.bytes);
    this.timer = setInterval(() => this.summarizeDropped('summary'), opts.windowMs ?? 10_000);
    this.timer.unref();
  }

  private static signer: Promise<AuditSigner> | undefined;

  static async open(home: MoatHome, meta: RunMetadata, runDir: string, log: (m: string) => void, opts: AuditSinkOptions = {}): Promise<AuditSink> {
    try {
      AuditSink.signer ??= loadOrCreateSigner(home);
      const writer = await AuditWriter.open(runDir, await AuditSink.signer, {
        runId: meta.id,
        onError: (err: unknown) => log(`audit ${meta.id}: ${String(err)}`),
        ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
      });
      const sink = new AuditSink(writer, opts);
      if (writer.count === 0) {
        sink.append('lifecycle', { event: 'created', name: meta.name, workspace: meta.workspace, command: meta.command, createdAt: meta.createdAt });
        sink.append('lifecycle', { event: 'image', image: meta.image });
        sink.append('lifecycle', { event: 'started', startedAt: meta.startedAt ?? new Date().toISOString() });
      }
      return sink;
    } catch (err) {
      log(`audit ${meta.id}: cannot open the audit log: ${err instanceof Error ? err.message : String(err)}`);
      return new AuditSink(undefined, opts);
    }
  }

  /** What the writer found when it took over an existing log (a restart, a hand-over, a dead daemon's log). */
  get resumed(): ResumedLog | undefined {
    return this.writer?.resumed;
  }

  /** Whether the budget for single entries is spent (only summaries are written from now on). */
  get budgetReached(): boolean {
    return this.reached;
  }

  /** Append an entry (lifecycle entries are `summary` priority: they pass until the closing reserve). */
  append(type: AuditType, data: JsonObject, p?: Priority): boolean {
    if (!this.writer) return false;
    return this.appendEncoded(type, canonicalJson(data), p);
  }

  /** Append an entry whose data is already canonical JSON (encoded once for network.jsonl and here). */
  appendEncoded(type: AuditType, data: string, p: Priority = type === 'lifecycle' ? 'summary' : 'event'): boolean {
    const w = this.writer;
    if (!w || !this.budget) return false;
    this.budget.used = w.bytes;
    const dataBytes = Buffer.byteLength(data, 'utf8');
    if (!this.budget.fits(AuditWriter.entryBytes(dataBytes, type), p)) {
      if (p === 'event' && !this.reached) {
        this.reached = true;
        this.append('lifecycle', { event: 'audit-budget-reached', limitBytes: this.budget.limit, usedBytes: w.bytes });
      }
      this.dropped[type] += 1;
      this.droppedSince ??= new Date().toISOString();
      return false;
    }
    w.appendEncoded(type, data, dataBytes);
    return true;
  }

  private summarizeDropped(p: Priority): void {
    if (!this.droppedSince) return;
    const counts: JsonObject = {};
    let total = 0;
    for (const [t, n] of Object.entries(this.dropped))
      if (n > 0) {
        counts[t] = n;
        total += n;
      }
    const entry = { event: 'audit-entries-dropped', total, counts, since: this.droppedSince, until: new Date().toISOString() };
    if (!this.writer || !this.budget?.fits(AuditWriter.entryBytes(Buffer.byteLength(canonicalJson(entry)), 'lifecycle'), p)) return;
    // Reset first: the append below must not count itself.
    this.dropped = emptyCounts();
    this.droppedSince = undefined;
    this.writer.appendEncoded('lifecycle', canonicalJson(entry));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.summarizeDropped('final');
    await this.writer?.close();
  }
}
