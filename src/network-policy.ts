/**
 * The network policy as plain data, declared once: what moat.yaml's `network:` becomes, what a run records
 * (runs/<id>/run.json) and what the gateway compiles. It sits below every folder because the gateway and
 * the run store, which both need it, are siblings on the layer map; config's zod schema is checked against
 * it (schema.ts), so the file format and these types cannot drift apart.
 */

/** permissive: every host not denied is allowed; strict: only the hosts named are. */
export const POLICY_MODES = ['permissive', 'strict'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

/** A `network.rules` entry: a host pattern allowed in full, or one host pattern mapped to its path rules. */
export type NetworkRule = string | Record<string, string[]>;

export interface NetworkPolicy {
  policy: PolicyMode;
  rules: NetworkRule[];
  /** Host patterns always refused. */
  deny: string[];
  /** Host patterns allowed besides `rules` (--allow-host; the gateway adds the grants' hosts itself). */
  allowHosts: string[];
}
