/** Where a restarted daemon resumes a run's output: per sink, the last recorded timestamp and its count. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { after, auditConsoleFloor, auditOutputLimitReached, logsFloor, repairLogsTail } from '../../../src/daemon/resume-point.js';
import { LogWriter } from '../../../src/store/log-file.js';
import { AuditWriter, generateSigner } from '../../../src/audit/index.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'moat-resume-'));
  dirs.push(d);
  return d;
}
const ts = (s: number): string => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000000000Z`;
const rec = (s: number, line: string): string => `${JSON.stringify({ ts: ts(s), stream: 'stdout', line })}\n`;

describe('resume points', () => {
  it('after() drops older lines and the first n at the floor, keeps the rest', () => {
    const keep = after({ ts: ts(5), n: 2 });
    expect([ts(4), ts(5), ts(5), ts(5), ts(6)].map(keep)).toEqual([false, false, false, true, true]);
    expect([ts(1)].map(after(undefined))).toEqual([true]);
  });

  it('logs.jsonl: the last timestamp and how many lines share it, across 64 KiB chunks, a torn tail ignored then cut', async () => {
    const file = join(await tmp(), 'logs.jsonl');
    const big = 'x'.repeat(70_000);
    await writeFile(file, rec(1, 'a') + rec(2, big) + rec(3, 'b') + rec(3, big) + rec(3, 'c') + '{"ts":"2026-01-01T00:00:04.0');
    expect(await logsFloor(file)).toEqual({ ts: ts(3), n: 3 });
    expect(await repairLogsTail(file)).toBe('{"ts":"2026-01-01T00:00:04.0'.length);
    expect((await readFile(file, 'utf8')).endsWith(rec(3, 'c'))).toBe(true);
    expect(await logsFloor(join(await tmp(), 'missing.jsonl'))).toBeUndefined();
  });

  it('the audit log: the engine timestamp of its last console entries, other entries skipped', async () => {
    const dir = await tmp();
    const w = await AuditWriter.open(dir, generateSigner());
    w.append('console', { ts: ts(1), stream: 'stdout', line: '1' });
    w.append('console', { ts: ts(2), stream: 'stdout', line: '2' });
    w.append('console', { ts: ts(2), stream: 'stderr', line: '3' });
    w.append('network', { host: 'example.test' });
    await w.close();
    expect(await auditConsoleFloor(join(dir, 'audit.jsonl'))).toEqual({ ts: ts(2), n: 2 });
  });

  it('the pieces of one long line that a rotation split across logs.1.jsonl and logs.jsonl are all counted; the marker is not output', async () => {
    const dir = await tmp();
    const w = await LogWriter.open(dir, 4000);
    await w.append([{ ts: ts(1), stream: 'stdout', line: 'before' }]);
    // 30 pieces of one 3 KB line share its timestamp; the 4000-byte ring rotates (and drops) in between.
    await w.append(
      Array.from({ length: 30 }, (_, i) => ({ ts: ts(2), stream: 'stdout' as const, line: `${String(i).padStart(2, '0')}${'y'.repeat(98)}`, cont: true })),
    );
    const inNew = (await readFile(join(dir, 'logs.jsonl'), 'utf8')).split('\n').filter((l) => l.includes('"cont"')).length;
    const inOld = (await readFile(join(dir, 'logs.1.jsonl'), 'utf8')).split('\n').filter((l) => l.includes('"cont"')).length;
    expect(inNew).toBeLessThan(30); // the rotation did fall inside the line
    expect(inOld).toBeGreaterThan(0);
    expect(await logsFloor(join(dir, 'logs.jsonl'), join(dir, 'logs.1.jsonl'))).toEqual({ ts: ts(2), n: inNew + inOld });
  });

  it('an output-limit entry in the audit log is found, so a daemon that takes the run over records no console line after it', async () => {
    const dir = await tmp();
    const signer = generateSigner();
    const w = await AuditWriter.open(dir, signer);
    w.append('console', { ts: ts(1), stream: 'stdout', line: 'output-limit' }); // the word in output is not the event
    await w.close();
    expect(await auditOutputLimitReached(join(dir, 'audit.jsonl'))).toBe(false);
    const w2 = await AuditWriter.open(dir, signer);
    w2.append('lifecycle', { event: 'output-limit', limit: 1 });
    await w2.close();
    expect(await auditOutputLimitReached(join(dir, 'audit.jsonl'))).toBe(true);
  });
});
