import { isInternalHost } from './addresses.js';
import { type HostPattern, hostPort, matchHost, parseHostPattern } from './hosts.js';
import { normalizePath, pathViews } from './paths.js';
import type { RefusalKind } from './events.js';
import type { NetworkPolicy } from '../network-policy.js';

/**
 * Network policy as plain data (what moat.yaml `network:` plus grants and `--allow-host` become) and its
 * compiled matcher. Order of evaluation for a request to host H (its path already normalised, paths.ts):
 *   1. `deny` matches H                                   -> refused, always
 *   2. H is this machine or a private network (an internal IP literal, `localhost`) and no rule or
 *      allowed host names it                              -> refused, in either policy (addresses.ts;
 *      names that resolve there are refused when the upstream connection is dialled)
 *   3. the first `rules` entry whose host pattern matches H:
 *        a plain host entry                                -> allowed
 *        a host with path rules: the first rule matching method and path decides allow/deny; none
 *        matched -> the policy default (step 5), whether or not H is also granted. A path with `%2F`
 *        or `%5C` is decided twice (as written, and with them read as `/`): both must be allowed
 *   4. `allowHosts` (granted hosts, on their port, and --allow-host) match H -> allowed
 *   5. policy default: permissive allows, strict refuses
 * At CONNECT time (no method/path yet) a host with path rules counts as allowed; its paths are checked
 * per request. Under strict, a host where the gateway answers some calls itself is reachable at CONNECT.
 */
export interface PolicyData extends NetworkPolicy {
  /**
   * Hosts where the gateway answers some calls itself (a grant's local answers): reachable at CONNECT
   * so those calls can be answered, but every other request to them is decided like any host's.
   */
  answeredHosts?: string[];
}

export interface Decision {
  allowed: boolean;
  /** One sentence for the refusal body and the request log. */
  reason: string;
  /** The pattern or path rule that decided, as written. */
  rule?: string;
  /** The exact moat.yaml snippet that would allow this request (present when refused). */
  suggestion?: string;
  /** Which step refused it (present when refused). */
  kind?: RefusalKind;
}

/** The request event fields of a refusal (the event's status is the caller's). */
export function refusalFields(d: Decision, port: number): { blocked: true; reason: string; refusal?: RefusalKind; port: number } {
  return { blocked: true, reason: d.reason, ...(d.kind ? { refusal: d.kind } : {}), port };
}

export interface PathRule {
  source: string;
  allow: boolean;
  /** Upper-case method or '*'. */
  method: string;
  regex: RegExp;
}

interface HostEntry {
  pattern: HostPattern;
  paths?: PathRule[];
}

export interface CompiledPolicy {
  readonly data: PolicyData;
  /** Host-level decision (CONNECT, or before reading the request). */
  checkHost(host: string, port?: number): Decision;
  /** Full decision for one request; `path` is normalised (paths.ts) and may carry a query string (ignored). */
  checkRequest(host: string, port: number | undefined, method: string, path: string): Decision;
  /**
   * Whether the user named this host (network.rules, --allow-host, a grant's hosts), which is what lets a
   * run reach an internal address (this machine, its private networks). Without a port: on any port.
   */
  namesHost(host: string, port?: number): boolean;
}

const METHOD_RE = /^(\*|[A-Z][A-Z-]*)$/;

/**
 * The parsers of the policy's pieces, each the one validator of its rule: moat.yaml's schema calls them (so
 * a mistake is reported at its moat.yaml:LINE:COL) and compilePolicy applies them. Each throws an Error
 * whose message says what is wrong and how to write it; callers add the file position.
 */
/** Throws when a host pattern (`api.github.com`, `*.github.com`, `host:8443`) is invalid. */
export function validatePattern(pattern: string): void {
  parseHostPattern(pattern);
}

/** Throws unless a rules entry with path rules maps exactly one host to its list of rules. */
export function validateHostRulesShape(entry: object): void {
  const hosts = Object.keys(entry).length;
  if (hosts !== 1) {
    throw new Error(
      `a rules entry with path rules maps exactly one host to its list of rules, this one has ${hosts}; write each host as its own "- host:" entry`,
    );
  }
}

