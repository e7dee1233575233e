import type { KeyObject } from 'node:crypto';
import { entryToLine, isHex64, parseLine, sha256Hex } from './canonical.js';
import { MerkleAccumulator, leafOfEntry } from './merkle.js';
import { checkpointSignatureValid, keyFingerprint, parsePublicKey } from './signing.js';
import type { AuditCheck, AuditEntry, AuditReport, Checkpoint, Completeness, Problem } from './types.js';
import { emptyCounts, isAuditType } from './types.js';

export interface VerifyOptions {
  /** The run the log must belong to; defaults to the run id in the first checkpoint. */
  runId?: string;
  /** A live writer holds the log: entries after the last checkpoint are a warning, not a failure. */
  inProgress?: boolean;
}

interface Fail {
  seq?: number;
  problem: Problem;
  message: string;
}

/** A `lifecycle` entry `{event: 'recovered', …}`: a writer died and a later one closed the log for it. */
interface Recovery {
  seq: number;
  ts: string;
  missing: string;
}

/** The lifecycle event a recovering writer appends (see daemon/audit-sink.ts). */
export const RECOVERED_EVENT = 'recovered';

const MAX_TRACKED_SEQ = 1 << 27;

export function isCheckpoint(v: unknown): v is Checkpoint {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.runId === 'string' &&
    Number.isSafeInteger(c.count) &&
    (c.count as number) >= 0 &&
    isHex64(c.root) &&
    typeof c.ts === 'string' &&
    typeof c.final === 'boolean' &&
    typeof c.sig === 'string' &&
    typeof c.keyId === 'string'
  );
}

/**
 * Streaming verifier: feed entry lines in file order with add(), then finish(). Memory is O(log n) for
 * the Merkle state plus a bitset of seen sequence numbers; each entry costs about three SHA-256 calls.
 */
export class RunVerifier {
  private readonly acc = new MerkleAccumulator();
  private readonly counts = emptyCounts();
  private readonly cps: { cp: Checkpoint; no: number }[] = [];
  private readonly cpFails: Fail[] = [];
  private readonly rootFails: Fail[] = [];
  private cpIndex = 0;
  private lastGoodCp = 0;
  private pos = 0;
  private prevStored: string | null = null;
  private lastSeq = 0;
  private maxSeq = 0;
  private seen = new Uint8Array(1024);
  private dup: number | undefined;
  private firstSeqAnomaly: { pos: number; seq: number } | undefined;
  private hashFail: Fail | undefined;
  private readonly recoveries: Recovery[] = [];
  private chainFail: Fail | undefined;
  private readonly runId: string;
  private readonly keyId: string;
  private readonly totalCps: number;

  constructor(
    checkpoints: readonly unknown[],
    private readonly key: KeyObject,
    private readonly opts: VerifyOptions = {},
  ) {
    this.keyId = keyFingerprint(key);
    this.totalCps = checkpoints.length;
    checkpoints.forEach((cp, i) => {
      if (isCheckpoint(cp)) this.cps.push({ cp, no: i + 1 });
      else this.cpFails.push({ problem: 'malformed', message: `checkpoint #${i + 1} is malformed` });
    });
    this.runId = opts.runId ?? this.cps[0]?.cp.runId ?? '';
    this.checkCheckpoints();
    this.cps.sort((a, b) => a.cp.count - b.cp.count || a.no - b.no);
  }

  private checkCheckpoints(): void {
    let prevCount = 0;
    for (const { cp, no } of this.cps) {
      const at = `checkpoint #${no} (count ${cp.count})`;
      if (cp.runId !== this.runId) {
        this.cpFails.push({ problem: 'wrong-run', message: `${at} belongs to run ${cp.runId}, not ${this.runId}` });
      } else if (cp.keyId !== this.keyId) {
        this.cpFails.push({ problem: 'wrong-key', message: `wrong key: ${at} was signed by ${cp.keyId}, expected ${this.keyId}` });
      } else if (!checkpointSignatureValid(cp, this.key)) {
        this.cpFails.push({ problem: 'bad-signature', message: `bad signature on ${at}: it was altered or not signed by ${this.keyId}` });
      } else if (cp.count < prevCount) {
        this.cpFails.push({ problem: 'reordered', message: `${at} is out of order (after a checkpoint of ${prevCount} entries)` });
      }
      prevCount = Math.max(prevCount, cp.count);
    }
  }

  /** Add a bundle/in-memory entry object. */
  addEntry(e: unknown): void {
    let line: string;
    try {
      line = entryToLine(e);
    } catch {
      line = '';
    }
    this.add(line);
  }

