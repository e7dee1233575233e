import { MoatError } from '../../errors.js';
import { parseSecretReference } from '../../secret-reference.js';
import type { SecretSpec } from './types.js';

/** moat.yaml's `secrets:` as written (shorthand string or object), normalised into SecretSpecs. */
export type SecretsConfig = Record<string, string | { from: string; hosts?: string[] | undefined; expose?: 'env' | undefined }>;

export function secretSpecs(config: SecretsConfig | undefined, env: Record<string, string>): SecretSpec[] {
  const out: SecretSpec[] = [];
  for (const [name, entry] of Object.entries(config ?? {})) {
    if (name in env) {
      throw new MoatError(`${name} is set both in env: and in secrets: of moat.yaml (or by -e).`, {
        code: 'E_CONFIG',
        hint: `Keep one: remove ${name} from env: (or the -e flag), or from secrets:`,
      });
    }
    const e = typeof entry === 'string' ? { from: entry } : entry;
    const from = parseSecretReference(e.from);
    if (typeof from === 'string') throw new MoatError(`secrets.${name}: ${from}.`, { code: 'E_CONFIG', hint: 'e.g. from: op://Dev/Stripe/test-key' });
    out.push({ name, from, hosts: [...new Set((e.hosts ?? []).map((h) => h.toLowerCase()))], ...(e.expose ? { expose: e.expose } : {}) });
  }
  return out;
}
