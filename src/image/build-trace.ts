/**
 * The record of an image build's network: every request its gateway saw, as canonical JSON lines (the
 * run's trace and audit take them over, build-network.jsonl) and as readable lines in the build log.
 * Build steps choose their URLs and request rate: fields are capped, and past MAX_ENTRIES requests are
 * counted, not listed.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { canonicalJson } from '../audit/canonical.js';
import type { GatewayEvent, RequestEvent } from '../gateway/events.js';
import { RECORD_LIMITS, capRequestEvent, capText } from '../gateway/record-caps.js';
import { sanitizeForTerminal as sanitizeLine } from '../term/sanitize.js';

/** The copy of the build's requests in the directory of the run that built the image. */
export const BUILD_NETWORK_FILE = 'build-network.jsonl';

/** Requests listed one by one per build; more are counted in one closing line. */
export const MAX_BUILD_ENTRIES = 20_000;

/** A recorded build request: the gateway's event, capped, marked as the build's. */
export type BuildRequestEntry = RequestEvent & { phase: 'build'; urlLen?: number };
/** The closing line when requests were counted rather than listed. */
export interface BuildDroppedEntry {
  type: 'dropped';
  phase: 'build';
  ts: string;
  count: number;
  blocked: number;
}

export class BuildTrace {
  private readonly out: WriteStream;
  private entries = 0;
  private dropped = { count: 0, blocked: 0 };
  /** Refused hosts and the first reason for each, for the build's summary (capped in number). */
  readonly refused = new Map<string, string>();

  constructor(readonly file: string) {
    this.out = createWriteStream(file, { mode: 0o600 });
    this.out.on('error', () => undefined);
  }

  /** Record one gateway event; returns the readable line for the build log (undefined: nothing to show). */
  record(ev: GatewayEvent): string | undefined {
    if (ev.type !== 'request') return undefined;
    if (ev.blocked && this.refused.size < 100) {
      const host = capText(ev.host, RECORD_LIMITS.host);
      if (!this.refused.has(host)) this.refused.set(host, capText(ev.reason ?? 'refused', RECORD_LIMITS.reason));
    }
    if (this.entries >= MAX_BUILD_ENTRIES) {
      this.dropped.count += 1;
      if (ev.blocked) this.dropped.blocked += 1;
      return undefined;
    }
    this.entries += 1;
    const entry: BuildRequestEntry = { ...capRequestEvent(ev), phase: 'build' };
    this.out.write(`${canonicalJson({ ...entry })}\n`);
    return describe(entry);
  }

  async close(): Promise<void> {
    if (this.dropped.count > 0) {
      const line: BuildDroppedEntry = { type: 'dropped', phase: 'build', ts: new Date().toISOString(), ...this.dropped };
      this.out.write(`${canonicalJson({ ...line })}\n`);
    }
    await new Promise<void>((r) => this.out.end(r));
  }
}

/** `moat: net GET http://deb.debian.org/… 200` / `moat: net refused CONNECT evil.example:443 (reason)`. */
export function describe(e: RequestEvent): string {
  const what = sanitizeLine(`${e.method} ${capText(e.url, 300)}`);
  if (e.blocked) return `moat: net refused ${what} (${sanitizeLine(capText(e.reason ?? 'refused', 200))})`;
  if (e.error) return `moat: net ${what} failed (${sanitizeLine(capText(e.error, 200))})`;
  return `moat: net ${what} ${e.status}`;
}
