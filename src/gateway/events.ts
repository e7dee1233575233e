/** Typed events the proxy emits; the request log and the audit log subscribe. Never carry header values. */

/**
 * Why the policy refused a request, as data (the CLI names the fix from it): the strict default, a
 * network.deny entry, this machine or a private network not named, a host's path rules, or a request that
 * would echo a granted credential back.
 */
export type RefusalKind = 'strict' | 'deny' | 'internal' | 'path' | 'credential';

export interface RequestEvent {
  type: 'request';
  /** ISO-8601 time the request head arrived. */
  ts: string;
  method: string;
  /** Full target URL (query included; log sinks redact secrets). */
  url: string;
  host: string;
  status: number;
  /** Request start to upstream response headers; 0 when refused locally. */
  ttfbMs: number;
  durationMs: number;
  bytesUp: number;
  bytesDown: number;
  /** Name of the grant whose credential was injected (never its value). */
  grant?: string;
  /** Secrets whose placeholder was replaced by the real value in this request (names, never values). */
  secrets?: string[];
  /** Secrets whose placeholder was sent as is: to a host not among theirs, over plain HTTP, or unencodable there. */
  secretsRefused?: string[];
  /** Real credential or secret values the upstream echoed back, replaced by placeholders before the container saw them. */
  scrubbed?: number;
  /** An AWS request re-signed by the gateway: the service and region the client signed for (never a key). */
  aws?: { service: string; region: string };
  /** The proxy answered the request itself (a grant's local answer); the upstream was not contacted. */
  local?: true;
  blocked?: boolean;
  reason?: string;
  /** With `blocked`: which policy step refused it. */
  refusal?: RefusalKind;
  /** With `blocked`: the port the request was for (the fix for an internal address names it). */
  port?: number;
  /** Upstream or stream failure, e.g. "ECONNREFUSED". */
  error?: string;
  /** With trace bodies on: headers (credential headers masked) and the first bytes of each body. */
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  requestBody?: string;
  responseBody?: string;
  /** 'websocket' for tunnelled upgrades. */
  upgrade?: 'websocket';
}

export interface ConnectEvent {
  type: 'connect';
  ts: string;
  host: string;
  port: number;
  allowed: boolean;
  reason?: string;
}

export interface TlsErrorEvent {
  type: 'tls-error';
  ts: string;
  host: string;
  message: string;
}

/** Malformed or abusive client input (bad request line, oversized headers, timeouts). */
export interface ClientErrorEvent {
  type: 'client-error';
  ts: string;
  code: string;
  message: string;
}

/** A decision of the run's filtering ssh-agent (list, sign, session-bind, or a refused message). */
export interface SshAgentEvent {
  type: 'ssh-agent';
  ts: string;
  action: 'list' | 'sign' | 'bind' | 'refuse';
  allowed: boolean;
  reason: string;
  host?: string;
  fingerprint?: string;
  listed?: string[];
}

/** The event of one request as it starts: what the client asked; the outcome is filled in as it happens. */
export function startRequestEvent(req: { method?: string | undefined; url?: string | undefined }, host: string | undefined): RequestEvent {
  return {
    type: 'request',
    ts: new Date().toISOString(),
    method: req.method ?? 'GET',
    url: req.url ?? '',
    host: host ?? '',
    status: 0,
    ttfbMs: 0,
    durationMs: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
}

export type GatewayEvent = RequestEvent | ConnectEvent | TlsErrorEvent | ClientErrorEvent | SshAgentEvent;
