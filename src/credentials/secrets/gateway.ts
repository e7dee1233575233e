import type { SecretSubstitution } from '../../gateway/secret-substitution.js';
import type { ScrubPair } from '../../gateway/response-scrub.js';
import type { ResolvedSecret } from './types.js';

/** A run's resolved secrets, as the daemon's gateway uses them. */
export interface GatewaySecrets {
  /** Placeholders to replace, each for its hosts (exposed secrets and secrets with no host have none). */
  substitutions: SecretSubstitution[];
  /** Every value, for the log maskers (exposed ones too: the container may print them). */
  redact: string[];
  /** Values a response must not carry into the container, with their placeholders (exposed ones are there already). */
  scrub: ScrubPair[];
  /** What the audit log records of each (never the value). */
  audit: Array<{ name: string; scheme: string; hosts: string[]; exposed: boolean }>;
}

export function gatewaySecrets(secrets: readonly ResolvedSecret[]): GatewaySecrets {
  return {
    substitutions: secrets
      .filter((s) => s.expose !== 'env' && s.hosts.length > 0)
      .map((s) => ({ name: s.name, placeholder: s.placeholder, value: s.value, hosts: s.hosts })),
    redact: secrets.map((s) => s.value),
    scrub: secrets.filter((s) => s.expose !== 'env').map((s) => ({ value: s.value, placeholder: s.placeholder })),
    audit: secrets.map((s) => ({ name: s.name, scheme: s.scheme, hosts: s.hosts, exposed: s.expose === 'env' })),
  };
}
