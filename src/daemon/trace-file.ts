import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { ByteBudget, type Priority } from './record-limits.js';

export interface TraceFileOptions {
  limitBytes: number;
  /** Write a batch this long after its first line (ms; default 20). */
  flushMs?: number;
  /** Write at once when this many bytes are pending (default 256 KiB). */
  maxBatchBytes?: number;
  onError?: (err: unknown) => void;
}

/**
 * An append-only JSONL file with a byte budget, written in batches: write() never waits for I/O (one
 * write(2) per batch, one batch in flight), and refuses a line that does not fit its priority's share of
 * the budget. The budget counts the file's size at open, so a resumed run keeps its bound.
 */
export class TraceFile {
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly flushMs: number;
  private readonly maxBatch: number;

  private constructor(
    private readonly fh: FileHandle,
    readonly budget: ByteBudget,
    private readonly opts: TraceFileOptions,
  ) {
    this.flushMs = opts.flushMs ?? 20;
    this.maxBatch = opts.maxBatchBytes ?? 256 * 1024;
  }

  static async open(path: string, opts: TraceFileOptions): Promise<TraceFile> {
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const fh = await open(path, 'a', 0o600);
    return new TraceFile(fh, new ByteBudget(opts.limitBytes, size), opts);
  }

  /** Queue `line` (one JSON text, no newline). False when it does not fit the budget at priority `p`. */
  write(line: string, p: Priority): boolean {
    // Lines stay strings until the batch is written (one encoding per batch, not a Buffer per line).
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    if (!this.budget.take(bytes, p)) return false;
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (this.pendingBytes >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
    return true;
  }

  /** Start writing what is pending; resolves when everything queued so far is on disk. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingBytes === 0) return this.writing;
    const buf = Buffer.from(`${this.pending.join('\n')}\n`, 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = this.writing
      .then(async () => {
        for (let off = 0; off < buf.length;) off += (await this.fh.write(buf, off, buf.length - off)).bytesWritten;
      })
      .catch((err: unknown) => this.opts.onError?.(err));
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }
}
