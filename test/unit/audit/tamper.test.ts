import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditBundle, AuditReport, AuditSigner, Checkpoint } from '../../../src/audit/index.js';
import { JsonlAuditStore, bundleFromStore, canonicalJson, encodeEntry, generateSigner, signCheckpoint, verifyBundle } from '../../../src/audit/index.js';
import { cleanup, failed, readLines, sampleEvents, tmpRunDir, verifyDir, writeLines, writeRun } from './helpers.js';

/**
 * Every tamper is applied twice: to the files of a stored run, and to an exported bundle. Each must be
 * detected, with the failing check, the named problem and the first failing seq.
 */
interface Logs {
  entries: string[];
  checkpoints: string[];
}
interface Tamper {
  name: string;
  apply(l: Logs, signer: AuditSigner, other: AuditSigner): void;
  problem: string;
  seq?: number;
}

const N = 20; // checkpoints at 5, 10, 15, 20 and final at 20

function reforge(entries: string[], at: number, mutate: (data: Record<string, unknown>) => void): void {
  const e = JSON.parse(entries[at - 1]!) as { seq: number; ts: string; type: 'console'; data: Record<string, unknown>; prev: string | null };
  mutate(e.data);
  entries[at - 1] = encodeEntry(e.seq, e.ts, e.type, e.data as never, e.prev).line;
}

function resign(cpLines: string[], signer: AuditSigner): string[] {
  return cpLines.map((l) => {
    const { sig: _s, keyId: _k, ...body } = JSON.parse(l) as Checkpoint;
    return canonicalJson(signCheckpoint(body, signer));
  });
}

const tampers: Tamper[] = [
  {
    name: 'change one byte of an entry',
    problem: 'modified-entry',
    seq: 7,
    apply: (l) => {
      l.entries[6] = l.entries[6]!.replace('event 6', 'event 9');
    },
  },
  {
    name: 'modify an entry and recompute its hash',
    problem: 'modified-entry',
    seq: 7,
    apply: (l) =>
      reforge(l.entries, 7, (d) => {
        d.text = 'rewritten';
      }),
  },
  {
    name: 'delete an entry',
    problem: 'deleted-entry',
    seq: 9,
    apply: (l) => {
      l.entries.splice(8, 1);
    },
  },
  {
    name: 'swap two entries',
    problem: 'reordered',
    seq: 3,
    apply: (l) => {
      [l.entries[2], l.entries[11]] = [l.entries[11]!, l.entries[2]!];
    },
  },
  {
    name: 'truncate the tail after a checkpoint',
    problem: 'truncated',
    seq: 14,
    apply: (l) => {
      l.entries.length = 13;
    },
  },
  {
    name: 'append a forged entry',
    problem: 'forged-append',
    seq: 21,
    apply: (l) => {
      const last = JSON.parse(l.entries.at(-1)!) as { hash: string };
      l.entries.push(encodeEntry(21, '2030-01-01T00:00:00.000Z', 'network', { host: 'evil.example' }, last.hash).line);
    },
  },
  {
    name: 'replace a checkpoint signature',
    problem: 'bad-signature',
    apply: (l) => {
      const cp = JSON.parse(l.checkpoints[1]!) as Checkpoint;
      const other = JSON.parse(l.checkpoints[2]!) as Checkpoint;
      l.checkpoints[1] = canonicalJson({ ...cp, sig: other.sig });
    },
  },
  {
    name: 'raise a checkpoint count without re-signing',
    problem: 'bad-signature',
    apply: (l) => {
      l.checkpoints[0] = canonicalJson({ ...(JSON.parse(l.checkpoints[0]!) as Checkpoint), count: 3 });
    },
  },
  {
    name: "sign with another machine's key",
    problem: 'wrong-key',
    apply: (l, _s, other) => {
      l.checkpoints = resign(l.checkpoints, other);
    },
  },
  {
    name: 'rewrite the whole chain after an entry',
    problem: 'root-mismatch',
    seq: 1,
    apply: (l) => {
      // A consistent new chain from seq 2 on: only the signed Merkle roots can tell.
      let prev = (JSON.parse(l.entries[0]!) as { hash: string }).hash;
      for (let i = 1; i < l.entries.length; i++) {
        const e = JSON.parse(l.entries[i]!) as { seq: number; ts: string; type: 'console'; data: Record<string, never> };
        const enc = encodeEntry(e.seq, e.ts, e.type, i === 3 ? ({ forged: true } as never) : e.data, prev);
        l.entries[i] = enc.line;
        prev = enc.hash;
      }
    },
  },
];