/** Parse `"allow|deny METHOD /path/glob"`; throws a descriptive Error when invalid. */
export function parsePathRule(source: string): PathRule {
  if (typeof source !== 'string') throw new Error('a path rule must be a string like "allow GET /repos/**"');
  const parts = source.trim().split(/\s+/);
  if (parts.length !== 3) throw new Error(`path rule "${source}" must have three parts: "allow|deny METHOD /path", e.g. "allow GET /repos/**"`);
  const [action, method, path] = parts as [string, string, string];
  if (action !== 'allow' && action !== 'deny') throw new Error(`path rule "${source}" must start with "allow" or "deny", not "${action}"`);
  if (!METHOD_RE.test(method)) throw new Error(`path rule "${source}": method "${method}" must be an upper-case HTTP method or "*"`);
  if (!path.startsWith('/')) throw new Error(`path rule "${source}": path "${path}" must start with "/"`);
  if (path.includes('?')) throw new Error(`path rule "${source}": query strings are ignored when matching; remove "?${path.split('?')[1] ?? ''}"`);
  const normal = normalizePath(path);
  if (!normal.ok) throw new Error(`path rule "${source}": ${normal.reason.replace(/^The request path/, 'the path')}`);
  if (normal.path !== path)
    throw new Error(`path rule "${source}": requests are matched on their normalised path, so write "${normal.path}" instead of "${path}"`);
  return { source, allow: action === 'allow', method, regex: globToRegex(path) };
}

/** `*` matches within one segment, `**` as a whole segment matches any number of segments (also none). */
export function globToRegex(glob: string): RegExp {
  const segments = glob.split('/').slice(1);
  let re = '';
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '**') {
      re += last ? '(?:/.*)?' : '(?:/[^/]*)*';
      return;
    }
    re += '/' + seg.split('*').map(escapeRegex).join('[^/]*');
  });
  return new RegExp(`^${re === '' ? '/' : re}$`);
}

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** Validate a whole policy; returns problems with their location inside `network` (empty when valid). */
export function validatePolicy(data: Partial<PolicyData>): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const check = (path: (string | number)[], fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      problems.push({ path, message: (err as Error).message });
    }
  };
  (data.rules ?? []).forEach((entry, i) => {
    if (typeof entry === 'string') return check(['rules', i], () => parseHostPattern(entry));
    check(['rules', i], () => validateHostRulesShape(entry));
    for (const host of Object.keys(entry)) {
      check(['rules', i, host], () => parseHostPattern(host));
      const list = entry[host];
      if (!Array.isArray(list)) problems.push({ path: ['rules', i, host], message: 'expected a list of "allow|deny METHOD /path" rules' });
      else list.forEach((r, j) => check(['rules', i, host, j], () => parsePathRule(r)));
    }
  });
  (data.deny ?? []).forEach((p, i) => check(['deny', i], () => parseHostPattern(p)));
  (data.allowHosts ?? []).forEach((p, i) => check(['allowHosts', i], () => parseHostPattern(p)));
  return problems;
}

