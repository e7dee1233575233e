import type { Decision } from './policy.js';

/**
 * Extra care on a host a grant covers (a credential is added there): requests that would echo the
 * credential back, and headers that re-route a request inside the origin after the path rules decided.
 * (`OPTIONS *` is refused for every host by resolveTarget: it names no path to decide on.)
 */

/** Headers some frameworks and gateways honour to change the path or method after routing. */
const REROUTING_HEADERS = ['x-original-url', 'x-rewrite-url', 'x-override-url', 'x-http-method-override', 'x-http-method', 'x-method-override'] as const;

/** TRACE/TRACK echo the request, the credential included, back to the client. */
export function credentialedRefusal(host: string, method: string): Decision | undefined {
  const m = method.toUpperCase();
  return m === 'TRACE' || m === 'TRACK'
    ? { allowed: false, kind: 'credential', reason: `${m} to ${host} is refused: it would echo the credential back` }
    : undefined;
}

/** Remove the re-routing headers in place. */
export function stripRerouting(headers: Record<string, unknown>): void {
  for (const h of REROUTING_HEADERS) delete headers[h];
}
