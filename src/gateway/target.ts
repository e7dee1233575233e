import type { IncomingMessage } from 'node:http';
import { formatAuthority } from './http-util.js';
import { canonicalHost, normalizeHost, splitHostPort } from './hosts.js';
import { normalizePath, splitQuery } from './paths.js';

/** What a CONNECT established for the connection a request arrives on. */
export interface TunnelInfo {
  host: string;
  port: number;
  /** TLS was intercepted (false: the client spoke plain HTTP inside the tunnel). */
  tls: boolean;
  /** The SNI the client sent, if any. */
  sni?: string;
}

export interface Target {
  secure: boolean;
  host: string;
  port: number;
  /** Origin-form path with query, as forwarded: the path normalised (paths.ts), the query as sent. */
  path: string;
  /** The normalised path without the query: what the policy decides on. */
  pathname: string;
  /** `https://host[:port]/path` as logged. */
  url: string;
}

export type TargetResult = { ok: true; target: Target } | { ok: false; status: 400 | 421; message: string };

/** `scheme://authority` then the rest, read by hand so the path reaches normalizePath as sent. */
const ABSOLUTE_RE = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#\\]*)([/?#].*)?$/s;

/**
 * Work out where a request goes and check that every name the client gave for the target agrees.
 * Outside a tunnel only absolute-form is accepted (we are a proxy, not an origin). The path is
 * normalised here, once: the policy decides on it and exactly it is forwarded (400 when it cannot be).
 */
export interface TargetOptions {
  /** Hosts whose paths keep `//` (S3 object keys; an aws grant's endpoints): see paths.ts. */
  keepEmptySegments?(host: string, port: number): boolean;
}

export function resolveTarget(req: IncomingMessage, tunnel: TunnelInfo | undefined, opts: TargetOptions = {}): TargetResult {
  const raw = req.url ?? '';
  let secure: boolean;
  let host: string;
  let port: number;
  let target: string;
  if (raw.startsWith('/') || raw === '*') {
    if (!tunnel) return { ok: false, status: 400, message: 'Moat is an HTTP proxy: send absolute-form requests (http://host/path) or use CONNECT.' };
    ({ host, port } = tunnel);
    secure = tunnel.tls;
    target = raw;
  } else {
    const m = ABSOLUTE_RE.exec(raw);
    let u: URL;
    try {
      if (!m) throw new Error('malformed');
      u = new URL(`${m[1]!}${m[2]!}/`);
    } catch {
      return { ok: false, status: 400, message: 'Malformed request target.' };
    }
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return { ok: false, status: 400, message: `Unsupported scheme "${u.protocol}".` };
    if (u.username || u.password) return { ok: false, status: 400, message: 'Credentials in the URL are not supported.' };
    secure = u.protocol === 'https:' || u.protocol === 'wss:';
    host = normalizeHost(u.hostname);
    port = u.port ? Number(u.port) : secure ? 443 : 80;
    const rest = m![3] ?? '';
    target = rest.startsWith('?') || rest === '' ? `/${rest}` : rest;
    if (tunnel && (host !== tunnel.host || port !== tunnel.port || secure !== tunnel.tls)) {
      return {
        ok: false,
        status: 421,
        message: `The request names ${u.host}, but the tunnel was opened to ${formatAuthority(tunnel.host, tunnel.port, tunnel.tls)}.`,
      };
    }
  }
  // `OPTIONS *` names no path for the rules to decide on (and the upstream client cannot send it).
  if (target === '*') return { ok: false, status: 400, message: 'Moat does not forward the request target "*" (OPTIONS *): name a path.' };
  const { path: rawPath, query } = splitQuery(target);
  const normal = normalizePath(rawPath, { keepEmptySegments: opts.keepEmptySegments?.(host, port) === true });
  if (!normal.ok) return { ok: false, status: 400, message: normal.reason };
  const pathname = normal.path;
  const path = `${pathname}${query}`;
  if (host === '') return { ok: false, status: 400, message: 'Missing target host.' };
  const hostHeader = req.headers.host;
  if (!hostHeader) return { ok: false, status: 400, message: 'Missing Host header.' };
  let hh: { host: string; port?: number };
  try {
    hh = splitHostPort(hostHeader);
    // The target is already canonical; a Host header spelled otherwise (`2130706433`) is read the same way.
    if (hh.host !== host) hh = { ...hh, host: canonicalHost(hh.host) ?? hh.host };
  } catch {
    return { ok: false, status: 400, message: 'Malformed Host header.' };
  }
  if (hh.host !== host || (hh.port !== undefined && hh.port !== port)) {
    return {
      ok: false,
      status: 421,
      message: `The Host header (${hostHeader.slice(0, 100)}) does not match the target ${formatAuthority(host, port, secure)}.`,
    };
  }
  if (tunnel?.sni !== undefined && normalizeHost(tunnel.sni) !== host) {
    return {
      ok: false,
      status: 421,
      message: `The TLS server name (${tunnel.sni.slice(0, 100)}) does not match the target ${formatAuthority(host, port, secure)}.`,
    };
  }
  const url = `${secure ? 'https' : 'http'}://${formatAuthority(host, port, secure)}${path}`;
  return { ok: true, target: { secure, host, port, path, pathname, url } };
}