/** Compile policy data; throws an Error listing every invalid pattern. */
export function compilePolicy(input: Partial<PolicyData> = {}): CompiledPolicy {
  const data: PolicyData = { policy: input.policy ?? 'permissive', rules: input.rules ?? [], deny: input.deny ?? [], allowHosts: input.allowHosts ?? [] };
  const problems = validatePolicy(data);
  if (problems.length > 0) {
    throw new Error(`invalid network policy:\n${problems.map((p) => `  network.${p.path.join('.')}: ${p.message}`).join('\n')}`);
  }
  const deny = data.deny.map(parseHostPattern);
  const allowHosts = data.allowHosts.map(parseHostPattern);
  const answered = (input.answeredHosts ?? []).map(parseHostPattern);
  const entries: HostEntry[] = data.rules.flatMap((entry): HostEntry[] =>
    typeof entry === 'string'
      ? [{ pattern: parseHostPattern(entry) }]
      : Object.entries(entry).map(([host, rules]) => ({ pattern: parseHostPattern(host), paths: rules.map(parsePathRule) })),
  );

  const byDefault = (host: string): Decision =>
    data.policy === 'permissive'
      ? { allowed: true, reason: 'permissive policy' }
      : {
          allowed: false,
          kind: 'strict',
          reason: `${host} is not in network.rules and the policy is strict`,
          suggestion: `network:\n  rules:\n    - "${host}"`,
        };

  const fallback = (host: string, port: number | undefined, hostOnly: boolean): Decision => {
    const granted = allowHosts.find((p) => matchHost(p, host, port));
    if (granted) return { allowed: true, reason: `${host} is granted`, rule: granted.source };
    const local = hostOnly && data.policy === 'strict' ? answered.find((p) => matchHost(p, host, port)) : undefined;
    if (local) return { allowed: true, reason: `the gateway answers some calls to ${host} itself`, rule: local.source };
    return byDefault(host);
  };

  /** The path rules of one host entry on one request: a rule decided, or none matched. */
  const firstRule = (paths: PathRule[], method: string, path: string): PathRule | undefined =>
    paths.find((r) => (r.method === '*' || r.method === method) && r.regex.test(path));

  const named = [...entries.map((e) => e.pattern), ...allowHosts];
  const namesHost = (host: string, port?: number): boolean => named.some((p) => matchHost(port === undefined ? { ...p, port: undefined } : p, host, port));

  const checkRequest = (host: string, port: number | undefined, method: string | undefined, rawPath: string | undefined): Decision => {
    const denied = deny.find((p) => matchHost(p, host, port));
    if (denied) {
      return {
        allowed: false,
        kind: 'deny',
        reason: `${host} matches "${denied.source}" in network.deny`,
        rule: denied.source,
        suggestion: `remove "${denied.source}" from network.deny in moat.yaml`,
      };
    }
    // This machine and its private networks, in either policy, unless the user named the host.
    if (isInternalHost(host) && !namesHost(host, port)) return internalRefusal(host, port);
    const entry = entries.find((e) => matchHost(e.pattern, host, port));
    if (entry && !entry.paths) return { allowed: true, reason: `${host} is in network.rules`, rule: entry.pattern.source };
    if (entry?.paths && method !== undefined && rawPath !== undefined) {
      const path = stripQuery(rawPath);
      const m = method.toUpperCase();
      // `%2F`/`%5C` stay encoded when forwarded, and `//` on AWS hosts: an origin that decodes them or
      // merges slashes routes on another reading, so every reading must be allowed (paths.ts).
      const paths = entry.paths;
      const rules = pathViews(path).map((v) => firstRule(paths, m, v));
      const suggestion = `network:\n  rules:\n    - "${entry.pattern.source}":\n        - "allow ${m} ${ruleFor(path)}"`;
      const denied = rules.find((r) => r !== undefined && !r.allow);
      if (denied)
        return {
          allowed: false,
          kind: 'path',
          reason: `${m} ${path} on ${host} is refused by "${denied.source}"`,
          rule: denied.source,
          suggestion: `${suggestion}\n(before "${denied.source}"; the first matching rule wins)`,
        };
      const rule = rules[0];
      if (rule && !rules.includes(undefined)) return { allowed: true, reason: `allowed by "${rule.source}"`, rule: rule.source };
      // No rule matched: the policy default decides, granted host or not (the rules say what they mean).
      const d = byDefault(host);
      return d.allowed
        ? d
        : { allowed: false, kind: 'path', reason: `${m} ${path} on ${host} matches no rule of "${entry.pattern.source}" and the policy is strict`, suggestion };
    }
    if (entry) return { allowed: true, reason: `${host} has path rules in network.rules`, rule: entry.pattern.source };
    return fallback(host, port, method === undefined);
  };

  return {
    data,
    checkHost: (host, port) => checkRequest(host, port, undefined, undefined),
    checkRequest: (host, port, method, path) => checkRequest(host, port, method, path),
    namesHost,
  };
}

/** A rule in normal form that allows `path`: a path with `//` (kept on AWS hosts) gets its prefix with `/**`. */
function ruleFor(path: string): string {
  const at = path.indexOf('//');
  return at < 0 ? path : `${path.slice(0, at)}/**`;
}

function stripQuery(path: string): string {
  const q = path.search(/[?#]/);
  const p = q < 0 ? path : path.slice(0, q);
  return p === '' ? '/' : p;
}

/**
 * The refusal for this machine or its private networks: an internal IP or `localhost` named in the request,
 * or (`address`) a name that resolved to one when the gateway dialled it.
 */
export function internalRefusal(host: string, port: number | undefined, address?: string): Decision {
  const where = port === undefined ? host : hostPort(host, port);
  const what =
    address === undefined ? `${host} is this machine or its private network` : `${host} resolves to ${address}, on this machine or its private network`;
  return {
    allowed: false,
    kind: 'internal',
    reason: `${what}, which a run reaches only when you name it`,
    suggestion: `network:\n  rules:\n    - "${where}"\n(or moat run --allow-host ${where})`,
  };
}
