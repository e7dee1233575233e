import { basename } from 'node:path';
import { MoatError } from '../errors.js';
import { encodeEntry, encodeEntryData, parseLine, sha256Hex } from './canonical.js';
import { MerkleAccumulator, leafOfEntry } from './merkle.js';
import type { AuditSigner } from './signing.js';
import { signCheckpoint } from './signing.js';
import type { AuditStore } from './store.js';
import { JsonlAuditStore, acquireWriterLock } from './store.js';
import type { AuditType, Checkpoint, JsonObject } from './types.js';
import { isCheckpoint } from './verify.js';

export interface AuditWriterOptions {
  runId?: string;
  /** Flush pending entries this long after the first one is appended (ms). */
  flushMs?: number;
  /** Flush at once when this many entries are pending. */
  maxBatch?: number;
  /** Sign a checkpoint after this many new entries ... */
  checkpointEvery?: number;
  /** ... or when this long has passed since the last one (ms), at the next flush. */
  checkpointMs?: number;
  /** How long to wait for another process to release the run's writer lock (ms). */
  lockWaitMs?: number;
  now?: () => Date;
  store?: AuditStore;
  /** Called when a timer-driven flush fails (the batch is kept and retried on the next flush). */
  onError?: (err: unknown) => void;
}

/** What open() found when it took over a log that already had entries. */
export interface ResumedLog {
  /** Entries already in the log. */
  entries: number;
  /** Entries the last signed checkpoint covered before this writer re-signed. */
  signed: number;
  /** True when the previous writer closed the log (its final checkpoint covered every entry). */
  closed: boolean;
  /** The time of the last entry (the previous writer was alive then). */
  lastTs?: string;
  /** Bytes of a torn last line that were dropped. */
  tornBytes: number;
}

/**
 * The single writer of one run's audit log.
 *
 * One writer process per run: open() takes `<runDir>/audit.lock` (see store.ts) and close() releases it.
 * The intended split is that the daemon, which outlives the CLI and sees every gateway event, holds the
 * writer for the run's life and records lifecycle/console events handed to it by the CLI; a process that
 * only needs a few entries (e.g. `created` before the daemon takes over) opens, appends, closes, and the
 * next opener waits up to `lockWaitMs` and resumes seq/prev/Merkle state from the file after checking it.
 *
 * append() never waits for I/O: it assigns seq, hashes and chains the entry synchronously (a few µs),
 * buffers the line, and a timer or the batch size triggers one fs append per batch.
 */
export class AuditWriter {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private batchQueued = false;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private lastCp: { count: number; final: boolean; at: number } = { count: 0, final: false, at: 0 };
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly cpEvery: number;
  private readonly cpMs: number;
  private readonly now: () => Date;

  private constructor(
    readonly runId: string,
    private readonly store: AuditStore,
    private readonly signer: AuditSigner,
    private readonly release: () => Promise<void>,
    private seq: number,
    private prev: string | null,
    private readonly acc: MerkleAccumulator,
    private readonly opts: AuditWriterOptions,
  ) {
    this.flushMs = opts.flushMs ?? 25;
    this.maxBatch = opts.maxBatch ?? 2048;
    this.cpEvery = opts.checkpointEvery ?? 10_000;
    this.cpMs = opts.checkpointMs ?? 60_000;
    this.now = opts.now ?? (() => new Date());
    this.lastCp.at = this.now().getTime();
  }

  static async open(runDir: string, signer: AuditSigner, opts: AuditWriterOptions = {}): Promise<AuditWriter> {
    const runId = opts.runId ?? basename(runDir);
    const store = opts.store ?? new JsonlAuditStore(runDir, runId);
    const release = await acquireWriterLock(runDir, opts.lockWaitMs ?? 5_000);
    try {
      const torn = await store.repairTornTail();
      await store.openForAppend();
      const acc = new MerkleAccumulator();
      const last = (await store.readCheckpoints()).filter(isCheckpoint).at(-1);
      const damaged = (at: number, why: string): MoatError =>
        new MoatError(`the audit log of run ${runId} is damaged at seq ${at} (${why}); refusing to append to it`, {
          code: 'E_AUDIT',
          hint: `moat audit ${runId}`,
        });
      let seq = 0;
      let prev: string | null = null;
      let lastTs: string | undefined;
      let bytes = 0;
      for await (const lines of store.readEntryLines()) {
        for (const line of lines) {
          const head = parseLine(line);
          const at = seq + 1;
          if (!head || sha256Hex(head.body) !== head.hash || head.seq !== at || head.prev !== prev) throw damaged(at, 'broken chain');
          acc.appendLeaf(leafOfEntry(head.hash));
          bytes += Buffer.byteLength(line, 'utf8') + 1;
          seq = at;
          prev = head.hash;
          lastTs = head.ts;
          if (last && seq === last.count && acc.root() !== last.root) throw damaged(seq, 'does not match its last checkpoint');
        }
      }
      // Never re-sign over a log that lost signed entries.
      if (last && last.count > seq) throw damaged(seq + 1, `its last checkpoint signs ${last.count} entries`);
      const w = new AuditWriter(runId, store, signer, release, seq, prev, acc, opts);
      w.bytes = bytes;
      if (last) w.lastCp = { count: last.count, final: last.final, at: w.lastCp.at };
      if (seq > 0 || torn > 0) {
        w.resumed = {
          entries: seq,
          signed: last?.count ?? 0,
          closed: last?.final === true && last.count === seq && torn === 0,
          tornBytes: torn,
          ...(lastTs ? { lastTs } : {}),
        };
      }
      if (torn > 0) w.append('lifecycle', { event: 'audit-recovered', tornBytes: torn });
      // Re-sign on resume: covers entries a crashed writer left unsigned (just checked above) and
      // replaces a `final` checkpoint, so a crash from here on reads as an unsigned tail, not a forgery.
      if (seq > 0) await w.checkpoint(true);
      return w;
    } catch (err) {
      await store.close();
      await release();
      throw err;
    }
  }

