import { crc32 } from 'node:zlib';
import type { Provider } from '../types.js';
import { obtainToken, randomBase62, secretField, stringProp, tokenSecret, validateRequest } from './shared.js';

/**
 * GitHub: `api.github.com` takes Bearer; git smart-HTTP on `github.com` takes
 * Basic base64("x-access-token:" + token); raw/objects hosts take Bearer.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `ghp_` + 30 random base62 + 6-char base62 CRC32 checksum, the shape GitHub issues. */
export function githubPlaceholderToken(): string {
  const body = randomBase62(30);
  let n = crc32(body);
  let check = '';
  for (let i = 0; i < 6; i++) {
    check = BASE62[n % 62] + check;
    n = Math.floor(n / 62);
  }
  return `ghp_${body}${check}`;
}

export const github: Provider = {
  name: 'github',
  description: 'GitHub token for gh, git over HTTPS and the API',
  envVars: ['GITHUB_TOKEN', 'GH_TOKEN'],
  api: { envVar: 'MOAT_GITHUB_API_URL', defaultUrl: 'https://api.github.com' },

  async grant(ctx) {
    const { token, source } = await obtainToken(ctx, {
      provider: 'github',
      label: 'GitHub token',
      envVars: this.envVars,
      extra: async () => {
        const fromGh = (await ctx.capture('gh', ['auth', 'token']))?.trim();
        if (!fromGh) return undefined;
        ctx.log('Using the token of the GitHub CLI (`gh auth token`).');
        return { token: fromGh, source: 'gh auth token' };
      },
    });
    return tokenSecret('github', 'token', token, source);
  },

  async validate(cred, opts) {
    const token = secretField(cred, 'token');
    const { body, headers } = await validateRequest('github', opts, '/user', {
      authorization: `Bearer ${token}`,
      'x-github-api-version': '2022-11-28',
      'user-agent': 'moat',
    });
    const meta: Record<string, string> = {};
    const login = stringProp(body, 'login');
    if (login) meta.login = login;
    const scopes = headers.get('x-oauth-scopes');
    if (scopes) meta.tokenScopes = scopes;
    return { meta, ...(login ? { summary: `authenticated as ${login}` } : {}) };
  },

  injections(cred) {
    const token = secretField(cred, 'token');
    const bearer = { authorization: `Bearer ${token}` };
    return [
      { grant: cred.provider, hosts: ['api.github.com'], set: bearer },
      {
        grant: cred.provider,
        hosts: ['github.com'],
        set: { authorization: `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}` },
      },
      { grant: cred.provider, hosts: ['*.githubusercontent.com'], set: bearer },
    ];
  },

  placeholder() {
    const token = githubPlaceholderToken();
    return { env: { GH_TOKEN: token, GITHUB_TOKEN: token }, files: [] };
  },
};
