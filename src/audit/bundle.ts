import type { KeyObject } from 'node:crypto';
import { entryToLine, isHex64, parseLine, sha256Hex } from './canonical.js';
import { leafOfEntry, rootFromPath } from './merkle.js';
import { checkpointSignatureValid, keyFingerprint, parsePublicKey } from './signing.js';
import type { AuditCheck, AuditEntry, AuditReport, Checkpoint, Problem } from './types.js';
import { emptyCounts, isAuditType } from './types.js';
import { RunVerifier, isCheckpoint } from './verify.js';

export const BUNDLE_FORMAT = 'moat-audit-bundle/1';
export const PROOF_FORMAT = 'moat-audit-proof/1';

/** Everything needed to verify a run offline. `entries` are the stored canonical entry objects. */
export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  runId: string;
  exportedAt: string;
  /** Ed25519 SPKI PEM of the key that signed the checkpoints. */
  publicKey: string;
  keyId: string;
  entries: AuditEntry[];
  checkpoints: Checkpoint[];
}

/** RFC 6962 inclusion proof of one entry against a signed checkpoint. */
export interface InclusionProof {
  format: typeof PROOF_FORMAT;
  runId: string;
  entry: AuditEntry;
  /** 0-based leaf index (= seq - 1). */
  index: number;
  treeSize: number;
  /** Sibling hashes from the leaf up (RFC 6962 PATH order). */
  auditPath: string[];
  checkpoint: Checkpoint;
  publicKey: string;
}

