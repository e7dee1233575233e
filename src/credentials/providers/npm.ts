import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../../errors.js';
import type { GrantContext, Provider, StoredCredential } from '../types.js';
import { obtainToken, randomBase62, stringProp, validateRequest } from './shared.js';

/**
 * npm registries: Bearer on each registry host. Secret keys are .npmrc registry keys
 * (`//registry.npmjs.org/`), values their tokens. The container gets an `.npmrc` with placeholders.
 */

const NPM_DEFAULT_REGISTRY = '//registry.npmjs.org/';
const AUTH_LINE = /^\s*(\/\/[^\s=]+\/):_authToken\s*=\s*(.+?)\s*$/;

const npmPlaceholderToken = (): string => `npm_${randomBase62(36)}`;

/** Literal `_authToken`s of an .npmrc, keyed by registry; `${VAR}` references are skipped. */
export function parseNpmrcTokens(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = AUTH_LINE.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const value = m[2].replace(/^(["'])(.*)\1$/, '$2');
    if (value.includes('${')) continue;
    out[m[1]] = value;
  }
  return out;
}

function hostOf(registryKey: string): string {
  return new URL(`https:${registryKey}`).host;
}

async function readHostNpmrc(ctx: GrantContext): Promise<{ tokens: Record<string, string>; path: string } | undefined> {
  const path = ctx.env.NPM_CONFIG_USERCONFIG || join(ctx.hostHome, '.npmrc');
  try {
    const tokens = parseNpmrcTokens(await readFile(path, 'utf8'));
    return Object.keys(tokens).length > 0 ? { tokens, path } : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export const npm: Provider = {
  name: 'npm',
  description: 'npm registry tokens (publish, private packages)',
  envVars: ['NPM_TOKEN'],
  api: { envVar: 'MOAT_NPM_REGISTRY_URL', defaultUrl: 'https://registry.npmjs.org' },

  async grant(ctx) {
    if (ctx.import) {
      const found = await readHostNpmrc(ctx);
      if (!found) throw new MoatError('No registry tokens found in your .npmrc.', { code: 'E_NOT_FOUND', hint: 'npm login, then: moat grant npm --import' });
      return { provider: 'npm', kind: 'token', secret: found.tokens, source: `import:${found.path}` };
    }
    if (!ctx.tokenStdin && !ctx.env.NPM_TOKEN?.trim()) {
      const found = await readHostNpmrc(ctx);
      if (found) {
        ctx.log(`Using the registry tokens in ${found.path}.`);
        return { provider: 'npm', kind: 'token', secret: found.tokens, source: `import:${found.path}` };
      }
    }
    const { token, source } = await obtainToken(ctx, { provider: 'npm', label: 'npm token', envVars: this.envVars });
    return { provider: 'npm', kind: 'token', secret: { [NPM_DEFAULT_REGISTRY]: token }, source };
  },

  async validate(cred, opts) {
    const token = cred.secret[NPM_DEFAULT_REGISTRY];
    if (!token) return { summary: 'registries other than registry.npmjs.org are not checked' };
    const { body } = await validateRequest('npm', opts, '/-/whoami', { authorization: `Bearer ${token}` });
    const username = stringProp(body, 'username');
    return username ? { meta: { login: username }, summary: `authenticated as ${username}` } : {};
  },

  injections(cred: StoredCredential) {
    return Object.entries(cred.secret).map(([registry, token]) => ({
      grant: cred.provider,
      // Each registry the user holds a token for, on its own port when its .npmrc key names one
      // (`//registry.corp:8443/`), else 443: npm sends the token only to that registry.
      hosts: [hostOf(registry)],
      set: { authorization: `Bearer ${token}` },
    }));
  },

  placeholder(cred) {
    const env: Record<string, string> = {};
    const lines: string[] = [];
    for (const registry of Object.keys(cred.secret)) {
      const token = npmPlaceholderToken();
      lines.push(`${registry}:_authToken=${token}`);
      if (registry === NPM_DEFAULT_REGISTRY) env.NPM_TOKEN = token;
    }
    return { env, files: [{ path: '.npmrc', content: `${lines.join('\n')}\n`, mode: 0o600 }] };
  },
};
