import { homedir } from 'node:os';
import { join } from 'node:path';
import { readJsonlObjects } from '../home/jsonl.js';
import { describeUpstreamError, type UpstreamFailureKind } from '../gateway/upstream-errors.js';

/** The fields of a network.jsonl line the hints read. */
export interface NetworkLine {
  host?: string;
  status?: number;
  error?: string;
  blocked?: boolean;
  local?: boolean;
}

interface HostFailures {
  requests: number;
  /** Requests per kind, and the causes seen per kind (in order of first appearance). */
  kinds: Map<UpstreamFailureKind, { requests: number; causes: Set<string> }>;
}

/** `~/.moat/config.yaml` rather than the absolute path when it is under the user's home. */
function shortPath(path: string, home = homedir()): string {
  return home && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

function plural(n: number): string {
  return `${n} request${n === 1 ? '' : 's'}`;
}

/**
 * One line per host the gateway could not use during the run (its 502/504 answers, by the recorded error
 * code), unless a later request to that host got through: what failed, how often, and the fix.
 */
export function unreachableHintLines(lines: Iterable<NetworkLine>, configPath: string): string[] {
  const hosts = new Map<string, HostFailures>();
  for (const ev of lines) addLine(hosts, ev);
  return hintsOf(hosts, configPath);
}

function addLine(hosts: Map<string, HostFailures>, ev: NetworkLine): void {
  if (!ev.host || ev.blocked || ev.local) return;
  const failure = ev.error && (ev.status === 502 || ev.status === 504) ? describeUpstreamError(ev.error) : undefined;
  if (!failure) {
    // An upstream answer (any status) after failures: the host was reachable in the end.
    if (!ev.error && (ev.status ?? 0) > 0) hosts.delete(ev.host);
    return;
  }
  const h = hosts.get(ev.host) ?? { requests: 0, kinds: new Map() };
  const k = h.kinds.get(failure.kind) ?? { requests: 0, causes: new Set<string>() };
  k.requests++;
  k.causes.add(failure.cause);
  h.kinds.set(failure.kind, k);
  h.requests++;
  hosts.set(ev.host, h);
}

function hintsOf(hosts: Map<string, HostFailures>, configPath: string): string[] {
  const config = shortPath(configPath);
  return [...hosts].map(([host, h]) => {
    const [kind, k] = [...h.kinds].sort((a, b) => b[1].requests - a[1].requests)[0] ?? [];
    const what = `${[...(k?.causes ?? [])].join(' and ')}, ${plural(h.requests)}`;
    if (kind === 'tls') {
      return `${host} could not be reached securely from this machine (${what}). If a proxy on your network inspects TLS, add its CA certificate to build.ca_certs in ${config}.`;
    }
    if (kind === 'slow') return `${host} was reached but did not answer in time (${what}). It may be overloaded; try again later.`;
    return `${host} could not be reached from this machine (${what}). Check your network, or proxy.upstream in ${config} if this machine needs a proxy.`;
  });
}

/** The hints for a finished run, from its network.jsonl (none without one), streamed. */
export async function unreachableHints(runDir: string, configPath: string): Promise<string[]> {
  const hosts = new Map<string, HostFailures>();
  try {
    for await (const ev of readJsonlObjects<NetworkLine>(join(runDir, 'network.jsonl'))) addLine(hosts, ev);
  } catch {
    return []; // unreadable: no hints
  }
  return hintsOf(hosts, configPath);
}