let signer: AuditSigner;
const other = generateSigner();
let pristine: Logs;
let bundle: AuditBundle;

beforeAll(async () => {
  const dir = await tmpRunDir();
  signer = await writeRun(dir, Array.from(sampleEvents(N)), generateSigner(), 5);
  pristine = { entries: await readLines(join(dir, 'audit.jsonl')), checkpoints: await readLines(join(dir, 'audit-checkpoints.jsonl')) };
  bundle = await bundleFromStore(new JsonlAuditStore(dir), signer.publicKeyPem);
});
afterAll(cleanup);

function expectDetected(report: AuditReport, t: Tamper): void {
  expect(report.ok).toBe(false);
  expect(report.firstFailure?.problem).toBe(t.problem);
  if (t.seq !== undefined) expect(report.firstFailure?.seq).toBe(t.seq);
  expect(failed(report).length).toBeGreaterThan(0);
}

describe('tampering with a stored run', () => {
  it('the untouched run verifies', async () => {
    const dir = await tmpRunDir('run-1');
    await writeLines(join(dir, 'audit.jsonl'), pristine.entries);
    await writeLines(join(dir, 'audit-checkpoints.jsonl'), pristine.checkpoints);
    const report = await verifyDir(dir, signer);
    expect(failed(report)).toEqual([]);
    expect(report.entries).toBe(N);
  });

  it.each(tampers)('detects: $name', async (t) => {
    const logs = { entries: [...pristine.entries], checkpoints: [...pristine.checkpoints] };
    t.apply(logs, signer, other);
    const dir = await tmpRunDir('run-1');
    await writeLines(join(dir, 'audit.jsonl'), logs.entries);
    await writeLines(join(dir, 'audit-checkpoints.jsonl'), logs.checkpoints);
    expectDetected(await verifyDir(dir, signer), t);
  });

  it('a log cut to nothing is still caught by its checkpoints', async () => {
    const dir = await tmpRunDir('run-1');
    await writeLines(join(dir, 'audit.jsonl'), []);
    await writeLines(join(dir, 'audit-checkpoints.jsonl'), pristine.checkpoints);
    expect((await verifyDir(dir, signer)).firstFailure).toMatchObject({ problem: 'truncated', seq: 1 });
  });
});

describe('tampering with an exported bundle', () => {
  const tamperBundle = (t: Tamper): AuditBundle => {
    const logs = { entries: bundle.entries.map((e) => canonicalJson(e)), checkpoints: bundle.checkpoints.map((c) => canonicalJson(c)) };
    t.apply(logs, signer, other);
    const copy = JSON.parse(JSON.stringify(bundle)) as AuditBundle;
    copy.entries = logs.entries.map((l) => JSON.parse(l) as AuditBundle['entries'][number]);
    copy.checkpoints = logs.checkpoints.map((l) => JSON.parse(l) as Checkpoint);
    return copy;
  };

  it('the untouched bundle verifies, pinned and unpinned', async () => {
    const pinned = await verifyBundle(bundle, { key: signer.publicKeyPem });
    expect(pinned.ok).toBe(true);
    expect(pinned.checks.find((c) => c.name === 'key')?.status).toBe('ok');
    const unpinned = await verifyBundle(JSON.parse(JSON.stringify(bundle)));
    expect(unpinned.ok).toBe(true);
    expect(unpinned.checks.find((c) => c.name === 'key')?.status).toBe('warn');
  });

  it.each(tampers)('detects: $name', async (t) => {
    expectDetected(await verifyBundle(tamperBundle(t), { key: signer.publicKeyPem }), t);
  });

  it('a bundle re-signed and re-keyed by another machine fails against the pinned key', async () => {
    const forged = tamperBundle(tampers.find((t) => t.problem === 'wrong-key')!);
    forged.publicKey = other.publicKeyPem;
    forged.keyId = other.keyId;
    expect((await verifyBundle(forged)).ok).toBe(true); // self-consistent, which is why --key exists
    const pinned = await verifyBundle(forged, { key: signer.publicKeyPem });
    expect(pinned.ok).toBe(false);
    expect(pinned.firstFailure?.problem).toBe('wrong-key');
  });

  it('rejects documents that are not bundles', async () => {
    expect((await verifyBundle({ format: 'nope' })).firstFailure?.problem).toBe('malformed');
    expect((await verifyBundle({ ...bundle, entries: 'x' })).ok).toBe(false);
  });
});
