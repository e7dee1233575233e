import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../../errors.js';
import type { GrantContext, GrantedSecret, HeaderInjection, HttpOptions, LocalResponse, Placeholders, Provider, StoredCredential } from '../types.js';
import { chatgptFromTokens, codexPlaceholderAuth, parseCodexAuth } from './codex-auth.js';
import { obtainToken, postTokenRefresh, randomBase64Url, refreshedExpiry, secretField, stringProp, validateRequest } from './shared.js';

/**
 * OpenAI, two kinds under one grant:
 * - 'api-key': Bearer on api.openai.com; the container sees OPENAI_API_KEY=sk-…
 * - 'chatgpt' (Codex's ChatGPT sign-in): Bearer <access token> + ChatGPT-Account-Id on chatgpt.com and
 *   api.openai.com; the container sees a placeholder ~/.codex/auth.json. Refreshed on the host.
 */

const CODEX_CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
/**
 * Where a ChatGPT sign-in is sent (port 443): `chatgpt.com` carries Codex's turns with that sign-in
 * (`/backend-api/codex/responses`, over HTTPS or a WebSocket) and its account and plugin calls;
 * `api.openai.com` is the built-in provider's host, which Codex also calls with the same bearer.
 */
const CHATGPT_HOSTS = ['chatgpt.com', 'api.openai.com'];
/** Where Codex itself refreshes its ChatGPT sign-in (POST, JSON refresh-token grant): answered locally, never forwarded. */
const CODEX_REFRESH = { host: 'auth.openai.com', path: '/oauth/token' };

/**
 * The answer to the container's own refresh call: a token response whose tokens are fresh placeholders
 * shaped like real ones (as in the placeholder auth.json), so Codex's refresh "succeeds" without a
 * real token ever entering the container. The host keeps the real sign-in fresh on its own.
 */
function codexRefreshResponse(cred: StoredCredential, now: Date = new Date()): LocalResponse {
  const { tokens } = JSON.parse(codexPlaceholderAuth(cred, now)) as { tokens: { id_token: string; access_token: string; refresh_token: string } };
  return {
    grant: cred.provider,
    hosts: [CODEX_REFRESH.host],
    method: 'POST',
    path: CODEX_REFRESH.path,
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify({
      id_token: tokens.id_token,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      token_type: 'Bearer',
      scope: 'openid profile email offline_access',
    }),
  };
}

const openaiPlaceholderKey = (): string => `sk-proj-${randomBase64Url(156)}`;

