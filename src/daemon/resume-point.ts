import { open, stat, truncate } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { parseLine } from '../audit/index.js';

/**
 * Where a (re)started daemon picks a run's output up again, per sink: the engine timestamp of the last
 * line the sink recorded and how many lines with that very timestamp it holds (the engine's `since` is in
 * whole seconds, and two lines can share a timestamp, so the boundary is de-duplicated by count).
 */
export interface Floor {
  ts: string;
  n: number;
}

/** A filter that drops what a sink already holds: older lines, and the first `n` lines at the floor's timestamp. */
export function after(floor: Floor | undefined): (ts: string) => boolean {
  let skip = floor?.n ?? 0;
  return (ts) => {
    if (!floor || ts > floor.ts) return true;
    if (ts < floor.ts) return false;
    if (skip > 0) {
      skip--;
      return false;
    }
    return true;
  };
}

/** Lines of a file from the last to the first, read 64 KiB at a time (a torn last line is skipped). */
async function* linesBackward(file: string): AsyncIterable<string> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    let end = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    let torn = true; // bytes after the last '\n' are a torn line, not a record
    while (end > 0) {
      const start = Math.max(0, end - 65536);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      end = start;
      let data = Buffer.concat([buf, carry]);
      let nl = data.lastIndexOf(10);
      if (torn) {
        carry = Buffer.alloc(0);
        if (nl < 0) continue;
        torn = false;
        data = data.subarray(0, nl);
        nl = data.lastIndexOf(10);
      }
      while (nl >= 0) {
        yield data.subarray(nl + 1).toString('utf8');
        data = data.subarray(0, nl);
        nl = data.lastIndexOf(10);
      }
      carry = data;
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await fh.close();
  }
}

async function floorOf(lines: AsyncIterable<string>, tsOf: (line: string) => string | undefined): Promise<Floor | undefined> {
  let floor: Floor | undefined;
  for await (const line of lines) {
    const ts = tsOf(line);
    if (ts === undefined) continue;
    if (!floor) floor = { ts, n: 1 };
    else if (ts === floor.ts) floor.n++;
    else break;
  }
  return floor;
}

/**
 * The last output recorded in logs.jsonl (`{ts, stream, line}` per line). Give the ring's files newest
 * first (logs.jsonl, logs.1.jsonl): the pieces of one long line share a timestamp, and a rotation can fall
 * between them, so the count goes on into the older file while the timestamp stays the same.
 */
export function logsFloor(...files: string[]): Promise<Floor | undefined> {
  async function* all(): AsyncIterable<string> {
    for (const f of files) yield* linesBackward(f);
  }
  return floorOf(all(), (line) => {
    try {
      const r = JSON.parse(line) as { ts?: unknown; moat?: unknown };
      // moat's own notes (the log-limit marker) carry the time they were written, not an engine timestamp.
      return typeof r.ts === 'string' && r.moat === undefined ? r.ts : undefined;
    } catch {
      return undefined;
    }
  });
}

/**
 * Whether a run's audit log already says its output passed the log limit (a lifecycle `output-limit`
 * entry): a daemon that takes the run over must not record console lines after it again.
 */
export async function auditOutputLimitReached(file: string): Promise<boolean> {
  for await (const line of linesBackward(file)) {
    if (!line.includes('"output-limit"') || parseLine(line)?.type !== 'lifecycle') continue;
    try {
      if ((JSON.parse(line) as { data?: { event?: unknown } }).data?.event === 'output-limit') return true;
    } catch {
      /* not an entry */
    }
  }
  return false;
}

/** The last console line recorded in a run's audit log (`console` entries carry the engine timestamp). */
export function auditConsoleFloor(file: string): Promise<Floor | undefined> {
  return floorOf(linesBackward(file), (line) => {
    if (parseLine(line)?.type !== 'console') return undefined;
    try {
      const ts = (JSON.parse(line) as { data?: { ts?: unknown } }).data?.ts;
      return typeof ts === 'string' ? ts : undefined;
    } catch {
      return undefined;
    }
  });
}

/**
 * A daemon killed in the middle of an append leaves a torn last line in logs.jsonl; drop it before appending
 * (the line is read back from the engine, since it is after the floor). Returns the bytes dropped.
 */
export async function repairLogsTail(file: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
  if (size === 0) return 0;
  const fh = await open(file, 'r');
  let keep = 0;
  try {
    const buf = Buffer.alloc(65536);
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - buf.length);
      const { bytesRead } = await fh.read(buf, 0, end - start, start);
      const i = buf.subarray(0, bytesRead).lastIndexOf(10);
      if (i >= 0) {
        keep = start + i + 1;
        break;
      }
      end = start;
    }
  } finally {
    await fh.close();
  }
  if (keep < size) await truncate(file, keep);
  return size - keep;
}
