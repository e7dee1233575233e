import type { RequestEvent } from './events.js';

/**
 * What one run may add to its records. A container chooses its URLs, hosts, reasons (through paths) and
 * request rate: each field is capped here, and each file has a byte budget (ByteBudget) after which only
 * summaries and counters are written.
 */
export const RECORD_LIMITS = {
  /** Default byte budget of a run's network.jsonl and of its audit.jsonl (each). */
  budgetBytes: 64 * 1024 * 1024,
  url: 2048,
  host: 255,
  reason: 512,
  error: 512,
  method: 32,
  headerValue: 1024,
  headers: 64,
  consoleLine: 8192,
} as const;

export const TRUNCATED = '…[truncated]';

/** `s` cut to at most `max` UTF-16 units, ending in the truncation marker when cut. */
export function capText(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = Math.max(0, max - TRUNCATED.length);
  // Never split a surrogate pair (a lone surrogate would not survive UTF-8).
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut -= 1;
  return `${s.slice(0, cut)}${TRUNCATED}`;
}

function capHeaders(h: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!h) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(h)) {
    if (n++ >= RECORD_LIMITS.headers) break;
    out[capText(k, 256)] = capText(String(v), RECORD_LIMITS.headerValue);
  }
  return out;
}

/**
 * The request event as recorded: long fields truncated with a marker, the full URL length kept in
 * `urlLen` when the URL was cut. Never mutates `ev`.
 */
export function capRequestEvent(ev: RequestEvent): RequestEvent & { urlLen?: number } {
  const out: RequestEvent & { urlLen?: number } = {
    ...ev,
    method: capText(ev.method, RECORD_LIMITS.method),
    url: capText(ev.url, RECORD_LIMITS.url),
    host: capText(ev.host, RECORD_LIMITS.host),
  };
  if (ev.url.length > RECORD_LIMITS.url) out.urlLen = ev.url.length;
  if (ev.reason !== undefined) out.reason = capText(ev.reason, RECORD_LIMITS.reason);
  if (ev.error !== undefined) out.error = capText(ev.error, RECORD_LIMITS.error);
  if (ev.grant !== undefined) out.grant = capText(ev.grant, RECORD_LIMITS.host);
  if (ev.requestHeaders) out.requestHeaders = capHeaders(ev.requestHeaders)!;
  if (ev.responseHeaders) out.responseHeaders = capHeaders(ev.responseHeaders)!;
  return out;
}
