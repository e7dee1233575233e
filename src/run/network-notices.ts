import type { RefusalKind } from '../gateway/events.js';
import { hostPort, parseHostPattern } from '../gateway/hosts.js';
import { describeUpstreamError, type UpstreamFailureKind } from '../gateway/upstream-errors.js';
import { sanitizeForTerminal } from '../term/sanitize.js';

/**
 * What the network did to a run, from its network.jsonl: the hosts the policy refused, the hosts the
 * gateway could not reach, and the grants an upstream turned down. One notice the first time a host is
 * refused or unreachable (printed live), and one summary after the run with the fix for each group.
 * Everything here is hostile input (a run chooses its hosts, paths and how many): names are made safe for
 * a terminal and capped, and the number of hosts kept is bounded.
 */

/** The fields of a network.jsonl line read here. */
export interface NetworkLine {
  type?: string;
  /** `build`: a request of the image build before the run (shown while the image built; its fix differs). */
  phase?: string;
  host?: string;
  status?: number;
  error?: string;
  blocked?: boolean;
  local?: boolean;
  refusal?: RefusalKind;
  port?: number;
  method?: string;
  url?: string;
  grant?: string;
  /** `refusals` lines: refusals counted, not recorded one by one. */
  count?: number;
}

export type Notice =
  | { what: 'blocked'; host: string; kind: RefusalKind | undefined; allow?: string; request?: string; sshHost?: string }
  | { what: 'unreachable'; host: string; kind: UpstreamFailureKind; cause: string };

interface Blocked {
  notice: Extract<Notice, { what: 'blocked' }>;
  rawHost: string;
  requests: number;
}
interface Failed {
  requests: number;
  kinds: Map<UpstreamFailureKind, { requests: number; causes: Set<string> }>;
}

export interface NoticeOptions {
  /** Hosts kept in detail (default 200); further hosts are only counted. */
  maxHosts?: number;
  /** Hosts named in the summary (default 20). */
  shownHosts?: number;
  /** The global config file as shown in fixes (e.g. `~/.moat/config.yaml`). */
  configPath: string;
}

/** Longest host name or request shown (a run chooses them). */
const SHOWN_CHARS = 100;
/** Distinct hosts counted beyond the detailed ones (memory bound). */
const MAX_COUNTED = 10_000;

