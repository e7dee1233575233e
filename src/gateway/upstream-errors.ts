import { INTERNAL_ADDRESS_CODE, type InternalAddressError } from './addresses.js';
import { internalRefusal, type Decision } from './policy.js';

/**
 * What an upstream failure code (as recorded in a request event's `error`) means, in words a user can act
 * on. Shared by the gateway's 502/504 answers and the hints printed after a run.
 */

/** Why the upstream could not be used: its network path, its TLS certificate, or its (slow) answer. */
export type UpstreamFailureKind = 'network' | 'tls' | 'slow';

export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  /** A few words, e.g. "connection refused". */
  cause: string;
}

const NETWORK: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'DNS lookup failed',
  EAI_AGAIN: 'DNS lookup failed',
  EAI_FAIL: 'DNS lookup failed',
  EAI_NONAME: 'DNS lookup failed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
  EPIPE: 'connection closed',
  UPSTREAM_PROXY_REFUSED: 'the upstream proxy refused the connection',
};

const SLOW: Readonly<Record<string, string>> = {
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
};

/** TLS verification and handshake failures (Node's and OpenSSL's codes). */
function isTls(code: string): boolean {
  return /CERT|^UNABLE_TO_|^ERR_SSL_|^ERR_TLS_|^EPROTO$/.test(code);
}

/** The failure an error code stands for; undefined for codes that do not say the upstream is unusable. */
export function describeUpstreamError(code: string): UpstreamFailure | undefined {
  const network = NETWORK[code];
  if (network) return { kind: 'network', cause: network };
  const slow = SLOW[code];
  if (slow) return { kind: 'slow', cause: slow };
  if (isTls(code)) return { kind: 'tls', cause: /CERT|UNABLE_TO_/.test(code) ? 'TLS certificate not trusted' : 'TLS handshake failed' };
  return undefined;
}

/** The body of the gateway's 502/504 when the upstream request failed: one sentence naming host and cause. */
export function upstreamFailureMessage(host: string, code: string): string {
  const f = describeUpstreamError(code);
  if (!f) return `Moat could not complete the request to ${host} (${code}).`;
  if (f.kind === 'slow') return `Moat reached ${host} but got ${f.cause} (${code}).`;
  return `Moat could not reach ${host} from this machine: ${f.cause} (${code}).`;
}

/**
 * A dial the gateway refused because the name resolved to an internal address (addresses.ts): answered as
 * a policy refusal (403 with the moat.yaml line that allows it), not as an unreachable upstream.
 */
export function internalDialRefusal(err: unknown, host: string, port: number): Decision | undefined {
  const e = err as Partial<InternalAddressError> | null;
  if (e?.code !== INTERNAL_ADDRESS_CODE) return undefined;
  return internalRefusal(host, port, e.address);
}
