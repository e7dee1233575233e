import type { IncomingHttpHeaders } from 'node:http';
import { type HostPattern, credentialPattern, matchHost } from './hosts.js';

/**
 * The credential contract, as plain data (the credentials layer produces it, the proxy applies it).
 * `hosts`: exact hosts or "*.suffix" (one label, like policy patterns), on port 443 unless a host names
 * its port (`registry.corp:8443`). `set` replaces whatever the client sent in those headers; `remove`
 * drops headers.
 */
export interface HeaderInjection {
  grant: string;
  hosts: string[];
  set: Record<string, string>;
  remove?: string[];
}

interface CompiledInjection {
  grant: string;
  hosts: HostPattern[];
  set: [string, string][];
  remove: string[];
}

export interface Injector {
  /** The injection for this host (the first declared wins), or undefined. */
  find(host: string, port?: number): CompiledInjection | undefined;
  /** Every host pattern a grant covers, with its port (allowed under a strict policy). */
  readonly hosts: string[];
}

export function compileInjections(list: HeaderInjection[]): Injector {
  const compiled: CompiledInjection[] = list.map((inj) => ({
    grant: inj.grant,
    hosts: inj.hosts.map(credentialPattern),
    set: Object.entries(inj.set).map(([k, v]) => [k.toLowerCase(), v]),
    remove: (inj.remove ?? []).map((h) => h.toLowerCase()),
  }));
  return {
    find: (host, port) => compiled.find((c) => c.hosts.some((p) => matchHost(p, host, port))),
    hosts: [...new Set(compiled.flatMap((c) => c.hosts.map((p) => p.source)))],
  };
}

/**
 * Apply an injection to outgoing headers (lower-case keys) in place; returns the grant name. The
 * caller has already verified that CONNECT authority, SNI and Host agree.
 */
export function applyInjection(headers: IncomingHttpHeaders, inj: CompiledInjection): string {
  for (const h of inj.remove) delete headers[h];
  for (const [k, v] of inj.set) headers[k] = v;
  return inj.grant;
}

/**
 * Build a masker for secret strings (longest first, so a secret containing another is masked whole).
 * Empty and very short strings are ignored: masking "a" would destroy the text and reveal nothing.
 */
export function createRedactor(secrets: string[], mask = '[REDACTED]', minLength = 4): (text: string) => string {
  const list = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= minLength))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  const re = new RegExp(list.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(re, mask);
}

/** Mask every occurrence of each secret in `text`. */
export function redact(text: string, secrets: string[], mask = '[REDACTED]'): string {
  return createRedactor(secrets, mask)(text);
}
