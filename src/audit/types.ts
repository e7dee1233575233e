/** Shapes of the audit log. See ./index.ts for the design notes (storage, hashing, Merkle, signing). */

export const AUDIT_TYPES = ['lifecycle', 'console', 'network', 'credential', 'secret', 'policy', 'ssh'] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One log entry. `hash` = sha256 hex of the canonical encoding of `{data, prev, seq, ts, type}`. */
export interface AuditEntry {
  seq: number;
  ts: string;
  type: AuditType;
  data: JsonObject;
  /** Hash of entry `seq - 1`; null for seq 1. */
  prev: string | null;
  hash: string;
}

/** The signed part of a checkpoint: canonical bytes of this object are what Ed25519 signs. */
export interface CheckpointBody {
  runId: string;
  /** Number of entries covered (entries 1..count). */
  count: number;
  /** RFC 6962 Merkle tree head (hex) over the first `count` entries. */
  root: string;
  ts: string;
  /** True for the checkpoint written by close(): no entry may follow it. */
  final: boolean;
}

/** A checkpoint as stored in audit-checkpoints.jsonl. */
export interface Checkpoint extends CheckpointBody {
  /** Base64 Ed25519 signature over canonical(CheckpointBody). */
  sig: string;
  /** Fingerprint of the signing public key: `SHA256:` + base64url(sha256(SPKI DER)). */
  keyId: string;
}

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';

/** What a failing check found, named. */
export type Problem =
  | 'malformed'
  | 'modified-entry'
  | 'deleted-entry'
  | 'reordered'
  | 'truncated'
  | 'forged-append'
  | 'unsigned-tail'
  | 'root-mismatch'
  | 'bad-signature'
  | 'wrong-key'
  | 'wrong-run'
  | 'no-checkpoint'
  | 'incomplete'
  | 'bad-proof';

export interface AuditCheck {
  name: string;
  status: CheckStatus;
  /** Human-readable: what was checked, or for a failure what is wrong. */
  message: string;
  problem?: Problem;
  firstFailingSeq?: number;
}

/**
 * How whole a run's record is:
 * - `complete`: a final checkpoint signs every entry, closed by the writer that kept the log.
 * - `complete-with-recovery`: likewise, but a writer died on the way and a later one closed the log for it
 *   with a `recovered` lifecycle entry that says what is missing (a warning; `ok` stays true).
 * - `in-progress`: a live writer holds the log; entries after the last checkpoint are not signed yet.
 * - `incomplete`: a check failed, or no final checkpoint closes a log nobody writes any more (`ok` false).
 */
export type Completeness = 'complete' | 'complete-with-recovery' | 'in-progress' | 'incomplete';

export interface AuditReport {
  kind: 'run' | 'proof';
  ok: boolean;
  /** Run reports only (see Completeness). */
  completeness?: Completeness;
  runId: string;
  entries: number;
  checkpoints: number;
  countsByType: Record<AuditType, number>;
  checks: AuditCheck[];
  /** The first failure over all checks (lowest seq), if any. */
  firstFailure?: { seq?: number; problem: Problem; message: string };
  keyId?: string;
}

export function emptyCounts(): Record<AuditType, number> {
  return { lifecycle: 0, console: 0, network: 0, credential: 0, secret: 0, policy: 0, ssh: 0 };
}

export function isAuditType(v: unknown): v is AuditType {
  return typeof v === 'string' && (AUDIT_TYPES as readonly string[]).includes(v);
}
