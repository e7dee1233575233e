import { readFile, stat, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditStore, Checkpoint } from '../../../src/audit/index.js';
import { AuditWriter, JsonlAuditStore, decodeEntry, encodeEntry, generateSigner } from '../../../src/audit/index.js';
import { MoatError } from '../../../src/errors.js';
import { cleanup, readLines, sampleEvents, tmpRunDir, verifyDir, writeRun } from './helpers.js';

afterEach(cleanup);

/** A JSONL store that counts writes. */
class CountingStore extends JsonlAuditStore {
  appends = 0;
  override async appendEntries(text: string): Promise<void> {
    this.appends += 1;
    await super.appendEntries(text);
  }
}

describe('AuditWriter', () => {
  it('writes a chained, checkpointed log that verifies', async () => {
    const dir = await tmpRunDir();
    const signer = await writeRun(dir, sampleEvents(23), generateSigner(), 5);
    const lines = await readLines(join(dir, 'audit.jsonl'));
    expect(lines).toHaveLength(23);
    const entries = lines.map(decodeEntry);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(entries[0]!.prev).toBeNull();
    entries.slice(1).forEach((e, i) => expect(e.prev).toBe(entries[i]!.hash));
    const cps = (await readLines(join(dir, 'audit-checkpoints.jsonl'))).map((l) => JSON.parse(l) as Checkpoint);
    expect(cps.map((c) => [c.count, c.final])).toEqual([
      [5, false],
      [10, false],
      [15, false],
      [20, false],
      [23, true],
    ]);
    const report = await verifyDir(dir, signer);
    expect(report.ok).toBe(true);
    expect(report.countsByType).toMatchObject({ lifecycle: 4, console: 4, network: 3, ssh: 3 });
    expect((await stat(join(dir, 'audit.jsonl'))).mode & 0o777).toBe(0o600);
  });

  it('append returns at once and batches into one fs append', async () => {
    const dir = await tmpRunDir();
    const store = new CountingStore(dir);
    const w = await AuditWriter.open(dir, generateSigner(), { store, flushMs: 10_000, maxBatch: 100_000 });
    for (let i = 0; i < 5000; i++) expect(w.append('network', { i })).toBe(i + 1);
    expect(store.appends).toBe(0);
    await w.flush();
    expect(store.appends).toBe(1);
    await w.close();
    expect(await readLines(join(dir, 'audit.jsonl'))).toHaveLength(5000);
  });

  it('flushes on a timer and when the batch is full', async () => {
    const dir = await tmpRunDir();
    const store = new CountingStore(dir);
    const w = await AuditWriter.open(dir, generateSigner(), { store, flushMs: 5, maxBatch: 10 });
    w.append('console', { line: 'a' });
    await new Promise((r) => setTimeout(r, 60));
    expect(store.appends).toBe(1);
    for (let i = 0; i < 10; i++) w.append('console', { i });
    await new Promise((r) => setTimeout(r, 30));
    expect(store.appends).toBe(2);
    await w.close();
  });

  it('signs a checkpoint when T has passed since the last one', async () => {
    const dir = await tmpRunDir();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const w = await AuditWriter.open(dir, generateSigner(), { now: () => new Date(now), checkpointMs: 60_000, checkpointEvery: 1e9 });
    w.append('console', { a: 1 });
    await w.flush();
    now += 61_000;
    w.append('console', { a: 2 });
    await w.flush();
    const cps = (await readLines(join(dir, 'audit-checkpoints.jsonl'))).map((l) => JSON.parse(l) as Checkpoint);
    expect(cps.map((c) => c.count)).toEqual([2]);
    await w.close();
  });

  it('resumes seq, chain and Merkle state after reopen', async () => {
    const dir = await tmpRunDir();
    const signer = await writeRun(dir, sampleEvents(7));
    const w = await AuditWriter.open(dir, signer);
    expect(w.count).toBe(7);
    expect(w.append('lifecycle', { event: 'resumed' })).toBe(8);
    await w.close();
    const entries = (await readLines(join(dir, 'audit.jsonl'))).map(decodeEntry);
    expect(entries[7]!.prev).toBe(entries[6]!.hash);
    const report = await verifyDir(dir, signer);
    expect(report.ok).toBe(true);
    expect(report.entries).toBe(8);
  });

  it('drops a torn last line on reopen and records the recovery', async () => {
    const dir = await tmpRunDir();
    const signer = await writeRun(dir, sampleEvents(3));
    await appendFile(join(dir, 'audit.jsonl'), '{"data":{"half');
    const w = await AuditWriter.open(dir, signer);
    await w.close();
    const entries = (await readLines(join(dir, 'audit.jsonl'))).map(decodeEntry);
    expect(entries.at(-1)).toMatchObject({ seq: 4, type: 'lifecycle', data: { event: 'audit-recovered', tornBytes: 14 } });
    expect((await verifyDir(dir, signer)).ok).toBe(true);
  });

  it('refuses to append to a damaged log', async () => {
    const dir = await tmpRunDir();
    const signer = await writeRun(dir, sampleEvents(3));
    const path = join(dir, 'audit.jsonl');
    await writeFile(path, (await readFile(path, 'utf8')).replace('event 1', 'event X'));
    await expect(AuditWriter.open(dir, signer)).rejects.toThrow(/damaged at seq 2/);
  });

  it('never re-signs a log that was truncated or rewritten after its last checkpoint', async () => {
    const dir = await tmpRunDir();
    const signer = await writeRun(dir, sampleEvents(6));
    const path = join(dir, 'audit.jsonl');
    const lines = await readLines(path);
    await writeFile(
      path,
      lines
        .slice(0, 4)
        .map((l) => `${l}\n`)
        .join(''),
    );
    await expect(AuditWriter.open(dir, signer)).rejects.toThrow(/damaged at seq 5 \(its last checkpoint signs 6 entries\)/);
    const last = decodeEntry(lines[5]!);
    const forged = encodeEntry(6, last.ts, last.type, { forged: true }, last.prev).line;
    await writeFile(path, [...lines.slice(0, 5), forged].map((l) => `${l}\n`).join(''));
    await expect(AuditWriter.open(dir, signer)).rejects.toThrow(/does not match its last checkpoint/);
  });

  it("allows one writer per run at a time and takes over a dead writer's lock", async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    const w = await AuditWriter.open(dir, signer);
    const second = AuditWriter.open(dir, signer, { lockWaitMs: 0 });
    await expect(second).rejects.toBeInstanceOf(MoatError);
    await expect(AuditWriter.open(dir, signer, { lockWaitMs: 0 })).rejects.toThrow(/being written by process/);
    await w.close();
    await writeFile(join(dir, 'audit.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), since: '' }));
    const w2 = await AuditWriter.open(dir, signer, { lockWaitMs: 0 });
    w2.append('console', { ok: true });
    await w2.close();
    expect((await verifyDir(dir, signer)).ok).toBe(true);
  });

  it('hands the log over to a waiting opener', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    const cli = await AuditWriter.open(dir, signer);
    cli.append('lifecycle', { event: 'created' });
    const daemon = AuditWriter.open(dir, signer, { lockWaitMs: 2_000 });
    await new Promise((r) => setTimeout(r, 50));
    await cli.close();
    const d = await daemon;
    d.append('network', { host: 'example.com' });
    await d.close();
    const report = await verifyDir(dir, signer);
    expect(report.ok).toBe(true);
    expect(report.entries).toBe(2);
  });

  it('rejects appends after close and retries a failed batch', async () => {
    const dir = await tmpRunDir();
    let fail = true;
    const store: AuditStore = Object.assign(new JsonlAuditStore(dir), {});
    const real = store.appendEntries.bind(store);
    store.appendEntries = async (text: string) => {
      if (fail) throw new Error('disk full');
      await real(text);
    };
    const w = await AuditWriter.open(dir, generateSigner(), { store, flushMs: 10_000 });
    w.append('console', { a: 1 });
    await expect(w.flush()).rejects.toThrow(/disk full/);
    fail = false;
    await w.close();
    expect(await readLines(join(dir, 'audit.jsonl'))).toHaveLength(1);
    expect(() => w.append('console', {})).toThrow(/closed/);
  });
});
