import { crc32 } from 'node:zlib';
import type { Provider } from '../types.js';
import { obtainToken, randomBase62, secretField, stringProp, tokenSecret, validateRequest } from './shared.js';

/**
 * GitHub. Each host below is one a client in the container needs the token on (all on port 443):
 * `gh` sends its token to `github.com` and any `*.github.com` host (cli/cli `NormalizeHostname`), never
 * to githubusercontent.com hosts (release assets and raw files are fetched there through signed URLs,
 * and Go drops `Authorization` on a cross-host redirect); git sends credentials to its remote's host.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `ghp_` + 30 random base62 + 6-char base62 CRC32 checksum, the shape GitHub issues. */
function githubPlaceholderToken(): string {
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
      // The REST and GraphQL API (`gh api`, `gh pr …`, `gh issue …`).
      { grant: cred.provider, hosts: ['api.github.com'], set: bearer },
      // git smart-HTTP (clone, fetch, push: `/o/r.git/info/refs`, `git-upload-pack`, `git-receive-pack`),
      // which takes Basic with the `x-access-token` user, not Bearer.
      {
        grant: cred.provider,
        hosts: ['github.com'],
        set: { authorization: `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}` },
      },
      // Release asset uploads (`gh release upload`, `gh release create` with files): the API's
      // `upload_url` points here.
      { grant: cred.provider, hosts: ['uploads.github.com'], set: bearer },
    ];
  },

  placeholder() {
    const token = githubPlaceholderToken();
    return { env: { GH_TOKEN: token, GITHUB_TOKEN: token }, files: [] };
  },
};
