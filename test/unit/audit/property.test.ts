import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditType, JsonObject } from '../../../src/audit/index.js';
import { AUDIT_TYPES, AuditWriter, emptyCounts, encodeEntry, generateSigner } from '../../../src/audit/index.js';
import { cleanup, tmpRunDir, verifyDir } from './helpers.js';

afterAll(cleanup);

const signer = generateSigner();
const event = fc.tuple(fc.constantFrom(...AUDIT_TYPES), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) as fc.Arbitrary<JsonObject>);
const run = fc.record({
  events: fc.array(event, { minLength: 1, maxLength: 30 }),
  every: fc.integer({ min: 1, max: 12 }),
  flushEach: fc.boolean(),
});

async function write(events: [AuditType, JsonObject][], every: number, flushEach: boolean): Promise<string> {
  const dir = await tmpRunDir();
  const w = await AuditWriter.open(dir, signer, { checkpointEvery: every, flushMs: 1_000 });
  for (const [type, data] of events) {
    w.append(type, data);
    if (flushEach) await w.flush();
  }
  await w.close();
  return dir;
}

const splitLines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0);
const joinLines = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

type Mutation =
  | { kind: 'entryByte' | 'checkpointByte'; at: number; xor: number }
  | { kind: 'delete' | 'duplicate' | 'truncate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'forge' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('entryByte' as const, 'checkpointByte' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'duplicate' as const, 'truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('forge' as const) }),
);

async function mutate(dir: string, m: Mutation): Promise<void> {
  const ePath = join(dir, 'audit.jsonl');
  const cPath = join(dir, 'audit-checkpoints.jsonl');
  if (m.kind === 'entryByte' || m.kind === 'checkpointByte') {
    const path = m.kind === 'entryByte' ? ePath : cPath;
    const bytes = await readFile(path);
    bytes[m.at % bytes.length]! ^= m.xor;
    await writeFile(path, bytes);
    return;
  }
  const lines = splitLines(await readFile(ePath, 'utf8'));
  const n = lines.length;
  switch (m.kind) {
    case 'delete':
      lines.splice(m.at % n, 1);
      break;
    case 'duplicate':
      lines.splice(m.at % n, 0, lines[m.at % n]!);
      break;
    case 'truncate':
      lines.length = m.at % n;
      break;
    case 'swap': {
      const i = m.at % n;
      const j = (i + 1 + (m.with % Math.max(1, n - 1))) % n;
      if (i === j) {
        lines.splice(i, 1);
        break;
      } // a single-entry log: deletion instead
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      break;
    }
    case 'forge': {
      const last = JSON.parse(lines[n - 1]!) as { hash: string; seq: number };
      lines.push(encodeEntry(last.seq + 1, '2030-01-01T00:00:00.000Z', 'network', { forged: true }, last.hash).line);
      break;
    }
  }
  await writeFile(ePath, joinLines(lines));
}

describe('properties', () => {
  it('any sequence of events verifies, with exact counts by type', async () => {
    await fc.assert(
      fc.asyncProperty(run, async ({ events, every, flushEach }) => {
        const report = await verifyDir(await write(events, every, flushEach), signer);
        const counts = emptyCounts();
        for (const [type] of events) counts[type] += 1;
        expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
        expect(report.ok).toBe(true);
        expect(report.countsByType).toEqual(counts);
      }),
      { numRuns: 40 },
    );
  });

  it('any single mutation of the stored log is detected', async () => {
    await fc.assert(
      fc.asyncProperty(run, mutation, async ({ events, every, flushEach }, m) => {
        const dir = await write(events, every, flushEach);
        await mutate(dir, m);
        const report = await verifyDir(dir, signer);
        expect(report.ok).toBe(false);
        expect(report.firstFailure).toBeDefined();
      }),
      { numRuns: 150 },
    );
  });
});
