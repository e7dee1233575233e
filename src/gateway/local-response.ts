import { credentialPattern, matchHost } from './hosts.js';

/**
 * A request the gateway answers itself, as plain data next to `HeaderInjection` (the credentials layer
 * produces it, the proxy applies it). Matched like injections: only over TLS, to the exact host the
 * client named everywhere, on port 443 unless a host names its port; `method` (case-insensitive) and
 * the normalised `path` (query ignored) must match exactly.
 * The upstream is never contacted, so the answer can stand in for a call that would expose secrets.
 */
export interface LocalResponse {
  grant: string;
  hosts: string[];
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface CompiledLocalResponse {
  grant: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface LocalResponder {
  /** The local answer for this request (the first declared wins), or undefined. */
  find(host: string, port: number | undefined, method: string, path: string): CompiledLocalResponse | undefined;
  /** Every host pattern a local answer covers. */
  readonly hosts: string[];
}

export function compileLocalResponses(list: LocalResponse[]): LocalResponder {
  const compiled = list.map((r) => ({
    hosts: r.hosts.map(credentialPattern),
    method: r.method.toUpperCase(),
    path: r.path,
    answer: {
      grant: r.grant,
      status: r.status,
      headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
      body: Buffer.from(r.body),
    },
  }));
  return {
    find(host, port, method, rawPath) {
      const path = rawPath.split('?')[0];
      const m = method.toUpperCase();
      return compiled.find((c) => c.method === m && c.path === path && c.hosts.some((p) => matchHost(p, host, port)))?.answer;
    },
    hosts: [...new Set(compiled.flatMap((c) => c.hosts.map((p) => p.source)))],
  };
}