/** A container-chosen text for one terminal line: controls made visible, no line break, capped. */
export function shown(s: string, max = SHOWN_CHARS): string {
  const safe = sanitizeForTerminal(s).replace(/\n/g, '^J').replace(/\t/g, '^I');
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

/** `host` or `host:port` as `--allow-host` and network.rules take it; undefined when it cannot be one. */
export function allowPattern(host: string, port?: number): string | undefined {
  const where = port === undefined ? host : hostPort(host, port);
  if (where.length > 261 || !/^[A-Za-z0-9._:[\]-]+$/.test(where)) return undefined;
  try {
    parseHostPattern(where);
    return where;
  } catch {
    return undefined;
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The method and path of a refused request (no query: it can carry secrets and it is not matched). */
function requestOf(ev: NetworkLine): string | undefined {
  if (!ev.method || !ev.url || ev.method === 'CONNECT') return undefined;
  let path: string;
  try {
    path = new URL(ev.url).pathname;
  } catch {
    return undefined;
  }
  return `${shown(ev.method, 16)} ${shown(path, 80)}`;
}

export class NetworkNotices {
  private readonly blocked = new Map<string, Blocked>();
  private readonly failed = new Map<string, Failed>();
  private readonly grants = new Map<string, string>();
  /** Hosts already announced live (`b host` / `u host`). */
  private readonly announced = new Set<string>();
  /** Hosts beyond the detailed ones, and refusals counted for hosts the daemon did not name. */
  private readonly more = new Set<string>();
  private moreRequests = 0;
  private readonly maxHosts: number;
  private readonly shownHosts: number;

  constructor(private readonly opts: NoticeOptions) {
    this.maxHosts = opts.maxHosts ?? 200;
    this.shownHosts = opts.shownHosts ?? 20;
  }

  /** Take one network.jsonl line; a notice when it is the first refusal or failure of its host. */
  observe(ev: NetworkLine): Notice | undefined {
    if (ev.phase === 'build') return undefined;
    if (ev.type === 'refusals') {
      this.countRefusals(ev);
      return undefined;
    }
    if (ev.type !== undefined && ev.type !== 'request') return undefined;
    if (typeof ev.host !== 'string' || !ev.host) return undefined;
    if (ev.grant && !ev.blocked && (ev.status === 401 || ev.status === 403) && !this.grants.has(ev.grant) && this.grants.size < 20) {
      this.grants.set(ev.grant, `${shown(ev.host)} answered ${ev.status}`);
    }
    if (ev.blocked) return this.onBlocked(ev, ev.host);
    if (ev.local) return undefined;
    const failure = ev.error && (ev.status === 502 || ev.status === 504) ? describeUpstreamError(ev.error) : undefined;
    if (!failure) {
      // An upstream answer (any status) after failures: the host was reachable in the end.
      if (!ev.error && (ev.status ?? 0) > 0) this.failed.delete(ev.host);
      return undefined;
    }
    return this.onFailed(ev.host, failure.kind, failure.cause);
  }

  private room(key: string, known: boolean): boolean {
    if (known) return true;
    if (this.blocked.size + this.failed.size < this.maxHosts) return true;
    if (this.more.size < MAX_COUNTED) this.more.add(key);
    else this.moreRequests++;
    return false;
  }

  private onBlocked(ev: NetworkLine, host: string): Notice | undefined {
    const port = ev.refusal === 'internal' && typeof ev.port === 'number' ? ev.port : undefined;
    const key = port === undefined ? host : `${host}:${port}`;
    const b = this.blocked.get(key);
    if (!this.room(key, b !== undefined)) return undefined;
    if (b) {
      b.requests++;
      return undefined;
    }
    // `CONNECT host:22` refused for want of an SSH grant: the fix is the grant, not --allow-host.
    const sshHost = ev.method === 'CONNECT' && ev.port === 22 && ev.refusal !== 'deny' && ev.refusal !== 'internal' ? allowPattern(host) : undefined;
    const allow = sshHost === undefined && (ev.refusal === 'strict' || ev.refusal === 'internal') ? allowPattern(host, port) : undefined;
    const request = ev.refusal === 'path' || ev.refusal === 'credential' ? requestOf(ev) : undefined;
    const notice: Blocked['notice'] = {
      what: 'blocked',
      host: shown(port === undefined ? host : (allowPattern(host, port) ?? hostPort(host, port))),
      kind: ev.refusal,
      ...(allow ? { allow } : {}),
      ...(request ? { request } : {}),
      ...(sshHost ? { sshHost } : {}),
    };
    this.blocked.set(key, { notice, rawHost: host, requests: 1 });
    return this.announce(`b ${key}`, notice);
  }

  private onFailed(host: string, kind: UpstreamFailureKind, cause: string): Notice | undefined {
    let h = this.failed.get(host);
    if (!this.room(host, h !== undefined)) return undefined;
    if (!h) {
      h = { requests: 0, kinds: new Map() };
      this.failed.set(host, h);
    }
    const k = h.kinds.get(kind) ?? { requests: 0, causes: new Set<string>() };
    k.requests++;
    k.causes.add(cause);
    h.kinds.set(kind, k);
    h.requests++;
    return this.announce(`u ${host}`, { what: 'unreachable', host: shown(host), kind, cause });
  }

  private announce(key: string, notice: Notice): Notice | undefined {
    if (this.announced.has(key) || this.announced.size >= this.maxHosts) return undefined;
    this.announced.add(key);
    return notice;
  }

  private countRefusals(ev: NetworkLine): void {
    const n = typeof ev.count === 'number' && ev.count > 0 ? ev.count : 0;
    // Keyed by host, or host:port for an internal address (the daemon counts by host).
    const b = typeof ev.host === 'string' ? (this.blocked.get(ev.host) ?? [...this.blocked.values()].find((x) => x.rawHost === ev.host)) : undefined;
    if (b) b.requests += n;
    else this.moreRequests += n;
  }

  /** The live line of a notice (without the `moat: ` prefix). */
  line(n: Notice): string {
    if (n.what === 'unreachable') return `${unreachableWhat(n.host, n.kind, n.cause)} — ${unreachableFix(n.kind, this.opts.configPath)}`;
    if (n.sshHost) return `blocked SSH to ${n.host} (no SSH grant) — ${sshFix(n.sshHost)}`;
    switch (n.kind) {
      case 'strict':
        return `blocked ${n.host} (strict policy)${n.allow ? ` — allow it with --allow-host ${n.allow}` : ''}`;
      case 'internal':
        return `blocked ${n.host} (this machine or a private network)${n.allow ? ` — allow it with --allow-host ${n.allow}` : ''}`;
      case 'deny':
        return `blocked ${n.host} (network.deny) — remove its entry from network.deny in moat.yaml to allow it`;
      case 'path':
        return `blocked ${n.request ?? 'a request'} on ${n.host} (its path rules in network.rules)${n.request ? ` — add a rule such as "allow ${n.request}" to its entry in network.rules in moat.yaml` : ''}`;
      case 'credential':
        return `blocked ${n.request ?? 'a request'} on ${n.host} (it would echo the granted credential back)`;
      case undefined:
        return `blocked ${n.host} (network policy) — \`moat trace\` shows why`;
    }
  }

  /** The end-of-run summary: one block, hosts first, then one fix per group; empty when nothing happened. */
  summary(): string[] {
    const blocked = [...this.blocked.values()];
    const failed = [...this.failed].map(([host, f]) => ({ host: shown(host), f, ...mainKind(f) }));
    const hosts = blocked.length + failed.length;
    const moreHosts = this.more.size;
    if (hosts === 0 && moreHosts === 0 && this.moreRequests === 0 && this.grants.size === 0) return [];
    const out: string[] = [];
    if (hosts > 0 || moreHosts > 0 || this.moreRequests > 0) {
      const total = hosts + moreHosts;
      out.push(
        total > 0
          ? `moat: the network refused or could not reach ${plural(total, 'host')} during this run:`
          : 'moat: the network refused requests during this run:',
      );
      const rows = [
        ...blocked.map(
          (b) => [b.notice.host, `blocked: ${b.notice.sshHost ? 'no SSH grant' : blockedWhy(b.notice.kind)}, ${plural(b.requests, 'request')}`] as const,
        ),
        ...failed.map((x) => [x.host, `unreachable: ${x.causes}, ${plural(x.f.requests, 'request')}`] as const),
      ];
      const listed = rows.slice(0, this.shownHosts);
      const width = Math.min(40, Math.max(...listed.map(([h]) => h.length), 0));
      for (const [h, what] of listed) out.push(`  ${h.padEnd(width)}  ${what}`);
      const unlisted = rows.length - listed.length + moreHosts;
      if (unlisted > 0 || this.moreRequests > 0) {
        const parts = [
          unlisted > 0 ? `${plural(unlisted, 'more host')}` : '',
          this.moreRequests > 0 ? `${plural(this.moreRequests, 'more refused request')}` : '',
        ].filter(Boolean);
        out.push(`  and ${parts.join(' and ')} (\`moat trace\` lists them)`);
      }
      out.push(
        ...this.fixes(
          blocked.map((b) => b.notice),
          failed,
        ),
      );
    }
    if (this.grants.size > 0 && out.length === 0) out.push('moat: an upstream refused a credential during this run:');
    for (const [grant, what] of this.grants) {
      const provider = shown(grant.split(':')[0] ?? grant, 64);
      out.push(`  The ${shown(grant, 64)} grant was refused (${what}): it may be expired or lack a scope. Renew it with: moat grant ${provider}`);
    }
    return out;
  }

  private fixes(blocked: Blocked['notice'][], failed: { host: string; kind: UpstreamFailureKind }[]): string[] {
    const out: string[] = [];
    const allow = blocked.flatMap((n) => (n.allow ? [n.allow] : [])).slice(0, this.shownHosts);
    if (allow.length > 0) {
      out.push(`  To allow ${allow.length === 1 ? 'it' : 'them'}, run again with ${allow.map((a) => `--allow-host ${a}`).join(' ')}`);
      out.push(`    or add to moat.yaml: network: { rules: [ ${allow.map((a) => `"${a}"`).join(', ')} ] }`);
    }
    for (const n of blocked.filter((b) => b.sshHost !== undefined).slice(0, 5)) out.push(`  ${n.host}: ${sshFix(n.sshHost ?? n.host)}.`);
    const names = (ns: string[]): string => ns.slice(0, 5).join(', ') + (ns.length > 5 ? ` and ${ns.length - 5} more` : '');
    const denied = blocked.filter((n) => n.kind === 'deny').map((n) => n.host);
    if (denied.length > 0) out.push(`  ${names(denied)}: in network.deny of moat.yaml; remove the entry to allow ${denied.length === 1 ? 'it' : 'them'}.`);
    for (const n of blocked.filter((b) => b.kind === 'path').slice(0, 5)) {
      out.push(
        `  ${n.host}: its path rules in network.rules refused ${n.request ?? 'a request'}${n.request ? `; add a rule such as "allow ${n.request}" to its entry` : ''}.`,
      );
    }
    if (blocked.some((n) => n.kind === 'credential')) out.push('  TRACE and TRACK to a granted host are always refused: they would echo the credential back.');
    for (const kind of ['network', 'tls', 'slow'] as const) {
      const hs = failed.filter((f) => f.kind === kind).map((f) => f.host);
      if (hs.length > 0) out.push(`  ${names(hs)}: ${unreachableFix(kind, this.opts.configPath)}.`);
    }
    return out;
  }
}

/** The fix for SSH refused for want of a grant (the gateway's own suggestion, ssh-tunnel.ts). */
function sshFix(host: string): string {
  return `grant it with: moat grant ssh --host ${host}, then: moat run -g ssh:${host}`;
}

function blockedWhy(kind: RefusalKind | undefined): string {
  switch (kind) {
    case 'strict':
      return 'strict policy';
    case 'internal':
      return 'this machine or a private network';
    case 'deny':
      return 'network.deny';
    case 'path':
      return 'path rules';
    case 'credential':
      return 'would echo the credential';
    case undefined:
      return 'network policy';
  }
}

function mainKind(f: Failed): { kind: UpstreamFailureKind; causes: string } {
  const [kind, k] = [...f.kinds].sort((a, b) => b[1].requests - a[1].requests)[0] ?? ['network', { causes: new Set<string>() }];
  return { kind, causes: [...k.causes].join(' and ') };
}

function unreachableWhat(host: string, kind: UpstreamFailureKind, cause: string): string {
  if (kind === 'tls') return `cannot reach ${host} securely (${cause})`;
  if (kind === 'slow') return `${host} did not answer in time (${cause})`;
  return `cannot reach ${host} (${cause})`;
}

function unreachableFix(kind: UpstreamFailureKind, config: string): string {
  if (kind === 'tls') return `if a proxy on your network inspects TLS, add its CA certificate to build.ca_certs in ${config}`;
  if (kind === 'slow') return 'it may be overloaded; try again later';
  return `check your network, or proxy.upstream in ${config} if this machine needs a proxy`;
}