export interface KeyOption {
  /** Trusted public key (PEM or KeyObject). Without it the key embedded in the document is used, unpinned. */
  key?: KeyObject | string;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(name: string, problem: Problem, message: string, seq?: number): AuditCheck {
  return { name, status: 'fail', problem, message, ...(seq === undefined ? {} : { firstFailingSeq: seq }) };
}

/** Resolve the key to verify with, plus the `key` check saying whether it is pinned and matches. */
function resolveKey(embedded: unknown, opts: KeyOption): { key?: KeyObject; check: AuditCheck } {
  let inDoc: KeyObject | undefined;
  try {
    inDoc = typeof embedded === 'string' ? parsePublicKey(embedded) : undefined;
  } catch {
    inDoc = undefined;
  }
  if (opts.key !== undefined) {
    const trusted = typeof opts.key === 'string' ? parsePublicKey(opts.key) : opts.key;
    const want = keyFingerprint(trusted);
    const got = inDoc ? keyFingerprint(inDoc) : 'none';
    const check: AuditCheck =
      got === want
        ? { name: 'key', status: 'ok', message: `signed by the trusted key ${want}` }
        : fail('key', 'wrong-key', `wrong key: the document carries key ${got}, but the trusted key is ${want}`);
    return { key: trusted, check };
  }
  if (!inDoc) return { check: fail('key', 'malformed', 'the document has no valid public key; pass --key') };
  return {
    key: inDoc,
    check: {
      name: 'key',
      status: 'warn',
      message: `not pinned: checked against the key inside the document (${keyFingerprint(inDoc)}); pass --key to pin a trusted key`,
    },
  };
}

function finalize(report: AuditReport, keyCheck: AuditCheck): AuditReport {
  const checks = [keyCheck, ...report.checks];
  const failed = checks.filter((c) => c.status === 'fail');
  const first =
    report.firstFailure ??
    (failed[0]
      ? { problem: failed[0].problem!, message: failed[0].message, ...(failed[0].firstFailingSeq === undefined ? {} : { seq: failed[0].firstFailingSeq }) }
      : undefined);
  const { firstFailure: _drop, ...rest } = report;
  return { ...rest, checks, ok: failed.length === 0, ...(first ? { firstFailure: first } : {}) };
}

export function malformed(kind: 'run' | 'proof', message: string): AuditReport {
  const check = fail('format', 'malformed', message);
  return {
    kind,
    ok: false,
    runId: '',
    entries: 0,
    checkpoints: 0,
    countsByType: emptyCounts(),
    checks: [check],
    firstFailure: { problem: 'malformed', message },
  };
}

/** A bundle verification under way: feed entries in order, then finish(). */
export interface BundleCheck {
  addEntry(e: unknown): void;
  /** An entry as raw JSON text: fed as a stored line when it is one (its hash matches), else parsed. */
  addText(raw: string): void;
  finish(): AuditReport;
}

/**
 * Start verifying a bundle from its head (format, runId, publicKey, checkpoints), before its entries:
 * a streaming reader feeds the entries one by one. A malformed head gives the report at once.
 */
export function startBundleCheck(head: Record<string, unknown>, opts: KeyOption = {}): BundleCheck | AuditReport {
  if (head.format !== BUNDLE_FORMAT) return malformed('run', `not a ${BUNDLE_FORMAT} document`);
  if (!Array.isArray(head.checkpoints) || typeof head.runId !== 'string') return malformed('run', 'bundle lacks entries, checkpoints or runId');
  const { key, check } = resolveKey(head.publicKey, opts);
  if (!key) return malformed('run', check.message);
  const v = new RunVerifier(head.checkpoints as unknown[], key, { runId: head.runId });
  const addText = (raw: string): void => {
    const head = parseLine(raw);
    if (head && sha256Hex(head.body) === head.hash) return v.add(raw);
    let e: unknown = raw;
    try {
      e = JSON.parse(raw) as unknown;
    } catch {
      /* reported by the verifier as a malformed entry at its position */
    }
    v.addEntry(e);
  };
  return { addEntry: (e) => v.addEntry(e), addText, finish: () => finalize(v.finish(), check) };
}

/** Verify an exported bundle (same checks as a local run, plus the key check). */
export async function verifyBundle(bundle: unknown, opts: KeyOption = {}): Promise<AuditReport> {
  if (!isObj(bundle) || bundle.format !== BUNDLE_FORMAT) return malformed('run', `not a ${BUNDLE_FORMAT} document`);
  if (!Array.isArray(bundle.entries)) return malformed('run', 'bundle lacks entries, checkpoints or runId');
  const started = startBundleCheck(bundle, opts);
  if (!('addEntry' in started)) return started;
  for (const e of bundle.entries as unknown[]) started.addEntry(e);
  return started.finish();
}

/** Verify an inclusion proof: entry hash, audit path to the signed root, checkpoint signature, key. */
export function verifyProof(proof: unknown, opts: KeyOption = {}): AuditReport {
  if (!isObj(proof) || proof.format !== PROOF_FORMAT) return malformed('proof', `not a ${PROOF_FORMAT} document`);
  const { key, check } = resolveKey(proof.publicKey, opts);
  if (!key) return malformed('proof', check.message);
  const { index, treeSize, auditPath, checkpoint: cp, runId } = proof;
  let line = '';
  try {
    line = entryToLine(proof.entry);
  } catch {
    /* reported below */
  }
  const head = parseLine(line);
  const checks: AuditCheck[] = [];
  const counts = emptyCounts();
  let leafHash: string | undefined;
  if (!head || !isAuditType(head.type) || sha256Hex(head.body) !== head.hash) {
    checks.push(fail('entry', 'modified-entry', 'modified entry: the entry does not match its hash', head?.seq));
  } else {
    counts[head.type] = 1;
    leafHash = leafOfEntry(head.hash);
    checks.push({ name: 'entry', status: 'ok', message: `entry seq ${head.seq} matches its hash` });
  }
  const pathOk = Array.isArray(auditPath) && auditPath.every(isHex64);
  if (!isCheckpoint(cp)) {
    checks.push(fail('signatures', 'malformed', 'the proof has no well-formed checkpoint'));
  } else if (cp.runId !== runId) {
    checks.push(fail('signatures', 'wrong-run', `the checkpoint belongs to run ${cp.runId}, not ${String(runId)}`));
  } else if (cp.keyId !== keyFingerprint(key)) {
    checks.push(fail('signatures', 'wrong-key', `wrong key: the checkpoint was signed by ${cp.keyId}, expected ${keyFingerprint(key)}`));
  } else if (!checkpointSignatureValid(cp, key)) {
    checks.push(fail('signatures', 'bad-signature', 'bad signature on the checkpoint'));
  } else {
    checks.push({ name: 'signatures', status: 'ok', message: `checkpoint (count ${cp.count}) signed by ${cp.keyId}` });
  }
  if (!leafHash || !pathOk || !isCheckpoint(cp) || typeof index !== 'number' || typeof treeSize !== 'number') {
    checks.push(fail('inclusion', 'bad-proof', 'the proof is incomplete or malformed'));
  } else if (head && index !== head.seq - 1) {
    checks.push(fail('inclusion', 'bad-proof', `the proof is for leaf ${index}, but the entry is seq ${head.seq}`, head.seq));
  } else if (treeSize !== cp.count) {
    checks.push(fail('inclusion', 'bad-proof', `the proof is for a tree of ${treeSize} entries, the checkpoint signs ${cp.count}`));
  } else if (rootFromPath(leafHash, index, treeSize, auditPath as string[]) !== cp.root) {
    checks.push(fail('inclusion', 'bad-proof', 'the audit path does not lead to the signed root', head?.seq));
  } else {
    checks.push({ name: 'inclusion', status: 'ok', message: `entry is leaf ${index} of the signed tree of ${treeSize}` });
  }
  const report: AuditReport = {
    kind: 'proof',
    ok: true,
    runId: typeof runId === 'string' ? runId : '',
    entries: head ? 1 : 0,
    checkpoints: isCheckpoint(cp) ? 1 : 0,
    countsByType: counts,
    checks,
    keyId: keyFingerprint(key),
  };
  return finalize(report, check);
}

/** `moat audit verify` accepts either document. */
export async function verifyDocument(doc: unknown, opts: KeyOption = {}): Promise<AuditReport> {
  if (isObj(doc) && doc.format === PROOF_FORMAT) return verifyProof(doc, opts);
  return verifyBundle(doc, opts);
}
