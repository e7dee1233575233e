import { randomUUID } from 'node:crypto';
import { MoatError } from '../../errors.js';
import type { GrantedSecret, StoredCredential } from '../types.js';
import { decodeJwtClaims, fakeJwt, jwtExpiry, randomBase62, randomBase64Url } from './shared.js';

/** Codex CLI's `auth.json`: parsing the host's login and building the container's placeholder copy. */

const AUTH_CLAIM = 'https://api.openai.com/auth';
const PROFILE_CLAIM = 'https://api.openai.com/profile';
/** 2099-01-01T00:00:00Z in seconds. */
const FAR_FUTURE_S = Math.floor(Date.UTC(2099, 0, 1) / 1000);

function accountIdFromClaims(token: string | undefined): string | undefined {
  if (!token) return undefined;
  const auth = decodeJwtClaims(token)?.[AUTH_CLAIM];
  const id = auth && typeof auth === 'object' ? (auth as Record<string, unknown>).chatgpt_account_id : undefined;
  return typeof id === 'string' ? id : undefined;
}

function planFromClaims(token: string | undefined): string | undefined {
  if (!token) return undefined;
  const auth = decodeJwtClaims(token)?.[AUTH_CLAIM];
  const plan = auth && typeof auth === 'object' ? (auth as Record<string, unknown>).chatgpt_plan_type : undefined;
  return typeof plan === 'string' ? plan : undefined;
}

/** Secret and non-secret fields of a ChatGPT sign-in, from raw tokens. */
export function chatgptFromTokens(
  tokens: { access_token: string; id_token?: string; refresh_token?: string; account_id?: string },
  source: string,
): GrantedSecret {
  const secret: Record<string, string> = { accessToken: tokens.access_token };
  if (tokens.id_token) secret.idToken = tokens.id_token;
  if (tokens.refresh_token) secret.refreshToken = tokens.refresh_token;
  const meta: Record<string, string> = {};
  const accountId = tokens.account_id ?? accountIdFromClaims(tokens.id_token) ?? accountIdFromClaims(tokens.access_token);
  if (accountId) meta.accountId = accountId;
  const plan = planFromClaims(tokens.id_token) ?? planFromClaims(tokens.access_token);
  if (plan) meta.planType = plan;
  const expiresAt = jwtExpiry(tokens.access_token);
  return { provider: 'openai', kind: 'chatgpt', secret, source, meta, ...(expiresAt ? { expiresAt } : {}) };
}

/**
 * Parse a Codex `auth.json` in either shape: current `{tokens: {id_token, access_token, refresh_token,
 * account_id}}` (ChatGPT sign-in), older `{token}`, or `{OPENAI_API_KEY}` (API key login).
 */
export function parseCodexAuth(text: string, path: string): GrantedSecret {
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    data = parsed as Record<string, unknown>;
  } catch {
    throw new MoatError(`${path} is not valid JSON.`, { code: 'E_CREDENTIAL', hint: 'Sign in again with `codex login`, then run: moat grant openai --import' });
  }
  const source = `import:${path}`;
  const tokens = data.tokens as Record<string, unknown> | null | undefined;
  if (tokens && typeof tokens === 'object' && typeof tokens.access_token === 'string' && tokens.access_token) {
    const str = (k: string): string | undefined => (typeof tokens[k] === 'string' && tokens[k] ? (tokens[k] as string) : undefined);
    return chatgptFromTokens(
      { access_token: tokens.access_token, id_token: str('id_token'), refresh_token: str('refresh_token'), account_id: str('account_id') },
      source,
    );
  }
  if (typeof data.token === 'string' && data.token) {
    if (data.token.startsWith('sk-')) return { provider: 'openai', kind: 'api-key', secret: { token: data.token }, source };
    return chatgptFromTokens({ access_token: data.token }, source);
  }
  if (typeof data.OPENAI_API_KEY === 'string' && data.OPENAI_API_KEY) {
    return { provider: 'openai', kind: 'api-key', secret: { token: data.OPENAI_API_KEY }, source };
  }
  throw new MoatError(`${path} holds no Codex login (neither tokens nor an API key).`, {
    code: 'E_CREDENTIAL',
    hint: 'Sign in with `codex login`, then run: moat grant openai --import',
  });
}

/**
 * A Codex auth.json whose every token is a fresh placeholder: JWT-shaped, plausible claims, far expiry.
 * The ChatGPT account id is the real one when known: it is an identifier, not a credential, and Codex
 * (0.157 and later) refuses to send a turn unless its account is among those the backend lists for the
 * signed-in user (workspace routing discovery).
 */
export function codexPlaceholderAuth(cred: StoredCredential, now: Date = new Date()): string {
  const accountId = cred.meta?.accountId ?? randomUUID();
  const userId = `user-${randomBase62(24)}`;
  const iat = Math.floor(now.getTime() / 1000);
  const auth = { chatgpt_account_id: accountId, chatgpt_plan_type: cred.meta?.planType ?? 'plus', chatgpt_user_id: userId, user_id: userId };
  const common = { iss: 'https://auth.openai.com', iat, exp: FAR_FUTURE_S, [AUTH_CLAIM]: auth };
  const idToken = fakeJwt({
    ...common,
    aud: ['app_EMoamEEZ73f0CkXaXp7hrann'],
    sub: `auth0|${randomBase62(24)}`,
    email: 'user@example.com',
    email_verified: true,
    auth_time: iat,
    jti: randomUUID(),
  });
  const accessToken = fakeJwt({
    ...common,
    aud: ['https://api.openai.com/v1'],
    sub: `auth0|${randomBase62(24)}`,
    scp: ['openid', 'profile', 'email', 'offline_access'],
    [PROFILE_CLAIM]: { email: 'user@example.com', email_verified: true },
    jti: randomUUID(),
  });
  const file = {
    OPENAI_API_KEY: null,
    tokens: { id_token: idToken, access_token: accessToken, refresh_token: `rt_${randomBase64Url(64)}`, account_id: accountId },
    last_refresh: now.toISOString(),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}
