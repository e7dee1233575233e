import { canonicalJson, type JsonObject } from '../audit/index.js';
import { readJsonlObjects } from '../home/jsonl.js';
import { MAX_BUILD_ENTRIES } from '../image/build-trace.js';
import type { GatewayEvent, RequestEvent } from '../gateway/events.js';
import type { AuditLike } from './recovery.js';
import { RECORD_LIMITS, capRequestEvent, capText } from './record-limits.js';
import { RefusalAggregator, type RefusalAggregatorOptions } from './refusals.js';
import { TraceFile } from './trace-file.js';

export interface NetworkRecorderOptions extends RefusalAggregatorOptions {
  /** The run's network.jsonl. */
  file: string;
  audit: AuditLike;
  /** Byte budget of network.jsonl (default RECORD_LIMITS.budgetBytes). */
  budgetBytes?: number;
  /** Summaries of counted refusals and dropped requests are written once per window (ms; default 5 s). */
  windowMs?: number;
  log: (m: string) => void;
}

/** A recorded build request is far shorter (every field is capped); a longer line is not one. */
const MAX_BUILD_LINE = 64 * 1024;

/** A line of build-network.jsonl, as far as the recorder looks into it. */
interface BuildLine {
  phase?: unknown;
  type?: unknown;
  blocked?: unknown;
  host?: unknown;
  reason?: unknown;
}

/** network.jsonl line written once when its budget is spent. */
export interface TraceBudgetLine {
  type: 'trace-budget-reached';
  ts: string;
  limitBytes: number;
}
/** network.jsonl line: requests not recorded one by one because the budget is spent. */
export interface DroppedLine {
  type: 'dropped';
  ts: string;
  count: number;
  blocked: number;
  since: string;
  until: string;
}

/**
 * Records one run's gateway events: network.jsonl (one line per request, values redacted) and the audit
 * log (network, credential and policy entries), with every field capped, repeated refusals aggregated and
 * each file within its budget. Each event is encoded once, as canonical JSON, for both files. Nothing
 * here waits for I/O: writes are batched (TraceFile, AuditWriter).
 */
export class NetworkRecorder {
  private readonly refusals: RefusalAggregator;
  private readonly timer: NodeJS.Timeout;
  private reached = false;
  private dropped = { count: 0, blocked: 0, since: '', until: '' };
  /** The run's current secret masker (it grows as grants refresh). */
  private redact: (s: string) => string = (s) => s;

  private constructor(
    private readonly trace: TraceFile,
    private readonly opts: NetworkRecorderOptions,
  ) {
    this.refusals = new RefusalAggregator(opts);
    this.timer = setInterval(() => this.summarize('summary'), opts.windowMs ?? 5_000);
    this.timer.unref();
  }

  static async open(opts: NetworkRecorderOptions): Promise<NetworkRecorder> {
    const trace = await TraceFile.open(opts.file, {
      limitBytes: opts.budgetBytes ?? RECORD_LIMITS.budgetBytes,
      onError: (err) => opts.log(`network log: ${String(err)}`),
    });
    return new NetworkRecorder(trace, opts);
  }

  record(ev: GatewayEvent, redact: (s: string) => string): void {
    if (ev.type === 'ssh-agent') return void this.opts.audit.append('ssh', sshAuditEntry(ev));
    if (ev.type !== 'request') return;
    this.redact = redact;
    if (ev.blocked) {
      const host = capText(ev.host, RECORD_LIMITS.host);
      if (!this.refusals.admit(host, ev.status, capText(ev.reason ?? '', RECORD_LIMITS.reason), ev.ts)) return;
    }
    const line = encode(capRequestEvent(ev), redact);
    if (!this.trace.write(line, 'event')) this.drop(ev);
    const { audit } = this.opts;
    audit.appendEncoded('network', line);
    // A locally answered call (a token refresh) used no credential; it is recorded as network only.
    if (ev.grant && !ev.local) {
      audit.append('credential', {
        grant: capText(ev.grant, RECORD_LIMITS.host),
        host: capText(ev.host, RECORD_LIMITS.host),
        ...(ev.aws ? { service: ev.aws.service, region: ev.aws.region } : {}),
      });
    }
    for (const name of ev.secrets ?? [])
      audit.append('secret', { event: 'substituted', name: capText(name, RECORD_LIMITS.host), host: capText(ev.host, RECORD_LIMITS.host) });
    for (const name of ev.secretsRefused ?? [])
      audit.append('secret', { event: 'refused', name: capText(name, RECORD_LIMITS.host), host: capText(ev.host, RECORD_LIMITS.host) });
    if (ev.blocked) {
      audit.append('policy', { decision: 'deny', host: capText(ev.host, RECORD_LIMITS.host), reason: redact(capText(ev.reason ?? '', RECORD_LIMITS.reason)) });
    }
  }

