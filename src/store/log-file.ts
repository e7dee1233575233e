import { appendFile, open, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import type { LogRecord } from './types.js';

/** runs/<id>/logs.jsonl holds the newest output; logs.1.jsonl the part before it. */
export const LOG_FILE = 'logs.jsonl';
export const OLD_LOG_FILE = 'logs.1.jsonl';
/** A run's stored output is capped at this many bytes unless `container.log_limit` says otherwise. */
export const DEFAULT_LOG_LIMIT = 256 * 1024 ** 2;

/** A logs.jsonl entry that is moat's own note, not output: earlier output was dropped at the limit. */
export interface LogMarker extends LogRecord {
  moat: 'log-limit';
  /** Bytes of logs.jsonl entries dropped so far (all of them older than logs.1.jsonl). */
  dropped: number;
  limit: number;
}

export function isMarker(r: LogRecord): r is LogMarker {
  return (r as Partial<LogMarker>).moat === 'log-limit';
}

function markerText(dropped: number, limit: number): string {
  const mib = (n: number): string => `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `[moat] ${mib(dropped)} of earlier output dropped: the run's output passed its ${mib(limit)} limit (container.log_limit in moat.yaml); the newest output is kept.`;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The writer of a run's output (the daemon, one per run): a ring of two files of at most half the limit
 * each. When logs.jsonl would pass its half it becomes logs.1.jsonl (the older one is dropped) and a new
 * logs.jsonl starts, with a marker entry once anything was dropped. Stored output never passes the limit
 * by more than one entry.
 */
export class LogWriter {
  private constructor(
    private readonly dir: string,
    readonly limit: number,
    private size: number,
    private dropped: number,
  ) {}

  static async open(dir: string, limit = DEFAULT_LOG_LIMIT): Promise<LogWriter> {
    const size = (await sizeOf(join(dir, LOG_FILE))) ?? 0;
    const first = await firstRecord(join(dir, LOG_FILE));
    return new LogWriter(dir, limit, size, first && isMarker(first) ? first.dropped : 0);
  }

  /** Whether output was already dropped at the limit. */
  get dropping(): boolean {
    return this.dropped > 0;
  }

  async append(records: readonly LogRecord[]): Promise<void> {
    const half = Math.max(1, Math.floor(this.limit / 2));
    let text = '';
    for (const r of records) {
      const line = `${JSON.stringify(r)}\n`;
      const n = Buffer.byteLength(line);
      if (this.size + Buffer.byteLength(text) + n > half && this.size + text.length > 0) {
        await this.write(text);
        text = '';
        await this.rotate();
      }
      text += line;
    }
    await this.write(text);
  }

  private async write(text: string): Promise<void> {
    if (!text) return;
    await appendFile(join(this.dir, LOG_FILE), text, { mode: 0o600 });
    this.size += Buffer.byteLength(text);
  }

  private async rotate(): Promise<void> {
    const cur = join(this.dir, LOG_FILE);
    const old = join(this.dir, OLD_LOG_FILE);
    this.dropped += (await sizeOf(old)) ?? 0;
    await rename(cur, old);
    this.size = 0;
    if (this.dropped === 0) return;
    const marker: LogMarker = {
      ts: new Date().toISOString(),
      stream: 'stderr',
      line: markerText(this.dropped, this.limit),
      moat: 'log-limit',
      dropped: this.dropped,
      limit: this.limit,
    };
    const line = `${JSON.stringify(marker)}\n`;
    await writeFile(cur, line, { mode: 0o600 });
    this.size = Buffer.byteLength(line);
  }
}

/** The first entry of a log file (read in a bounded slice), if it parses. */
export async function firstRecord(file: string): Promise<LogRecord | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.toString('utf8', 0, bytesRead);
    const nl = text.indexOf('\n');
    if (nl < 0) return undefined;
    try {
      return JSON.parse(text.slice(0, nl)) as LogRecord;
    } catch {
      return undefined;
    }
  } finally {
    await fh.close();
  }
}

const CHUNK = 1024 * 1024;

/**
 * Call `onLine` with each complete line of `file` from byte `offset`, reading in fixed chunks (memory and
 * time linear in the file, whatever its size). Returns the offset after the last complete line and the
 * file's identity, so a follower notices a rotation.
 */
export async function readLines(
  file: string,
  offset: number,
  onLine: (line: string) => void,
  afterChunk?: () => Promise<void>,
): Promise<{ offset: number; ino: number | undefined }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { offset, ino: undefined };
    throw err;
  }
  try {
    const { size, ino } = await fh.stat();
    let pos = offset;
    let pending: Buffer[] = [];
    let pendingStart = offset;
    const buf = Buffer.alloc(CHUNK);
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      let from = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
        const piece = chunk.subarray(from, nl);
        const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        if (line.length > 0) onLine(line.toString('utf8'));
        from = nl + 1;
        pendingStart = pos + from;
      }
      if (from < bytesRead) pending.push(Buffer.from(chunk.subarray(from)));
      pos += bytesRead;
      if (afterChunk) await afterChunk();
    }
    return { offset: pendingStart, ino };
  } finally {
    await fh.close();
  }
}

/** Each entry of a log file from `offset` (lines that do not parse are skipped). */
export async function readRecords(
  file: string,
  offset: number,
  onRecord: (r: LogRecord) => void,
  afterChunk?: () => Promise<void>,
): Promise<{ offset: number; ino: number | undefined }> {
  return readLines(
    file,
    offset,
    (l) => {
      let r: LogRecord;
      try {
        r = JSON.parse(l) as LogRecord;
      } catch {
        return;
      }
      onRecord(r);
    },
    afterChunk,
  );
}
