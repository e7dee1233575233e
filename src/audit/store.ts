import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MoatError, errnoCode } from '../errors.js';
import { withLock } from '../home/fs.js';
import { canonicalJson } from './canonical.js';
import type { Checkpoint } from './types.js';
import { processAlive } from '../process-alive.js';

/**
 * Where a run's audit log lives. The JSONL implementation keeps two append-only files in the run dir:
 *   audit.jsonl              one canonical entry per line (see canonical.ts)
 *   audit-checkpoints.jsonl  one signed checkpoint per line
 * and a writer lock `audit.lock` (O_EXCL file holding {pid, host}) so a run has exactly one writer
 * process at a time.
 */
export interface AuditStore {
  readonly runId: string;
  readonly dir: string;
  /** Entry lines in file order, yielded in chunks (a final line without newline is yielded too). */
  readEntryLines(): AsyncIterable<string[]>;
  /** Parsed checkpoint lines; a line that is not JSON is returned as its raw string. */
  readCheckpoints(): Promise<unknown[]>;
  /** Open for appending (creates the files); called once by the writer before any append. */
  openForAppend(): Promise<void>;
  /** Append already-encoded lines (each ending in '\n') with one write. */
  appendEntries(text: string): Promise<void>;
  appendCheckpoint(cp: Checkpoint): Promise<void>;
  /** fsync both files. */
  sync(): Promise<void>;
  /** Drop a torn last line (a crash mid-write leaves one without '\n'); returns the bytes removed. */
  repairTornTail(): Promise<number>;
  close(): Promise<void>;
}

export const ENTRIES_FILE = 'audit.jsonl';
export const CHECKPOINTS_FILE = 'audit-checkpoints.jsonl';
const LOCK_FILE = 'audit.lock';

export class JsonlAuditStore implements AuditStore {
  readonly runId: string;
  readonly entriesPath: string;
  readonly checkpointsPath: string;
  private entriesFh: FileHandle | undefined;
  private checkpointsFh: FileHandle | undefined;

  constructor(
    readonly dir: string,
    runId?: string,
  ) {
    this.runId = runId ?? basename(dir);
    this.entriesPath = join(dir, ENTRIES_FILE);
    this.checkpointsPath = join(dir, CHECKPOINTS_FILE);
  }

  async *readEntryLines(): AsyncIterable<string[]> {
    let rest = '';
    try {
      for await (const chunk of createReadStream(this.entriesPath, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
        const parts = (rest + (chunk as string)).split('\n');
        rest = parts.pop()!;
        if (parts.length > 0) yield parts;
      }
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    if (rest.length > 0) yield [rest];
  }

  async readCheckpoints(): Promise<unknown[]> {
    let text: string;
    try {
      text = await readFile(this.checkpointsPath, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          return l;
        }
      });
  }

  private async handles(): Promise<{ entries: FileHandle; checkpoints: FileHandle }> {
    if (!this.entriesFh || !this.checkpointsFh) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.entriesFh ??= await open(this.entriesPath, 'a', 0o600);
      this.checkpointsFh ??= await open(this.checkpointsPath, 'a', 0o600);
    }
    return { entries: this.entriesFh, checkpoints: this.checkpointsFh };
  }

  async openForAppend(): Promise<void> {
    await this.handles();
  }

  async appendEntries(text: string): Promise<void> {
    // One write(2) per batch (FileHandle.appendFile would split it into 512 KiB writes, one event-loop
    // turn each, which lets a busy process fall behind). The file is O_APPEND; loop only on short writes.
    const fh = (await this.handles()).entries;
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length;) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
  }

  async appendCheckpoint(cp: Checkpoint): Promise<void> {
    await (await this.handles()).checkpoints.appendFile(`${canonicalJson(cp)}\n`, 'utf8');
  }

  async sync(): Promise<void> {
    const h = await this.handles();
    await Promise.all([h.entries.sync(), h.checkpoints.sync()]);
  }

  async repairTornTail(): Promise<number> {
    let size: number;
    try {
      size = (await stat(this.entriesPath)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw err;
    }
    if (size === 0) return 0;
    const fh = await open(this.entriesPath, 'r');
    try {
      // Scan back for the last newline, 64 KiB at a time.
      const buf = Buffer.alloc(65536);
      let end = size;
      while (end > 0) {
        const start = Math.max(0, end - buf.length);
        const { bytesRead } = await fh.read(buf, 0, end - start, start);
        const i = buf.subarray(0, bytesRead).lastIndexOf(10);
        if (i >= 0) {
          const keep = start + i + 1;
          if (keep < size) await truncate(this.entriesPath, keep);
          return size - keep;
        }
        end = start;
      }
    } finally {
      await fh.close();
    }
    await truncate(this.entriesPath, 0);
    return size;
  }

  async close(): Promise<void> {
    const fhs = [this.entriesFh, this.checkpointsFh];
    this.entriesFh = undefined;
    this.checkpointsFh = undefined;
    await Promise.all(fhs.map((f) => f?.close()));
  }
}

interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

/** The live writer of a run, if any (a lock left by a dead process on this host does not count). */
export async function activeWriter(dir: string): Promise<LockInfo | undefined> {
  let info: LockInfo;
  try {
    info = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as LockInfo;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
  if (info.host === hostname() && !processAlive(info.pid)) return undefined;
  return info;
}

/**
 * Take the run's single-writer lock: an O_EXCL file `<dir>/audit.lock` with {pid, host}. A lock whose
 * process is dead (same host) is stale and taken over. Waits up to `waitMs` for a live holder (so a CLI
 * and the daemon can hand the log over), then fails with a MoatError naming the holder.
 */
export async function acquireWriterLock(dir: string, waitMs = 0): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + waitMs;
  const tryTake = async (): Promise<LockInfo | 'taken' | 'stale'> => {
    try {
      const fh = await open(path, 'wx', 0o600);
      const info: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
      await fh.writeFile(JSON.stringify(info));
      await fh.close();
      return 'taken';
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    return (await activeWriter(dir)) ?? 'stale';
  };
  for (;;) {
    // The stale-lock takeover runs under a short cross-process mutex so two contenders cannot both
    // remove a dead holder's lock and then each believe they own the fresh one.
    const holder = await withLock(path, async () => {
      const h = await tryTake();
      if (h !== 'stale') return h;
      await rm(path, { force: true });
      return tryTake();
    });
    if (holder === 'taken')
      return async () => {
        await rm(path, { force: true });
      };
    if (holder !== 'stale' && Date.now() >= deadline) {
      throw new MoatError(`the audit log of run ${basename(dir)} is being written by process ${holder.pid} on ${holder.host}`, {
        code: 'E_CONFLICT',
        hint: `a run has one audit writer at a time; if process ${holder.pid} is gone, remove ${path}`,
      });
    }
    await sleep(25);
  }
}
