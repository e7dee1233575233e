import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOG_FILE, LogWriter, OLD_LOG_FILE, firstRecord, isMarker, readLines, readRecords } from '../../../src/store/log-file.js';
import type { LogRecord } from '../../../src/store/types.js';

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'moat-logfile-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const rec = (i: number): LogRecord => ({ ts: `2026-12-01T00:00:00.${String(i).padStart(9, '0')}Z`, stream: 'stdout', line: `line ${i} ${'x'.repeat(100)}` });
const size = async (f: string): Promise<number> => (await stat(f).catch(() => ({ size: 0 }))).size;

describe('hostile output: stored output is capped', () => {
  it('keeps both files under the limit, drops the oldest output, and marks the drop once at the head of logs.jsonl', async () => {
    const d = await dir();
    const limit = 64 * 1024;
    const w = await LogWriter.open(d, limit);
    for (let i = 0; i < 10_000; i += 100) await w.append(Array.from({ length: 100 }, (_, k) => rec(i + k)));
    const total = (await size(join(d, LOG_FILE))) + (await size(join(d, OLD_LOG_FILE)));
    expect(total).toBeLessThanOrEqual(limit + 300);
    const marker = await firstRecord(join(d, LOG_FILE));
    expect(marker && isMarker(marker)).toBe(true);
    expect(marker && isMarker(marker) ? marker.dropped : 0).toBeGreaterThan(900_000);
    expect(marker?.line).toMatch(/earlier output dropped.*container\.log_limit/);
    const kept: LogRecord[] = [];
    for (const f of [OLD_LOG_FILE, LOG_FILE])
      await readRecords(join(d, f), 0, (r) => {
        if (!isMarker(r)) kept.push(r);
      });
    expect(kept.at(-1)).toEqual(rec(9999));
    // What is kept is the newest output, without a gap.
    const first = Number(/line (\d+)/.exec(kept[0]?.line ?? '')?.[1]);
    expect(kept.map((r) => r.line)).toEqual(Array.from({ length: 10_000 - first }, (_, k) => rec(first + k).line));
    expect(w.dropping).toBe(true);
    // A daemon that takes the run over again knows output was already dropped.
    expect((await LogWriter.open(d, limit)).dropping).toBe(true);
  });

  it('writes no marker while nothing was dropped', async () => {
    const d = await dir();
    const w = await LogWriter.open(d, 1024 * 1024);
    await w.append([rec(1), rec(2)]);
    expect(await firstRecord(join(d, LOG_FILE))).toEqual(rec(1));
    expect(w.dropping).toBe(false);
  });

  it('reads a file with a 3 MB line and many short ones in bounded chunks, line for line', async () => {
    const d = await dir();
    const f = join(d, 'x.jsonl');
    const long = 'y'.repeat(3 * 1024 * 1024);
    await writeFile(f, `a\n${long}\nb\nunterminated`);
    const got: string[] = [];
    const r = await readLines(f, 0, (l) => got.push(l));
    expect(got).toEqual(['a', long, 'b']);
    expect(r.offset).toBe(2 + long.length + 1 + 2);
  });
});
