import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Decision } from './policy.js';
import { bracketHost, canonicalHost } from './hosts.js';

/** Connection-level headers that must not cross a proxy (RFC 9110 §7.6.1), plus ones we always set. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/**
 * Copy headers without hop-by-hop ones and without those named in `Connection`. `keep` re-admits some.
 * Runs twice per proxied request (its head, the answer's head): no intermediate arrays, and the
 * `Connection` list is only built when the header is there.
 */
export function stripHopByHop(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  keep: string[] = [],
): Record<string, string | string[]> {
  let named: Set<string> | undefined;
  const conn = headers.connection;
  if (conn !== undefined) {
    named = new Set();
    for (const v of Array.isArray(conn) ? conn : [conn]) {
      for (const t of v.split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: Record<string, string | string[]> = {};
  for (const k of Object.keys(headers)) {
    const v = headers[k];
    if (v === undefined) continue;
    const key = k.toLowerCase();
    if ((HOP_BY_HOP.has(key) || named?.has(key) === true) && !keep.includes(key)) continue;
    out[key] = v;
  }
  return out;
}

/** Strip characters that cannot appear in a header value. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 300);
}

/** The plain-text refusal body: what was blocked, why, and the moat.yaml lines that allow it. */
function blockedBody(what: string, d: Decision): string {
  const lines = [`Moat blocked ${what}: ${d.reason}.`];
  if (d.suggestion) {
    lines.push(d.suggestion.startsWith('network:') ? 'To allow it, add to moat.yaml:' : 'To allow it:', d.suggestion);
  }
  return `${lines.join('\n')}\n`;
}

/** Refuse on a raw socket (CONNECT, before any TLS). */
export function writeRawBlocked(socket: Duplex, what: string, d: Decision): void {
  const body = blockedBody(what, d);
  socket.end(
    `HTTP/1.1 403 Forbidden\r\nX-Moat-Blocked: ${headerSafe(d.reason)}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A plain-text error on a raw socket; closes it. */
export function writeRawError(socket: Duplex, status: number, reason: string, message: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * After a raw refusal on a socket no HTTP server reads any more: discard what the client still sends and
 * close once it has closed its side or within 2 s, so a half-open client cannot keep the socket.
 */
export function closeRaw(socket: Duplex): void {
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => {
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  });
  socket.resume();
}

/** A plain-text response on a ServerResponse; `extra` headers (e.g. X-Moat-Blocked). Returns bytes sent. */
export function sendText(res: ServerResponse, status: number, message: string, extra: OutgoingHttpHeaders = {}): number {
  const body = message.endsWith('\n') ? message : `${message}\n`;
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  res.writeHead(status, { ...extra, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return Buffer.byteLength(body);
}

export function sendBlocked(res: ServerResponse, what: string, d: Decision): number {
  return sendText(res, 403, blockedBody(what, d), { 'x-moat-blocked': headerSafe(d.reason) });
}

/** Parse a CONNECT authority `host:port` (port required, IPv6 bracketed). */
export function parseAuthority(value: string | undefined): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/\s@]+):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const host = canonicalHost(m[1]!);
  return host === undefined ? undefined : { host, port };
}

/** `host[:port]` for URLs and Host headers (brackets for IPv6, default port elided). */
export function formatAuthority(host: string, port: number, secure: boolean): string {
  const h = bracketHost(host);
  return port === (secure ? 443 : 80) ? h : `${h}:${port}`;
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
    if (typeof e.message === 'string') return e.message.slice(0, 100);
  }
  return String(err).slice(0, 100);
}
