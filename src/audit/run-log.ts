import type { KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { MoatError } from '../errors.js';
import type { AuditBundle, InclusionProof } from './bundle.js';
import { BUNDLE_FORMAT, PROOF_FORMAT } from './bundle.js';
import { canonicalJson, decodeEntry, parseLine, sha256Hex } from './canonical.js';
import { auditPath, leafOfEntry, treeHead } from './merkle.js';
import { keyFingerprint } from './signing.js';
import type { AuditStore } from './store.js';
import { JsonlAuditStore, activeWriter } from './store.js';
import type { AuditEntry, AuditReport, AuditType, Checkpoint } from './types.js';
import type { VerifyOptions } from './verify.js';
import { RunVerifier, isCheckpoint } from './verify.js';

/** Verify a stored run, streaming its entries. A live writer (held lock) turns an unsigned tail into a warning. */
export async function verifyStore(store: AuditStore, publicKey: KeyObject, opts: VerifyOptions = {}): Promise<AuditReport> {
  const inProgress = opts.inProgress ?? (store instanceof JsonlAuditStore ? (await activeWriter(store.dir)) !== undefined : false);
  const v = new RunVerifier(await store.readCheckpoints(), publicKey, { runId: store.runId, ...opts, inProgress });
  for await (const lines of store.readEntryLines()) for (const line of lines) v.add(line);
  return v.finish();
}

/** Entries for a listing, optionally of some types only. Lines that do not parse are skipped. */
export async function* listEntries(store: AuditStore, types?: readonly AuditType[]): AsyncIterable<AuditEntry> {
  for await (const lines of store.readEntryLines()) {
    for (const line of lines) {
      const head = parseLine(line);
      if (!head || (types && !types.includes(head.type as AuditType))) continue;
      try {
        yield decodeEntry(line);
      } catch {
        /* skipped; `moat audit` reports it */
      }
    }
  }
}

/** The whole run as an in-memory bundle (tests, small runs). */
export async function bundleFromStore(store: AuditStore, publicKeyPem: string, now = new Date()): Promise<AuditBundle> {
  const entries: AuditEntry[] = [];
  for await (const lines of store.readEntryLines()) for (const line of lines) entries.push(JSON.parse(line) as AuditEntry);
  return {
    format: BUNDLE_FORMAT,
    runId: store.runId,
    exportedAt: now.toISOString(),
    publicKey: publicKeyPem,
    keyId: keyFingerprint(publicKeyPem),
    entries,
    checkpoints: (await store.readCheckpoints()) as Checkpoint[],
  };
}

/**
 * Stream a bundle to `file` (stored lines are copied verbatim: each is already the canonical JSON object).
 * Lines that are not JSON are exported as strings, so the verifier still sees and reports them.
 */
export async function exportBundle(store: AuditStore, publicKeyPem: string, file: string, now = new Date()): Promise<{ entries: number; checkpoints: number }> {
  await mkdir(dirname(file), { recursive: true });
  const out = createWriteStream(file, { mode: 0o644 });
  const write = (s: string): Promise<void> | void => {
    if (!out.write(s)) return new Promise((r) => out.once('drain', () => r()));
  };
  const checkpoints = await store.readCheckpoints();
  const head = { format: BUNDLE_FORMAT, runId: store.runId, exportedAt: now.toISOString(), publicKey: publicKeyPem, keyId: keyFingerprint(publicKeyPem) };
  await write(`${JSON.stringify(head).slice(0, -1)},\n"checkpoints":${JSON.stringify(checkpoints)},\n"entries":[`);
  let n = 0;
  for await (const lines of store.readEntryLines()) {
    for (const line of lines) {
      let json = line;
      try {
        JSON.parse(line);
      } catch {
        json = JSON.stringify(line);
      }
      await write(`${n++ === 0 ? '\n' : ',\n'}${json}`);
    }
  }
  out.end('\n]}\n');
  await finished(out);
  return { entries: n, checkpoints: checkpoints.length };
}

/** Inclusion proof for entry `seq` against the latest signed checkpoint that covers it. */
export async function prove(store: AuditStore, seq: number, publicKeyPem: string): Promise<InclusionProof> {
  const leaves: string[] = [];
  let entryLine: string | undefined;
  for await (const lines of store.readEntryLines()) {
    for (const line of lines) {
      const h = parseLine(line);
      leaves.push(leafOfEntry(h ? sha256Hex(h.body) : sha256Hex(line)));
      if (leaves.length === seq) entryLine = line;
    }
  }
  if (!Number.isSafeInteger(seq) || seq < 1 || entryLine === undefined) {
    throw new MoatError(`run ${store.runId} has no entry ${seq} (it has ${leaves.length})`, { code: 'E_NOT_FOUND' });
  }
  const cp = (await store.readCheckpoints())
    .filter(isCheckpoint)
    .filter((c) => c.count >= seq)
    .at(-1);
  if (!cp) {
    throw new MoatError(`entry ${seq} of run ${store.runId} is not covered by a signed checkpoint yet`, {
      code: 'E_CONFLICT',
      hint: 'prove it after the run ends',
    });
  }
  if (cp.count > leaves.length || treeHead(leaves, 0, cp.count) !== cp.root) {
    throw new MoatError(`the log of run ${store.runId} does not match its checkpoint of ${cp.count} entries`, {
      code: 'E_AUDIT',
      hint: `moat audit ${store.runId}`,
    });
  }
  const entry = decodeEntry(entryLine);
  if (canonicalJson(entry) !== entryLine) throw new MoatError(`entry ${seq} of run ${store.runId} is not canonical`, { code: 'E_AUDIT' });
  return {
    format: PROOF_FORMAT,
    runId: store.runId,
    entry,
    index: seq - 1,
    treeSize: cp.count,
    auditPath: auditPath(leaves.slice(0, cp.count), seq - 1),
    checkpoint: cp,
    publicKey: publicKeyPem,
  };
}