  add(line: string): void {
    const pos = ++this.pos;
    const head = parseLine(line);
    let computed: string;
    if (!head || !isAuditType(head.type)) {
      computed = sha256Hex(line);
      this.hashFail ??= { seq: pos, problem: 'modified-entry', message: `modified entry: line ${pos} is not a well-formed entry` };
      this.prevStored = computed;
      this.lastSeq = pos;
    } else {
      computed = sha256Hex(head.body);
      if (computed !== head.hash) {
        this.hashFail ??= { seq: head.seq, problem: 'modified-entry', message: `modified entry: seq ${head.seq} does not match its hash` };
      }
      this.counts[head.type] += 1;
      if (head.type === 'lifecycle' && line.includes(`"event":"${RECOVERED_EVENT}"`)) this.noteRecovery(line, head.seq, head.ts);
      this.trackSeq(pos, head.seq);
      if (head.prev !== this.prevStored && !this.chainFail) {
        const seqOk = head.seq === pos;
        this.chainFail = seqOk
          ? {
              seq: pos - 1,
              problem: 'modified-entry',
              message: `modified entry: chain broken at seq ${pos}, whose prev does not match the hash of seq ${pos - 1}`,
            }
          : { seq: pos, problem: 'reordered', message: `chain broken at position ${pos} (holds seq ${head.seq})` };
      }
      this.prevStored = head.hash;
      this.lastSeq = head.seq;
    }
    this.acc.appendLeaf(leafOfEntry(computed));
    this.checkRoots();
  }

  private noteRecovery(line: string, seq: number, ts: string): void {
    try {
      const data = (JSON.parse(line) as { data?: Record<string, unknown> }).data ?? {};
      if (data.event !== RECOVERED_EVENT) return;
      const missing = typeof data.missing === 'string' ? data.missing : 'not stated';
      this.recoveries.push({ seq, ts, missing: missing.length > 300 ? `${missing.slice(0, 299)}…` : missing });
    } catch {
      /* a malformed line fails the hash check */
    }
  }

