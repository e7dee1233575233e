import { isIP } from 'node:net';

/**
 * Host patterns, shared by policy and credential injection:
 *   `api.github.com`        that host, any port
 *   `*.github.com`          exactly one more label (`api.github.com`, not `github.com`, not `a.b.github.com`)
 *   `host:port`, `*.x:port` the same, on that port only; IPv6 literals in brackets (`[::1]:8080`)
 * Matching is case-insensitive and ignores a trailing dot.
 */
export interface HostPattern {
  source: string;
  /** Lower-case host without the `*.` prefix (`github.com` for `*.github.com`). */
  host: string;
  wildcard: boolean;
  port?: number;
}

const LABEL_RE = /^(?!-)[a-z0-9_-]{1,63}$/;

/** A host as it is written before `:port` or in a URL: an IPv6 literal in brackets (`[::1]`), a name or IPv4 as it is. */
export function bracketHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `host:port`, an IPv6 literal in brackets (`[::1]:8080`): how URLs, CONNECT lines and `--allow-host` take it. */
export function hostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Split `host[:port]` (IPv6 literals bracketed). Port undefined when absent. Throws on a bad port. */
export function splitHostPort(value: string): { host: string; port?: number } {
  const v = value.trim();
  let host = v;
  let portText: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) throw new Error(`unterminated IPv6 literal in "${value}"`);
    host = v.slice(1, end);
    const rest = v.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new Error(`unexpected "${rest}" after the IPv6 literal in "${value}"`);
      portText = rest.slice(1);
    }
  } else {
    const colon = v.lastIndexOf(':');
    if (colon >= 0 && v.indexOf(':') === colon) {
      host = v.slice(0, colon);
      portText = v.slice(colon + 1);
    }
  }
  if (portText === undefined) return { host: normalizeHost(host) };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new Error(`invalid port "${portText}" in "${value}" (expected 1-65535)`);
  }
  return { host: normalizeHost(host), port: Number(portText) };
}

/** Parse and validate one host pattern; throws an Error whose message says what is wrong. */
export function parseHostPattern(source: string): HostPattern {
  if (typeof source !== 'string' || source.trim() === '') throw new Error('empty host pattern');
  if (/\s/.test(source.trim())) throw new Error(`host pattern "${source}" contains whitespace`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new Error(`host pattern "${source}" has a URL scheme; write only the host, e.g. "${source.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]}"`);
  }
  if (source.includes('/')) throw new Error(`host pattern "${source}" contains a path; write only the host (path rules go under the host)`);
  const { host, port } = splitHostPort(source);
  let wildcard = false;
  let rest = host;
  if (host.startsWith('*.')) {
    wildcard = true;
    rest = host.slice(2);
  }
  if (rest.includes('*')) throw new Error(`host pattern "${source}": "*" is only allowed as the whole first label, as in "*.example.com"`);
  if (isIP(rest)) {
    if (wildcard) throw new Error(`host pattern "${source}": an IP address cannot have a wildcard`);
  } else {
    const labels = rest.split('.');
    if (labels.some((l) => !LABEL_RE.test(l) || l.endsWith('-'))) throw new Error(`host pattern "${source}" is not a valid host name`);
    if (wildcard && labels.length < 2) throw new Error(`host pattern "${source}" is too broad; use a wildcard under a domain, e.g. "*.example.com"`);
  }
  return port === undefined ? { source, host: rest, wildcard } : { source, host: rest, wildcard, port };
}

/** The port a credential (a grant's header or local answer) applies on when its provider names none. */
const CREDENTIAL_PORT = 443;

/**
 * A grant's host pattern, scoped to a port: as written when it names one, else `CREDENTIAL_PORT`.
 * Returns the pattern and its source text with the port spelled out (`api.github.com:443`).
 */
export function credentialPattern(source: string): HostPattern {
  const p = parseHostPattern(source);
  if (p.port !== undefined) return p;
  return { ...p, source: hostPort(`${p.wildcard ? '*.' : ''}${p.host}`, CREDENTIAL_PORT), port: CREDENTIAL_PORT };
}

export function matchHost(p: HostPattern, host: string, port?: number): boolean {
  if (p.port !== undefined && p.port !== port) return false;
  const h = normalizeHost(host);
  if (!p.wildcard) return h === p.host;
  if (!h.endsWith(`.${p.host}`)) return false;
  const label = h.slice(0, h.length - p.host.length - 1);
  return label.length > 0 && !label.includes('.');
}

/**
 * A host as URL parsers (and so the HTTP client that dials it) read it: lower case, IDNA, and numeric
 * IPv4 spellings (`2130706433`, `0x7f.1`) as dotted quads. Policy, injection and dialling must all see
 * this one form, or `2130706433` could pass the policy as a name and be dialled as 127.0.0.1.
 * Undefined when it is not a valid host.
 */
export function canonicalHost(host: string): string | undefined {
  const h = normalizeHost(host);
  if (h === '') return undefined;
  try {
    const parsed = new URL(`http://${bracketHost(h)}/`).hostname;
    return normalizeHost(parsed);
  } catch {
    return undefined;
  }
}