  /**
   * Take over the requests of the image build that preceded the run (build-network.jsonl, written by the
   * CLI before the container existed): each joins network.jsonl and the audit as written, with its
   * `phase: "build"`. Returns how many were taken.
   */
  async recordBuild(file: string): Promise<number> {
    let n = 0;
    // Oversized lines are skipped unread; lines that are not JSON objects are skipped too.
    for await (const ev of readJsonlObjects<BuildLine>(file, { maxLineBytes: MAX_BUILD_LINE })) {
      if (n >= MAX_BUILD_ENTRIES + 1) break;
      if (ev.phase !== 'build') continue;
      const line = canonicalJson(ev);
      n += 1;
      this.trace.write(line, 'event');
      this.opts.audit.appendEncoded('network', line);
      if (ev.type === 'request' && ev.blocked === true) {
        this.opts.audit.append('policy', {
          decision: 'deny',
          phase: 'build',
          host: capText(String(ev.host ?? ''), RECORD_LIMITS.host),
          reason: capText(String(ev.reason ?? ''), RECORD_LIMITS.reason),
        });
      }
    }
    return n;
  }

  private drop(ev: RequestEvent): void {
    if (!this.reached) {
      this.reached = true;
      const limitBytes = this.trace.budget.limit;
      this.trace.write(canonicalJson({ type: 'trace-budget-reached', ts: new Date().toISOString(), limitBytes }), 'summary');
      this.opts.audit.append('lifecycle', { event: 'trace-budget-reached', file: 'network.jsonl', limitBytes });
      this.opts.log(`network log: the budget of ${limitBytes} bytes is reached; further requests are counted`);
    }
    const d = this.dropped;
    if (d.count === 0) d.since = ev.ts;
    d.count += 1;
    if (ev.blocked) d.blocked += 1;
    d.until = ev.ts;
  }

  /** Write the window's refusal summaries and dropped-request count (to both files). */
  private summarize(p: 'summary' | 'final'): void {
    const now = new Date().toISOString();
    const redact = this.redact;
    for (const s of this.refusals.drain(now)) {
      const line = encode({ ...s }, redact);
      this.trace.write(line, p);
      this.opts.audit.appendEncoded('network', line, p);
    }
    if (this.dropped.count === 0) return;
    const d: DroppedLine = { type: 'dropped', ts: now, ...this.dropped };
    const line = canonicalJson({ ...d });
    // A count that cannot be written keeps counting into the next window (and the closing line).
    if (!this.trace.write(line, p) && p !== 'final') return;
    this.opts.audit.appendEncoded('network', line, p);
    this.dropped = { count: 0, blocked: 0, since: '', until: '' };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.summarize('final');
    await this.trace.close();
  }
}

/**
 * The event as one canonical JSON text, secrets masked. Masking inside a canonical text keeps it canonical
 * unless a secret overlaps an escape; when masking changed anything, the text is re-encoded to be sure.
 */
function encode(ev: object, redact: (s: string) => string): string {
  const text = canonicalJson(ev);
  const masked = redact(text);
  return masked === text ? text : canonicalJson(JSON.parse(masked) as unknown);
}

/** An agent decision as its audit entry (bounded: every field is capped). */
function sshAuditEntry(ev: Extract<GatewayEvent, { type: 'ssh-agent' }>): JsonObject {
  return {
    action: ev.action,
    decision: ev.allowed ? 'allow' : 'deny',
    reason: capText(ev.reason, RECORD_LIMITS.reason),
    ...(ev.host ? { host: capText(ev.host, RECORD_LIMITS.host) } : {}),
    ...(ev.fingerprint ? { fingerprint: ev.fingerprint } : {}),
    ...(ev.listed ? { listed: ev.listed.slice(0, 32) } : {}),
  };
}