  private trackSeq(pos: number, seq: number): void {
    if (seq !== pos) this.firstSeqAnomaly ??= { pos, seq };
    if (seq > MAX_TRACKED_SEQ) return;
    if (seq >= this.seen.length * 8) {
      const next = new Uint8Array(Math.max(this.seen.length * 2, (seq >> 3) + 1));
      next.set(this.seen);
      this.seen = next;
    }
    const byte = seq >> 3;
    const bit = 1 << (seq & 7);
    if (this.seen[byte]! & bit) this.dup ??= seq;
    this.seen[byte]! |= bit;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private checkRoots(): void {
    const n = this.acc.size;
    while (this.cpIndex < this.cps.length && this.cps[this.cpIndex]!.cp.count <= n) {
      const { cp, no } = this.cps[this.cpIndex++]!;
      if (cp.count < n) continue; // only reachable for count 0
      if (this.acc.root() === cp.root) {
        this.lastGoodCp = Math.max(this.lastGoodCp, cp.count);
      } else {
        this.rootFails.push({
          seq: this.lastGoodCp + 1,
          problem: 'root-mismatch',
          message: `Merkle root of entries 1..${cp.count} differs from checkpoint #${no}: an entry in ${this.lastGoodCp + 1}..${cp.count} was modified, deleted, reordered or rewritten`,
        });
      }
    }
  }

  private sequenceFail(): Fail | undefined {
    const a = this.firstSeqAnomaly;
    if (!a) return undefined;
    for (let s = 1; s <= this.maxSeq; s++) {
      if (!(this.seen[s >> 3]! & (1 << (s & 7)))) return { seq: s, problem: 'deleted-entry', message: `deleted entry: seq ${s} is missing` };
    }
    if (this.dup !== undefined)
      return { seq: this.dup, problem: 'reordered', message: `seq ${this.dup} appears more than once (duplicated or replayed entry)` };
    if (a.seq > MAX_TRACKED_SEQ) return { seq: a.pos, problem: 'modified-entry', message: `seq ${a.seq} at position ${a.pos} is out of range` };
    return { seq: a.pos, problem: 'reordered', message: `entries reordered: position ${a.pos} holds seq ${a.seq}` };
  }

  private completenessFail(): Fail | { warn: string } | undefined {
    const n = this.pos;
    const last = this.cps[this.cps.length - 1]?.cp;
    if (!last) {
      if (n === 0) return undefined;
      const message = `no signed checkpoint covers the ${n} entries`;
      return this.opts.inProgress ? { warn: `${message} yet (run in progress)` } : { seq: 1, problem: 'no-checkpoint', message };
    }
    if (n < last.count) {
      return this.lastSeq >= last.count
        ? { seq: undefined, problem: 'deleted-entry', message: `deleted entries: ${n} entries present but the last checkpoint signs ${last.count}` }
        : {
            seq: n + 1,
            problem: 'truncated',
            message: `truncated after checkpoint: the log ends at ${n} entries but a checkpoint signs ${last.count}; entries ${n + 1}..${last.count} are gone`,
          };
    }
    if (this.lastGoodCp !== last.count) {
      return { seq: this.lastGoodCp + 1, problem: 'root-mismatch', message: `the first ${last.count} entries do not match the last checkpoint's root` };
    }
    if (n > last.count) {
      const range = `entries ${last.count + 1}..${n}`;
      if (last.final) return { seq: last.count + 1, problem: 'forged-append', message: `forged append: ${range} follow the final signed checkpoint` };
      if (this.opts.inProgress) return { warn: `${range} are not signed yet (run in progress)` };
      return {
        seq: last.count + 1,
        problem: 'unsigned-tail',
        message: `${range} are not covered by any signed checkpoint (appended later, or the writer died before signing)`,
      };
    }
    if (!last.final && !this.opts.inProgress) {
      return {
        seq: undefined,
        problem: 'incomplete',
        message: `incomplete: all ${n} entries are signed, but no final checkpoint closes the log (its writer died, was killed or lost the log, or the final checkpoint was removed)`,
      };
    }
    if (!last.final) return { warn: `all ${n} entries are signed; no final checkpoint yet (run in progress)` };
    return undefined;
  }

  /** Gaps a recovering writer declared: the log is closed, but a writer died and something may be missing. */
  private recoveryWarn(): { warn: string } | undefined {
    if (this.recoveries.length === 0) return undefined;
    const each = this.recoveries.map((r) => `seq ${r.seq} at ${r.ts}: ${r.missing}`);
    return { warn: `closed with recovery: a writer died ${this.recoveries.length} time(s); ${each.join('; ')}` };
  }

  finish(): AuditReport {
    const n = this.pos;
    const checks: AuditCheck[] = [];
    const push = (name: string, okMessage: string, f: Fail | { warn: string } | undefined): void => {
      if (!f) checks.push({ name, status: 'ok', message: okMessage });
      else if ('warn' in f) checks.push({ name, status: 'warn', message: f.warn });
      else checks.push({ name, status: 'fail', message: f.message, problem: f.problem, ...(f.seq === undefined ? {} : { firstFailingSeq: f.seq }) });
    };
    push('hashes', `${n} entry hashes match their canonical bytes`, this.hashFail);
    push('sequence', `seq 1..${n} without gaps`, this.sequenceFail());
    push('chain', 'each entry links to the previous one', this.chainFail);
    push('signatures', `${this.cps.length} checkpoint signature(s) valid (${this.keyId})`, this.cpFails[0]);
    push('completeness', `all ${n} entries covered by the final checkpoint`, this.completenessFail());
    const unchecked = this.cps.filter(({ cp }) => cp.count > n).length;
    push('merkle', `Merkle roots match ${this.cps.length - unchecked} checkpoint(s)`, this.rootFails[0]);
    push('recovery', 'no writer died: the log was closed by the writer that kept it', this.recoveryWarn());
    const failed = checks.filter((c) => c.status === 'fail');
    const first = failed[0];
    const final = this.cps[this.cps.length - 1]?.cp.final === true;
    const completeness: Completeness =
      failed.length > 0 ? 'incomplete' : !final ? 'in-progress' : this.recoveries.length > 0 ? 'complete-with-recovery' : 'complete';
    return {
      kind: 'run',
      ok: failed.length === 0,
      completeness,
      runId: this.runId,
      entries: n,
      checkpoints: this.totalCps,
      countsByType: { ...this.counts },
      checks,
      keyId: this.keyId,
      ...(first
        ? { firstFailure: { problem: first.problem!, message: first.message, ...(first.firstFailingSeq === undefined ? {} : { seq: first.firstFailingSeq }) } }
        : {}),
    };
  }
}

type EntryInput = string | AuditEntry | readonly (string | AuditEntry)[];

/** Verify a run from its entries (stored lines or entry objects, optionally chunked) and checkpoints. */
export async function verifyRun(
  entries: Iterable<EntryInput> | AsyncIterable<EntryInput>,
  checkpoints: readonly unknown[],
  publicKey: KeyObject | string,
  opts: VerifyOptions = {},
): Promise<AuditReport> {
  const v = new RunVerifier(checkpoints, typeof publicKey === 'string' ? parsePublicKey(publicKey) : publicKey, opts);
  const one = (e: string | AuditEntry): void => {
    if (typeof e === 'string') v.add(e);
    else v.addEntry(e);
  };
  for await (const item of entries) {
    if (Array.isArray(item)) for (const e of item as readonly (string | AuditEntry)[]) one(e);
    else one(item as string | AuditEntry);
  }
  return v.finish();
}
