import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonlCursor, followFile } from '../../../src/home/follow.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-follow-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function all(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

describe('JsonlCursor', () => {
  it('hands out each complete line once, a line still being written on the next look', async () => {
    const file = join(dir, 'f.jsonl');
    const c = new JsonlCursor(file);
    expect(await all(c.lines())).toEqual([]); // no file yet
    await appendFile(file, '{"a":1}\n{"b":');
    expect(await all(c.lines())).toEqual(['{"a":1}']);
    expect(c.offset).toBe(8);
    expect(await all(c.lines())).toEqual([]);
    await appendFile(file, '2}\n');
    expect(await all(c.lines())).toEqual(['{"b":2}']);
  });

  it('stops after the line that passes maxBytes and resumes there', async () => {
    const file = join(dir, 'f.jsonl');
    await appendFile(file, 'aaaa\nbbbb\ncccc\n');
    const c = new JsonlCursor(file);
    expect(await all(c.lines(6))).toEqual(['aaaa', 'bbbb']);
    expect(await all(c.lines())).toEqual(['cccc']);
  });

  it('skips a line longer than maxLineBytes', async () => {
    const file = join(dir, 'f.jsonl');
    await appendFile(file, `${'x'.repeat(100)}\nok\n`);
    expect(await all(new JsonlCursor(file, { maxLineBytes: 10 }).lines())).toEqual(['ok']);
  });
});

describe('followFile', () => {
  it('looks until done says the writer finished, passing whether each look grew', async () => {
    const file = join(dir, 'f.jsonl');
    const c = new JsonlCursor(file);
    const seen: string[] = [];
    const grewLog: boolean[] = [];
    let looks = 0;
    await followFile({
      intervalMs: 1,
      read: async () => {
        if (++looks === 2) await appendFile(file, 'one\n');
        const before = c.offset;
        for await (const l of c.lines()) seen.push(l);
        return c.offset !== before;
      },
      done: async (grew) => {
        grewLog.push(grew);
        return looks >= 4;
      },
    });
    expect(seen).toEqual(['one']);
    expect(grewLog).toEqual([false, true, false, false]);
  });
});
