import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../../errors.js';
import type { GrantContext, GrantedSecret, Provider } from '../types.js';
import { obtainToken, postTokenRefresh, randomBase64Url, refreshedExpiry, secretField, stringProp, validateRequest } from './shared.js';

/**
 * Claude subscription (OAuth): `Authorization: Bearer` + `anthropic-beta: oauth-2025-04-20` on
 * api.anthropic.com with the client's `x-api-key` removed. The container gets a Claude Code
 * credentials file whose tokens are placeholders.
 */

const OAUTH_BETA = 'oauth-2025-04-20';
const ANTHROPIC_VERSION = '2023-06-01';
/** Claude Code's public OAuth client id, sent with refresh-token grants. */
const CLAUDE_CLIENT_ID = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
/** 2099-01-01T00:00:00Z in ms: far future, and never a zero time (which logs Claude Code out). */
export const FAR_FUTURE_MS = Date.UTC(2099, 0, 1);

const claudeOauthPlaceholder = (): string => `sk-ant-oat01-${randomBase64Url(93)}AA`;
const claudeRefreshPlaceholder = (): string => `sk-ant-ort01-${randomBase64Url(93)}AA`;

/** Parse Claude Code's `.credentials.json` ({claudeAiOauth: {...}}) into a grant. */
function parseClaudeCredentials(text: string, source: string): GrantedSecret {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new MoatError(`${source} is not valid JSON.`, { code: 'E_CREDENTIAL', hint: 'Log in again with `claude`, then run: moat grant claude --import' });
  }
  const oauth = (data as { claudeAiOauth?: Record<string, unknown> } | null)?.claudeAiOauth;
  const accessToken = typeof oauth?.accessToken === 'string' ? oauth.accessToken : undefined;
  if (!oauth || !accessToken) {
    throw new MoatError(`${source} holds no Claude login (claudeAiOauth.accessToken).`, {
      code: 'E_CREDENTIAL',
      hint: 'Log in with `claude`, or create a token with `claude setup-token` and run: moat grant claude',
    });
  }
  const secret: Record<string, string> = { token: accessToken };
  if (typeof oauth.refreshToken === 'string') secret.refreshToken = oauth.refreshToken;
  const meta: Record<string, string> = {};
  if (typeof oauth.subscriptionType === 'string') meta.subscriptionType = oauth.subscriptionType;
  if (Array.isArray(oauth.scopes)) meta.oauthScopes = oauth.scopes.filter((s) => typeof s === 'string').join(' ');
  const expiresAt = typeof oauth.expiresAt === 'number' && oauth.expiresAt > 0 ? new Date(oauth.expiresAt).toISOString() : undefined;
  return { provider: 'claude', kind: 'oauth', secret, source: `import:${source}`, meta, ...(expiresAt ? { expiresAt } : {}) };
}

async function importHostLogin(ctx: GrantContext): Promise<GrantedSecret> {
  const path = join(ctx.hostHome, '.claude', '.credentials.json');
  try {
    return parseClaudeCredentials(await readFile(path, 'utf8'), path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    throw new MoatError(`No Claude Code login found at ${path}.`, {
      code: 'E_NOT_FOUND',
      hint: 'On macOS the login lives in the keychain: create a token with `claude setup-token` and run: moat grant claude',
    });
  }
}

async function setupToken(ctx: GrantContext): Promise<GrantedSecret | undefined> {
  ctx.log('Running `claude setup-token`. Copy the token it prints, then paste it here.');
  const code = await ctx.runAttached('claude', ['setup-token']);
  if (code === undefined) {
    ctx.log('The `claude` command is not installed; paste a token instead.');
    return undefined;
  }
  const token = (await ctx.promptSecret('Paste the token from `claude setup-token`:')).trim();
  return token ? { provider: 'claude', kind: 'oauth', secret: { token }, source: 'claude setup-token' } : undefined;
}

export const claude: Provider = {
  name: 'claude',
  description: 'Claude subscription (Pro/Max) login for Claude Code',
  envVars: ['CLAUDE_CODE_OAUTH_TOKEN'],
  api: { envVar: 'MOAT_ANTHROPIC_API_URL', defaultUrl: 'https://api.anthropic.com' },
  auth: { envVar: 'MOAT_CLAUDE_AUTH_URL', defaultUrl: 'https://platform.claude.com/v1/oauth/token' },

  async grant(ctx) {
    if (ctx.import) return importHostLogin(ctx);
    if (ctx.isTTY && !ctx.tokenStdin && !this.envVars.some((v) => ctx.env[v])) {
      const how = await ctx.choose('How do you want to grant your Claude subscription?', [
        { value: 'setup', name: 'Run `claude setup-token` (long-lived token, recommended)' },
        { value: 'paste', name: 'Paste a token' },
        { value: 'import', name: 'Import the Claude Code login of this machine' },
      ]);
      if (how === 'import') return importHostLogin(ctx);
      if (how === 'setup') {
        const got = await setupToken(ctx);
        if (got) return got;
      }
    }
    const { token, source } = await obtainToken(ctx, { provider: 'claude', label: 'Claude OAuth token', envVars: this.envVars });
    return { provider: 'claude', kind: 'oauth', secret: { token }, source };
  },

  async validate(cred, opts) {
    await validateRequest('claude', opts, '/v1/models?limit=1', {
      authorization: `Bearer ${secretField(cred, 'token')}`,
      'anthropic-beta': OAUTH_BETA,
      'anthropic-version': ANTHROPIC_VERSION,
    });
    return { summary: 'the token is valid' };
  },

  injections(cred) {
    return [
      {
        grant: cred.provider,
        // Claude Code's turns (`/v1/messages`) on port 443. Its OAuth refresh goes to the auth host with
        // the container's placeholder refresh token and needs no credential added; the host refreshes.
        hosts: ['api.anthropic.com'],
        set: { authorization: `Bearer ${secretField(cred, 'token')}`, 'anthropic-beta': OAUTH_BETA },
        remove: ['x-api-key'],
      },
    ];
  },

  placeholder(cred) {
    const file = {
      claudeAiOauth: {
        accessToken: claudeOauthPlaceholder(),
        refreshToken: claudeRefreshPlaceholder(),
        expiresAt: FAR_FUTURE_MS,
        scopes: ['user:inference', 'user:profile'],
        subscriptionType: cred.meta?.subscriptionType ?? 'max',
      },
    };
    return { env: {}, files: [{ path: '.claude/.credentials.json', content: `${JSON.stringify(file, null, 2)}\n`, mode: 0o600 }] };
  },

  /** An imported Claude Code login expires within hours; renew it with its refresh token. */
  async refresh(cred, opts) {
    const refreshToken = cred.secret.refreshToken;
    if (!refreshToken) return undefined;
    const body = await postTokenRefresh('the Claude login', opts, { client_id: CLAUDE_CLIENT_ID, refresh_token: refreshToken }, 'moat grant claude');
    const access = stringProp(body, 'access_token') ?? '';
    const now = opts.now ?? new Date();
    const expiresAt = refreshedExpiry(access, body, now);
    const { expiresAt: _old, ...rest } = cred;
    return {
      ...rest,
      secret: { token: access, refreshToken: stringProp(body, 'refresh_token') ?? refreshToken },
      meta: { ...cred.meta, lastRefresh: now.toISOString() },
      ...(expiresAt ? { expiresAt } : {}),
    };
  },
};
