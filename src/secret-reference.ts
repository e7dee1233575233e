/**
 * Where a `secrets:` value of moat.yaml comes from, as data: `op://vault/item/[section/]field` (read with
 * the 1Password CLI), `ssm:///name` or `ssm://REGION/name` (AWS SSM Parameter Store, with the default
 * credential chain), `env://NAME` (the environment moat itself runs in). The moat.yaml schema and the
 * resolver share this one grammar. A reference names a place, never a value: it may be shown and logged.
 */

export type SecretReference =
  | { scheme: 'op'; ref: string; vault: string; item: string }
  | { scheme: 'ssm'; ref: string; region?: string; name: string }
  | { scheme: 'env'; ref: string; variable: string };

const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** SSM parameter names: letters, digits and . - _ /, at most 2048 characters. */
const SSM_NAME = /^\/?[A-Za-z0-9_.\-/]{1,2047}$/;

export function parseSecretReference(text: string): SecretReference | string {
  const m = /^(op|ssm|env):\/\/(.*)$/.exec(text);
  const scheme = m?.[1] as 'op' | 'ssm' | 'env' | undefined;
  if (!m || !scheme) return 'expected "op://vault/item/field", "ssm:///parameter-name", "ssm://REGION/parameter-name" or "env://HOST_VARIABLE"';
  const rest = m[2] ?? '';
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(rest)) return 'a secret reference holds no spaces or control characters';
  switch (scheme) {
    case 'op': {
      const parts = rest.split('?')[0]!.split('/');
      if (parts.length < 3 || parts.length > 4 || parts.some((p) => p === '')) return 'expected "op://vault/item/field" or "op://vault/item/section/field"';
      return { scheme: 'op', ref: text, vault: parts[0]!, item: parts[1]! };
    }
    case 'ssm': {
      const slash = rest.indexOf('/');
      if (slash < 0) return 'expected "ssm:///parameter-name" (default region) or "ssm://REGION/parameter-name"';
      const region = rest.slice(0, slash);
      const name = rest.slice(slash);
      if (region !== '' && !REGION.test(region)) return `"${region}" is not an AWS region name (e.g. eu-west-1)`;
      if (!SSM_NAME.test(name) || name === '/') return 'an SSM parameter name holds letters, digits, ".", "-", "_" and "/"';
      return { scheme: 'ssm', ref: text, ...(region ? { region } : {}), name };
    }
    case 'env':
      if (!ENV_VAR.test(rest)) return 'expected "env://NAME" with a variable name (letters, digits and _)';
      return { scheme: 'env', ref: text, variable: rest };
  }
}

/** The problem with a reference, or undefined (the schema's check). */
export function secretReferenceProblem(text: string): string | undefined {
  const r = parseSecretReference(text);
  return typeof r === 'string' ? r : undefined;
}