async function importCodexLogin(ctx: GrantContext): Promise<GrantedSecret> {
  const codexHome = ctx.env.CODEX_HOME || join(ctx.hostHome, '.codex');
  const path = join(codexHome, 'auth.json');
  try {
    return parseCodexAuth(await readFile(path, 'utf8'), path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    throw new MoatError(`No Codex login found at ${path}.`, {
      code: 'E_NOT_FOUND',
      hint: 'Sign in with `codex login` (or pass an API key: moat grant openai), then run: moat grant openai --import',
    });
  }
}

async function codexLogin(ctx: GrantContext): Promise<GrantedSecret | undefined> {
  const code = await ctx.runAttached('codex', ['login']);
  if (code === undefined) {
    ctx.log('The `codex` command is not installed; paste an API key instead.');
    return undefined;
  }
  if (code !== 0) throw new MoatError(`\`codex login\` failed (exit ${code}).`, { code: 'E_CREDENTIAL', hint: 'moat grant openai' });
  return importCodexLogin(ctx);
}

export const openai: Provider = {
  name: 'openai',
  description: 'OpenAI API key, or the ChatGPT sign-in used by Codex',
  envVars: ['OPENAI_API_KEY'],
  api: { envVar: 'MOAT_OPENAI_API_URL', defaultUrl: 'https://api.openai.com' },
  auth: { envVar: 'MOAT_OPENAI_AUTH_URL', defaultUrl: 'https://auth.openai.com/oauth/token' },

  async grant(ctx) {
    if (ctx.import) return importCodexLogin(ctx);
    if (ctx.isTTY && !ctx.tokenStdin && !this.envVars.some((v) => ctx.env[v])) {
      const how = await ctx.choose('How do you want to grant OpenAI?', [
        { value: 'import', name: 'Import the Codex ChatGPT sign-in of this machine (~/.codex/auth.json)' },
        { value: 'login', name: 'Run `codex login` now, then import it' },
        { value: 'key', name: 'Paste an API key' },
      ]);
      if (how === 'import') return importCodexLogin(ctx);
      if (how === 'login') {
        const got = await codexLogin(ctx);
        if (got) return got;
      }
    }
    const { token, source } = await obtainToken(ctx, { provider: 'openai', label: 'OpenAI API key', envVars: this.envVars });
    return { provider: 'openai', kind: 'api-key', secret: { token }, source };
  },

  async validate(cred, opts) {
    if (cred.kind === 'chatgpt') {
      // The ChatGPT backend has no stable "who am I" endpoint; check what we can locally.
      secretField(cred, 'accessToken');
      if (cred.expiresAt && Date.parse(cred.expiresAt) <= Date.now() && !cred.secret.refreshToken) {
        throw new MoatError('The Codex sign-in has expired and has no refresh token.', {
          code: 'E_CREDENTIAL',
          hint: 'Sign in again with `codex login`, then run: moat grant openai --import',
        });
      }
      return { summary: cred.meta?.accountId ? `ChatGPT account ${cred.meta.accountId}` : 'ChatGPT sign-in imported' };
    }
    await validateRequest('openai', opts, '/v1/models', { authorization: `Bearer ${secretField(cred, 'token')}` });
    return { summary: 'the key is valid' };
  },

  injections(cred): HeaderInjection[] {
    if (cred.kind === 'chatgpt') {
      const set: Record<string, string> = { authorization: `Bearer ${secretField(cred, 'accessToken')}` };
      if (cred.meta?.accountId) set['chatgpt-account-id'] = cred.meta.accountId;
      return [{ grant: cred.provider, hosts: CHATGPT_HOSTS, set }];
    }
    // An API key is only ever valid on the API host (Codex's built-in provider, the SDKs), port 443.
    return [{ grant: cred.provider, hosts: ['api.openai.com'], set: { authorization: `Bearer ${secretField(cred, 'token')}` } }];
  },

  placeholder(cred): Placeholders {
    if (cred.kind === 'chatgpt') {
      return { env: {}, files: [{ path: '.codex/auth.json', content: codexPlaceholderAuth(cred), mode: 0o600 }] };
    }
    return { env: { OPENAI_API_KEY: openaiPlaceholderKey() }, files: [] };
  },

  localResponses(cred): LocalResponse[] {
    return cred.kind === 'chatgpt' ? [codexRefreshResponse(cred)] : [];
  },

  async refresh(cred, opts) {
    const refreshToken = cred.kind === 'chatgpt' ? cred.secret.refreshToken : undefined;
    if (!refreshToken) return undefined;
    return refreshChatgpt(cred, refreshToken, opts);
  },
};

/** POST the refresh token to the OpenAI auth server (as Codex does) and return the renewed credential. */
async function refreshChatgpt(cred: StoredCredential, refreshToken: string, opts: HttpOptions & { now?: Date }): Promise<StoredCredential> {
  const body = await postTokenRefresh(
    'the Codex sign-in',
    opts,
    { client_id: CODEX_CLIENT_ID, refresh_token: refreshToken, scope: 'openid profile email' },
    'Sign in again with `codex login`, then run: moat grant openai --import',
  );
  const access = stringProp(body, 'access_token') ?? '';
  const renewed = chatgptFromTokens(
    {
      access_token: access,
      id_token: stringProp(body, 'id_token') ?? cred.secret.idToken,
      refresh_token: stringProp(body, 'refresh_token') ?? refreshToken,
      account_id: cred.meta?.accountId,
    },
    cred.source,
  );
  const now = opts.now ?? new Date();
  const expiresAt = refreshedExpiry(access, body, now);
  const { expiresAt: _old, ...rest } = cred;
  return {
    ...rest,
    secret: renewed.secret,
    meta: { ...cred.meta, ...renewed.meta, lastRefresh: now.toISOString() },
    ...(expiresAt ? { expiresAt } : {}),
  };
}
