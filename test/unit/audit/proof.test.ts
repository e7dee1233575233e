import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSigner, InclusionProof } from '../../../src/audit/index.js';
import { AuditWriter, JsonlAuditStore, generateSigner, prove, signCheckpoint, verifyDocument, verifyProof } from '../../../src/audit/index.js';
import { cleanup, sampleEvents, tmpRunDir, writeRun } from './helpers.js';

let dir: string;
let signer: AuditSigner;
const N = 13;

beforeAll(async () => {
  dir = await tmpRunDir();
  signer = await writeRun(dir, sampleEvents(N), generateSigner(), 4);
});
afterAll(cleanup);

const clone = (p: InclusionProof): InclusionProof => JSON.parse(JSON.stringify(p)) as InclusionProof;

describe('inclusion proofs', () => {
  it('round-trips for every entry against the final signed root', async () => {
    const store = new JsonlAuditStore(dir);
    for (let seq = 1; seq <= N; seq++) {
      const proof = clone(await prove(store, seq, signer.publicKeyPem));
      expect(proof).toMatchObject({ index: seq - 1, treeSize: N, checkpoint: { count: N, final: true } });
      const report = verifyProof(proof, { key: signer.publicKeyPem });
      expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
      expect(report.ok).toBe(true);
      expect((await verifyDocument(proof, { key: signer.publicKeyPem })).kind).toBe('proof');
    }
  });

  it('rejects tampered proofs, each for its reason', async () => {
    const proof = await prove(new JsonlAuditStore(dir), 6, signer.publicKeyPem);
    const cases: [string, (p: InclusionProof) => void, string][] = [
      [
        'entry data changed',
        (p) => {
          p.entry.data.text = 'other';
        },
        'modified-entry',
      ],
      [
        'entry swapped for another one with its own hash',
        (p) => {
          p.index = 4;
        },
        'bad-proof',
      ],
      [
        'audit path element changed',
        (p) => {
          p.auditPath[1] = p.auditPath[0]!;
        },
        'bad-proof',
      ],
      [
        'audit path shortened',
        (p) => {
          p.auditPath.pop();
        },
        'bad-proof',
      ],
      [
        'tree size changed',
        (p) => {
          p.treeSize = 12;
        },
        'bad-proof',
      ],
      [
        'root changed',
        (p) => {
          p.checkpoint.root = p.auditPath[0]!;
        },
        'bad-signature',
      ],
      [
        'signature replaced',
        (p) => {
          p.checkpoint.sig = Buffer.alloc(64, 1).toString('base64');
        },
        'bad-signature',
      ],
      [
        'malformed path',
        (p) => {
          p.auditPath[0] = 'zz';
        },
        'bad-proof',
      ],
    ];
    for (const [name, mutate, problem] of cases) {
      const p = clone(proof);
      mutate(p);
      const report = verifyProof(p, { key: signer.publicKeyPem });
      expect(report.ok, name).toBe(false);
      expect(
        report.checks.map((c) => c.problem),
        name,
      ).toContain(problem);
    }
  });

  it('rejects a proof re-signed with another key when the key is pinned', async () => {
    const other = generateSigner();
    const p = clone(await prove(new JsonlAuditStore(dir), 2, signer.publicKeyPem));
    const { sig: _s, keyId: _k, ...body } = p.checkpoint;
    p.checkpoint = signCheckpoint(body, other);
    p.publicKey = other.publicKeyPem;
    expect(verifyProof(p).ok).toBe(true);
    const pinned = verifyProof(p, { key: signer.publicKeyPem });
    expect(pinned.ok).toBe(false);
    expect(pinned.firstFailure?.problem).toBe('wrong-key');
  });

  it('refuses to prove what is not there or not yet signed', async () => {
    const store = new JsonlAuditStore(dir);
    await expect(prove(store, N + 1, signer.publicKeyPem)).rejects.toThrow(/no entry/);
    await expect(prove(store, 0, signer.publicKeyPem)).rejects.toThrow(/no entry/);
    const live = await tmpRunDir();
    const w = await AuditWriter.open(live, signer, { flushMs: 10_000 });
    w.append('console', { a: 1 });
    await w.flush();
    await expect(prove(new JsonlAuditStore(live), 1, signer.publicKeyPem)).rejects.toThrow(/not covered by a signed checkpoint/);
    await w.close();
    expect(verifyProof(await prove(new JsonlAuditStore(live), 1, signer.publicKeyPem)).ok).toBe(true);
  });
});