  /** Set when open() resumed a log that already had entries (a restarted daemon, a hand-over). */
  resumed: ResumedLog | undefined;

  /** Entries appended so far (written or pending). */
  get count(): number {
    return this.seq;
  }

  /** Bytes of audit.jsonl, written or pending. */
  bytes = 0;

  /** Append an entry; returns its seq. Never waits for I/O. */
  append(type: AuditType, data: JsonObject): number {
    if (this.closed) throw new MoatError(`the audit writer of run ${this.runId} is closed`, { code: 'E_INTERNAL' });
    return this.push(encodeEntry(this.seq + 1, this.now().toISOString(), type, data, this.prev));
  }

  /**
   * append() with `data` already encoded as canonical JSON (see encodeEntryData). `dataBytes`, its UTF-8
   * length when the caller has it already, spares measuring it again (the rest of a line is ASCII).
   */
  appendEncoded(type: AuditType, data: string, dataBytes?: number): number {
    if (this.closed) throw new MoatError(`the audit writer of run ${this.runId} is closed`, { code: 'E_INTERNAL' });
    const entry = encodeEntryData(this.seq + 1, this.now().toISOString(), type, data, this.prev);
    return this.push(entry, dataBytes === undefined ? undefined : dataBytes + entry.line.length - data.length);
  }

  /** Bytes one entry with this canonical data would take (within a few bytes: the tail is fixed-size). */
  static entryBytes(dataBytes: number, type: AuditType): number {
    // {"data":D,"hash":"<64>","prev":"<64>","seq":<=16,"ts":"<24>","type":"T"}\n
    return dataBytes + 225 + type.length;
  }

  private push({ line, hash }: { line: string; hash: string }, lineBytes = Buffer.byteLength(line, 'utf8')): number {
    const seq = this.seq + 1;
    this.bytes += lineBytes + 1;
    this.seq = seq;
    this.prev = hash;
    this.acc.appendLeaf(leafOfEntry(hash));
    this.pending.push(line);
    if (this.pending.length >= this.maxBatch) {
      // A full batch is written as soon as the caller yields (a microtask), without waiting for a timer.
      if (!this.batchQueued) {
        this.batchQueued = true;
        this.flush().catch((err: unknown) => this.opts.onError?.(err));
      }
    } else if (!this.timer) {
      this.schedule(this.flushMs);
    }
    return seq;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => this.opts.onError?.(err));
    }, ms);
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const next = this.queue.catch(() => undefined).then(job);
    this.queue = next;
    return next;
  }

  /** Write pending entries (one append), and a checkpoint when N entries or T ms have passed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.enqueue(() => this.writeBatch());
  }

  private async writeBatch(periodic = true): Promise<void> {
    this.batchQueued = false;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const count = this.seq;
    const since = count - this.lastCp.count;
    const due = periodic && (since >= this.cpEvery || (since > 0 && this.now().getTime() - this.lastCp.at >= this.cpMs));
    const root = due ? this.acc.root() : '';
    try {
      await this.store.appendEntries(`${lines.join('\n')}\n`);
    } catch (err) {
      this.pending = lines.concat(this.pending);
      throw err;
    }
    if (due) await this.writeCheckpoint(count, root, false);
  }

  private async writeCheckpoint(count: number, root: string, final: boolean): Promise<Checkpoint> {
    const ts = this.now();
    const cp = signCheckpoint({ runId: this.runId, count, root, ts: ts.toISOString(), final }, this.signer);
    await this.store.sync();
    await this.store.appendCheckpoint(cp);
    await this.store.sync();
    this.lastCp = { count, final, at: ts.getTime() };
    return cp;
  }

  /** Flush and sign a checkpoint over everything appended so far (skipped if nothing is new unless forced). */
  checkpoint(force = false): Promise<void> {
    return this.enqueue(async () => {
      await this.writeBatch(false);
      if (force || this.seq > this.lastCp.count) await this.writeCheckpoint(this.seq, this.acc.root(), false);
    });
  }

  /** Flush, sign the final checkpoint, release the run's writer lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await this.enqueue(async () => {
        await this.writeBatch(false);
        if (!(this.lastCp.final && this.lastCp.count === this.seq)) await this.writeCheckpoint(this.seq, this.acc.root(), true);
      });
    } finally {
      await this.store.close();
      await this.release();
    }
  }
}
