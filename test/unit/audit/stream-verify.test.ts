import { appendFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CHECKPOINTS_FILE,
  ENTRIES_FILE,
  JsonlAuditStore,
  MerkleAccumulator,
  bundleFromStore,
  canonicalJson,
  exportBundle,
  generateSigner,
  leafOfEntry,
  prove,
  signCheckpoint,
  verifyDocumentFile,
  type AuditSigner,
} from '../../../src/audit/index.js';
import { encodeEntryData } from '../../../src/audit/canonical.js';
import { readJsonlLines } from '../../../src/home/jsonl.js';
import { cleanup, sampleEvents, tmpRunDir, writeRun } from './helpers.js';

afterAll(cleanup);

/** A closed run of `n` network entries with `pad` bytes each, written straight to the store's files (fast). */
async function writeBigRun(dir: string, n: number, pad: number, signer: AuditSigner): Promise<void> {
  await mkdir(dir, { recursive: true });
  const acc = new MerkleAccumulator();
  const ts = new Date().toISOString();
  const fill = 'x'.repeat(pad);
  let prev: string | null = null;
  for (let i = 0; i < n; i += 10_000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      const { line, hash } = encodeEntryData(j + 1, ts, 'network', `{"i":${j},"url":"https://denied.test/${j}/${fill}"}`, prev);
      acc.appendLeaf(leafOfEntry(hash));
      prev = hash;
      lines.push(line);
    }
    await appendFile(join(dir, ENTRIES_FILE), `${lines.join('\n')}\n`);
  }
  const cp = signCheckpoint({ runId: basename(dir), count: n, root: acc.root(), ts, final: true }, signer);
  await writeFile(join(dir, CHECKPOINTS_FILE), `${canonicalJson(cp)}\n`);
}

/** V8's longest string: a file larger than this cannot be read with readFile(…, 'utf8'). */
const MAX_STRING = 2 ** 29 - 24;

describe('streaming readers of what a run can grow', () => {
  it('exports and verifies a bundle of a 200,000-entry run, larger than a string can be', async () => {
    const dir = await tmpRunDir('big');
    const signer = generateSigner();
    await writeBigRun(dir, 200_000, 2_500, signer);
    const store = new JsonlAuditStore(dir);
    expect((await stat(store.entriesPath)).size).toBeGreaterThan(MAX_STRING);

    const file = join(dirname(dir), 'bundle.json');
    expect(await exportBundle(store, signer.publicKeyPem, file)).toMatchObject({ entries: 200_000 });
    expect((await stat(file)).size).toBeGreaterThan(MAX_STRING);
    const r = await verifyDocumentFile(file, { key: signer.publicKeyPem });
    expect(r.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(r).toMatchObject({ ok: true, entries: 200_000, kind: 'run' });
  }, 180_000);

  it('verifies a bundle whose entries come before its checkpoints, and catches a tampered one', async () => {
    const dir = await tmpRunDir('small');
    const signer = await writeRun(dir, sampleEvents(30));
    const bundle = await bundleFromStore(new JsonlAuditStore(dir), signer.publicKeyPem);
    const { entries, checkpoints, ...head } = bundle;
    const file = join(dirname(dir), 'reordered.json');
    await writeFile(file, JSON.stringify({ entries, ...head, checkpoints }, null, 2));
    expect(await verifyDocumentFile(file, { key: signer.publicKeyPem })).toMatchObject({ ok: true, entries: 30 });

    const tampered = structuredClone(entries);
    tampered[7]!.data = { i: 'changed' };
    await writeFile(file, JSON.stringify({ ...head, checkpoints, entries: tampered }));
    const bad = await verifyDocumentFile(file, { key: signer.publicKeyPem });
    expect(bad.ok).toBe(false);
    expect(bad.firstFailure).toMatchObject({ problem: 'modified-entry', seq: 8 });

    // A duplicated member, a cut-off file and an element that is not JSON are reported, never skipped.
    await writeFile(file, JSON.stringify({ ...head, checkpoints, entries }).replace('"entries":[', '"entries":[],"entries":['));
    await expect(verifyDocumentFile(file)).rejects.toThrow(/appears twice/);
    const whole = JSON.stringify({ ...head, checkpoints, entries });
    await writeFile(file, whole.slice(0, whole.length - 40));
    await expect(verifyDocumentFile(file)).rejects.toThrow(/is not JSON \(it ends early\)/);
    await writeFile(file, whole.replace(`,${JSON.stringify(entries[3])}`, ',{nope}'));
    expect((await verifyDocumentFile(file, { key: signer.publicKeyPem })).firstFailure?.problem).toBe('modified-entry');
  });

  it('verifies an inclusion proof file', async () => {
    const dir = await tmpRunDir('proof');
    const signer = await writeRun(dir, sampleEvents(9));
    const file = join(dirname(dir), 'proof.json');
    await writeFile(file, JSON.stringify(await prove(new JsonlAuditStore(dir), 4, signer.publicKeyPem), null, 2));
    expect(await verifyDocumentFile(file, { key: signer.publicKeyPem })).toMatchObject({ ok: true, kind: 'proof' });
  });

  it('reads JSONL lines with their end offsets, skips a line too long to hold, and leaves an unterminated tail', async () => {
    const file = join(dirname(await tmpRunDir('lines')), 'n.jsonl');
    await writeFile(file, `{"a":1}\n${'y'.repeat(200_000)}\n{"b":2}\n{"c":`);
    const got: { text: string; end: number }[] = [];
    for await (const l of readJsonlLines(file, { maxLineBytes: 100_000 })) got.push(l);
    expect(got).toEqual([
      { text: '{"a":1}', end: 8 },
      { text: '{"b":2}', end: 8 + 200_001 + 8 },
    ]);
    await appendFile(file, '3}\n');
    const rest: string[] = [];
    for await (const l of readJsonlLines(file, { start: got[1]!.end })) rest.push(l.text);
    expect(rest).toEqual(['{"c":3}']);
  });
});
