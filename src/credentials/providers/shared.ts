import { randomBytes, randomInt } from 'node:crypto';
import { MoatError } from '../../errors.js';
import type { GrantContext, GrantedSecret, HttpOptions } from '../types.js';

/** Helpers every provider uses: random placeholders, the common secret sources, HTTP validation. */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE64URL = `${BASE62}-_`;

export function randomFrom(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export const randomBase62 = (length: number): string => randomFrom(BASE62, length);
export const randomBase64Url = (length: number): string => randomFrom(BASE64URL, length);
export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

export function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** A JWT-shaped token with the given claims and a random (meaningless) signature. */
export function fakeJwt(claims: Record<string, unknown>): string {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: randomHex(8) }));
  return `${header}.${base64url(JSON.stringify(claims))}.${randomBase64Url(342)}`;
}

/** Claims of a JWT, without verifying it; undefined when it is not one. */
export function decodeJwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** ISO expiry from a JWT's `exp` claim, if any. */
export function jwtExpiry(token: string): string | undefined {
  const exp = decodeJwtClaims(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? new Date(exp * 1000).toISOString() : undefined;
}

/**
 * The sources every token provider shares, in order: `--token-stdin`, the provider's env vars, then
 * `extra` (e.g. `gh auth token`), then a hidden prompt on a TTY. Without any, a MoatError says how.
 */
export async function obtainToken(
  ctx: GrantContext,
  opts: {
    provider: string;
    label: string;
    envVars: string[];
    extra?: () => Promise<{ token: string; source: string } | undefined>;
    /** The prompt's text (default: "Paste your LABEL:"). */
    prompt?: string;
  },
): Promise<{ token: string; source: string }> {
  if (ctx.tokenStdin) {
    const token = (await ctx.readStdin()).trim();
    if (!token) throw new MoatError(`No ${opts.label} on stdin.`, { code: 'E_USAGE', hint: `echo "$TOKEN" | moat grant ${opts.provider} --token-stdin` });
    return { token, source: 'stdin' };
  }
  for (const name of opts.envVars) {
    const value = ctx.env[name]?.trim();
    if (value) {
      ctx.log(`Using the ${opts.label} from $${name}.`);
      return { token: value, source: `env:${name}` };
    }
  }
  const extra = await opts.extra?.();
  if (extra) return extra;
  if (ctx.isTTY) {
    const token = (await ctx.promptSecret(opts.prompt ?? `Paste your ${opts.label}:`)).trim();
    if (!token) throw new MoatError(`No ${opts.label} entered.`, { code: 'E_USAGE', hint: `moat grant ${opts.provider}` });
    return { token, source: 'prompt' };
  }
  const envHint = opts.envVars[0] ? ` or set ${opts.envVars[0]}` : '';
  throw new MoatError(`No ${opts.label} found and no terminal to ask for one.`, {
    code: 'E_USAGE',
    hint: `Pipe it in: moat grant ${opts.provider} --token-stdin${envHint}`,
  });
}

export function tokenSecret(provider: string, kind: string, token: string, source: string): GrantedSecret {
  return { provider, kind, secret: { token }, source };
}

/** The credential's single secret value, or a MoatError naming the fix. */
export function secretField(cred: { provider: string; secret: Record<string, string> }, field: string): string {
  const value = cred.secret[field];
  if (!value) throw new MoatError(`The ${cred.provider} grant has no ${field}.`, { code: 'E_CREDENTIAL', hint: `moat grant ${cred.provider}` });
  return value;
}

export function resolveUrl(opts: HttpOptions, path: string): string {
  return `${opts.baseUrl.replace(/\/+$/, '')}${path}`;
}

/**
 * GET a provider endpoint with credential headers. 2xx → the parsed JSON body (or undefined);
 * 401/403 → "rejected" MoatError; anything else → MoatError suggesting `--no-validate`.
 */
export async function validateRequest(
  provider: string,
  opts: HttpOptions,
  path: string,
  headers: Record<string, string>,
): Promise<{ body: unknown; headers: Headers }> {
  const url = resolveUrl(opts, path);
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: { accept: 'application/json', ...headers },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      redirect: 'manual',
    });
  } catch (err) {
    throw new MoatError(`Could not reach ${new URL(url).host} to check the ${provider} credential: ${describeFetchError(err)}.`, {
      code: 'E_NETWORK',
      hint: `Check your network, or skip the check: moat grant ${provider} --no-validate`,
      cause: err,
    });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new MoatError(`${new URL(url).host} rejected the ${provider} credential (HTTP ${res.status}): it is wrong, expired or revoked.`, {
      code: 'E_CREDENTIAL',
      hint: `Create a new one and run: moat grant ${provider}`,
    });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new MoatError(`Could not check the ${provider} credential: ${new URL(url).host} answered HTTP ${res.status}.`, {
      code: 'E_CREDENTIAL',
      hint: `Try again later, or skip the check: moat grant ${provider} --no-validate`,
    });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { body, headers: res.headers };
}

export function stringProp(obj: unknown, key: string): string | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const value = (obj as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/** "fetch failed" says nothing; the cause's code (ECONNREFUSED, ENOTFOUND) does. */
export function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return err instanceof Error ? err.message : String(err);
}

/**
 * POST an OAuth refresh-token grant (JSON) to `opts.baseUrl` and return the token response body.
 * Throws MoatError (with `hint`) when the server is unreachable or refuses; never includes tokens.
 */
export async function postTokenRefresh(what: string, opts: HttpOptions, body: Record<string, string>, hint: string): Promise<Record<string, unknown>> {
  const host = new URL(opts.baseUrl).host;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(opts.baseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', ...body }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      redirect: 'manual',
    });
  } catch (err) {
    throw new MoatError(`Could not reach ${host} to refresh ${what}: ${describeFetchError(err)}.`, { code: 'E_NETWORK', hint, cause: err });
  }
  const parsed: unknown = await res.json().catch(() => undefined);
  if (!res.ok || !stringProp(parsed, 'access_token')) {
    throw new MoatError(`${host} refused to refresh ${what} (HTTP ${res.status}).`, { code: 'E_CREDENTIAL', hint });
  }
  return parsed as Record<string, unknown>;
}

/** Expiry of a refreshed token: the JWT's own `exp`, else `expires_in` seconds from now. */
export function refreshedExpiry(access: string, body: Record<string, unknown>, now: Date): string | undefined {
  const expiresIn = body.expires_in;
  return jwtExpiry(access) ?? (typeof expiresIn === 'number' ? new Date(now.getTime() + expiresIn * 1000).toISOString() : undefined);
}
