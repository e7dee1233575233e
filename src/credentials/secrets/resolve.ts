import { MoatError } from '../../errors.js';
import type { SecretReference } from '../../secret-reference.js';
import { readOp } from './op.js';
import { shapedPlaceholder } from './placeholder.js';
import type { ResolvedSecret, SecretSpec } from './types.js';

/**
 * Resolve a run's `secrets:` on the host, before anything is created: each from its source (1Password,
 * AWS SSM, this process's environment), each with a placeholder of its shape. A failure names the secret,
 * its reference and the command that fixes it, never a value.
 */

export interface SecretSources {
  env: NodeJS.ProcessEnv;
  /** Test seams; default to op read and the AWS SDK. */
  op?: (name: string, r: Extract<SecretReference, { scheme: 'op' }>, env: NodeJS.ProcessEnv) => Promise<string>;
  ssm?: (name: string, r: Extract<SecretReference, { scheme: 'ssm' }>, env: NodeJS.ProcessEnv) => Promise<string>;
}

async function readValue(spec: SecretSpec, src: SecretSources): Promise<string> {
  const r = spec.from;
  switch (r.scheme) {
    case 'op':
      return (src.op ?? readOp)(spec.name, r, src.env);
    case 'ssm': {
      const read = src.ssm ?? (await import('./ssm.js')).readSsm;
      return read(spec.name, r, src.env);
    }
    case 'env': {
      const value = src.env[r.variable];
      if (value === undefined || value === '') {
        throw new MoatError(`The secret ${spec.name} (${r.ref}) cannot be read: ${r.variable} is not set in the environment moat runs in.`, {
          code: 'E_CONFIG',
          hint: `export ${r.variable}=…   (then run moat again from that shell)`,
        });
      }
      return value;
    }
  }
}

export async function resolveSecrets(specs: readonly SecretSpec[], src: SecretSources): Promise<ResolvedSecret[]> {
  // One source at a time: op may ask the desktop app to unlock, and a failure stops at the first.
  const out: ResolvedSecret[] = [];
  for (const spec of specs) {
    const value = await readValue(spec, src);
    if (value.includes('\0'))
      throw new MoatError(`The secret ${spec.name} (${spec.from.ref}) holds a NUL character, which no environment or header can carry.`, { code: 'E_CONFIG' });
    out.push({
      name: spec.name,
      scheme: spec.from.scheme,
      ref: spec.from.ref,
      value,
      placeholder: shapedPlaceholder(value),
      hosts: spec.hosts,
      ...(spec.expose ? { expose: spec.expose } : {}),
    });
  }
  return out;
}

/** What the container sees: placeholders, or the value itself for `expose: env`. */
export function secretEnv(secrets: readonly ResolvedSecret[]): Record<string, string> {
  return Object.fromEntries(secrets.map((s) => [s.name, s.expose === 'env' ? s.value : s.placeholder]));
}

/** Warnings for the user (never a value): exposed values, and secrets with nowhere to go. */
export function secretWarnings(secrets: readonly ResolvedSecret[]): string[] {
  const out: string[] = [];
  for (const s of secrets) {
    if (s.expose === 'env')
      out.push(
        `The secret ${s.name} is exposed: its real value is in the container's environment, where any process of the run can read and send it (expose: env in moat.yaml).`,
      );
    else if (s.hosts.length === 0)
      out.push(
        `The secret ${s.name} has no hosts: the container gets a placeholder and the real value is sent nowhere (add hosts: [api.example.com] under secrets.${s.name} in moat.yaml).`,
      );
  }
  return out;
}
