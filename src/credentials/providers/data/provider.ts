import { createHash } from 'node:crypto';
import { MoatError } from '../../../errors.js';
import type { SecretSubstitution } from '../../../gateway/secret-substitution.js';
import { shapedPlaceholder } from '../../secrets/placeholder.js';
import type { Provider, StoredCredential } from '../../types.js';
import { obtainToken, randomFrom, secretField } from '../shared.js';
import { checkHost, checkToken } from './check.js';
import type { ProviderFile } from './schema.js';

/**
 * A Provider made of a provider file: the grant reads one token (stdin or a hidden prompt), checks it
 * with the file's `validate` request, and fixes the run placeholder once (kept with the credential, so
 * the container's value and the gateway's substitution always agree). The gateway gets plain data:
 * a HeaderInjection, or a SecretSubstitution for `substitute: true`.
 */

const CHARSETS = {
  base62: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  hex: '0123456789abcdef',
  digits: '0123456789',
  base64url: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_',
} as const;

// eslint-disable-next-line no-control-regex
const UNSAFE_TOKEN = /[\x00-\x1f\x7f\s]/;

export interface DataProvider extends Provider {
  hosts: readonly string[];
  /** 'built-in' or the file's path. */
  source: string;
  file: ProviderFile;
}

/** The placeholder for `token`: the file's prefix and length when given, else the token's own shape. */
export function dataPlaceholder(file: ProviderFile, token: string): string {
  const { prefix, suffix, length, charset } = file.placeholder;
  if (prefix === undefined && suffix === undefined && length === undefined) return shapedPlaceholder(token);
  const head = prefix ?? '';
  const tail = suffix ?? '';
  const size = Math.max(20, (length ?? token.length) - head.length - tail.length);
  let out: string;
  do out = head + randomFrom(CHARSETS[charset], size) + tail;
  while (out === token || token.includes(out) || out.includes(token));
  return out;
}

/**
 * What the user approves by granting: where the token goes and how (hosts, and the header and format or
 * substitution). Kept with the grant; a file edited afterwards no longer matches it.
 */
export function approvalDigest(file: ProviderFile): string {
  const inject = 'header' in file.inject ? { header: file.inject.header.toLowerCase(), format: file.inject.format } : { substitute: true };
  const hosts = [...new Set(file.hosts.map((h) => h.toLowerCase()))].sort();
  return `sha256:${createHash('sha256').update(JSON.stringify({ hosts, inject })).digest('hex')}`;
}

/** How a file injects its token, for the user: the header, or substitution of its placeholder. */
function injectionText(file: ProviderFile): string {
  return 'header' in file.inject ? `in the ${file.inject.header} header` : 'wherever its placeholder appears';
}

export function dataProvider(name: string, file: ProviderFile, source: string): DataProvider {
  const approved = approvalDigest(file);
  const label = file.label ?? `${name} token`;
  const placeholderOf = (cred: StoredCredential): string => cred.meta?.placeholder ?? dataPlaceholder(file, secretField(cred, 'token'));
  return {
    name,
    description: file.description ?? `${name} (${file.hosts.join(', ')})`,
    hosts: file.hosts,
    source,
    file,
    envVars: [...(file.hostEnv ?? [])],
    // Unused: the check goes to the file's own host (check.ts).
    api: { envVar: '', defaultUrl: `https://${checkHost(file)}` },

    async grant(ctx) {
      // A user's file says where the token goes: shown before the token is asked for (or checked), since
      // its label and prompt are the file's own words and could name another service.
      if (source !== 'built-in') ctx.log(`${source} sends this token to ${file.hosts.join(', ')} (${injectionText(file)}).`);
      const { token, source: from } = await obtainToken(ctx, { provider: name, label, envVars: [...(file.hostEnv ?? [])], prompt: file.prompt });
      if (!token) throw new MoatError(`No ${label} entered.`, { code: 'E_USAGE', hint: `moat grant ${name}` });
      if (UNSAFE_TOKEN.test(token))
        throw new MoatError(`The ${label} holds a space or control character, which no header can carry.`, {
          code: 'E_USAGE',
          hint: `Paste the token alone: printf %s "$TOKEN" | moat grant ${name} --token-stdin`,
        });
      return { provider: name, kind: 'token', secret: { token }, source: from, meta: { placeholder: dataPlaceholder(file, token), approved } };
    },

    checkGrant(cred) {
      if (cred.meta?.approved === approved) return;
      // A built-in changes only with moat itself: a grant stored before moat kept the digest still holds.
      if (cred.meta?.approved === undefined && source === 'built-in') return;
      const what = source === 'built-in' ? `The built-in provider ${name}` : `The provider file providers/${name}.yaml`;
      throw new MoatError(`${what} changed where the ${name} token goes (hosts or inject) since moat grant ${name} approved it, so moat will not send it.`, {
        code: 'E_CREDENTIAL',
        hint: `Check the file, then approve it again: moat grant ${name}`,
      });
    },

    async validate(cred, opts) {
      if (!file.validate) return { summary: 'the provider file has no validate request' };
      await checkToken(name, file, secretField(cred, 'token'), opts.env ?? process.env);
      return { summary: `${checkHost(file)} accepted it` };
    },

    injections(cred) {
      if (!('header' in file.inject)) return [];
      return [{ grant: name, hosts: [...file.hosts], set: { [file.inject.header]: file.inject.format.replaceAll('{token}', secretField(cred, 'token')) } }];
    },

    substitutions(cred): SecretSubstitution[] {
      if (!('substitute' in file.inject)) return [];
      return [{ name, placeholder: placeholderOf(cred), value: secretField(cred, 'token'), hosts: [...file.hosts] }];
    },

    placeholder(cred) {
      const value = placeholderOf(cred);
      return { env: Object.fromEntries(file.env.map((e) => [e, value])), files: [] };
    },
  };
}
