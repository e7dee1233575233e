import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { openai } from '../../../src/credentials/providers/index.js';
import { resolveGrants } from '../../../src/credentials/resolve.js';
import { cred, fakeServer, json, jwt, tempHome, type FakeServer, type TempHome } from './helpers.js';

const NOW = new Date('2025-06-01T00:00:00Z');
const sec = (d: Date): number => Math.floor(d.getTime() / 1000);

let t: TempHome;
let auth: FakeServer;
let nextAccess = '';
beforeEach(async () => {
  t = await tempHome();
  nextAccess = jwt({ exp: sec(NOW) + 864_000, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-1' } });
  auth = await fakeServer((_req, res, body) => {
    const b = JSON.parse(body) as { refresh_token?: string; grant_type?: string; client_id?: string };
    if (b.grant_type !== 'refresh_token' || b.refresh_token !== 'rt_good' || !b.client_id) return json(res, 401, { error: 'invalid_grant' });
    json(res, 200, { access_token: nextAccess, refresh_token: 'rt_rotated', id_token: jwt({ email: 'a@b.c' }) });
  });
});
afterEach(async () => {
  await auth.close();
  await t.cleanup();
});

function chatgpt(expiresAt: string, refreshToken?: string): ReturnType<typeof cred> {
  return cred({
    provider: 'openai',
    kind: 'chatgpt',
    secret: { accessToken: 'old-access-token-value', ...(refreshToken ? { refreshToken } : {}) },
    meta: { accountId: 'acct-1' },
    expiresAt,
  });
}

describe('resolveGrants', () => {
  it('merges injections, placeholders and the strings to redact', async () => {
    await t.store.put('github', cred({ scopes: ['repo'] }));
    await t.store.put('anthropic', cred({ provider: 'anthropic', kind: 'api-key', secret: { token: 'sk-ant-api03-REALKEY' } }));
    const r = await resolveGrants(['github:repo', 'anthropic', 'github'], t.store, { now: NOW });
    expect(r.injections.map((i) => i.hosts.join(','))).toEqual(['api.github.com', 'github.com', 'uploads.github.com', 'api.anthropic.com']);
    expect(Object.keys(r.placeholders.env).sort()).toEqual(['ANTHROPIC_API_KEY', 'GH_TOKEN', 'GITHUB_TOKEN']);
    const token = cred().secret.token!;
    expect(r.secretsToRedact).toContain(token);
    expect(r.secretsToRedact).toContain('sk-ant-api03-REALKEY');
    expect(r.secretsToRedact).toContain(Buffer.from(`x-access-token:${token}`).toString('base64'));
    expect(JSON.stringify(r.placeholders)).not.toContain(token);
  });

  it('a missing grant fails with the exact moat grant command', async () => {
    const err = await resolveGrants(['claude'], t.store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).hint).toBe('moat grant claude');
    await expect(resolveGrants(['nosuch'], t.store)).rejects.toThrow(/Unknown grant "nosuch"/);
    await expect(resolveGrants(['githb'], t.store)).rejects.toMatchObject({ hint: 'did you mean: --grant github' });
  });

  it('an expired grant that cannot be refreshed is refused the same way', async () => {
    await t.store.put('claude', cred({ provider: 'claude', kind: 'oauth', secret: { token: 'sk-ant-oat01-x' }, expiresAt: '2025-05-01T00:00:00Z' }));
    const err = await resolveGrants(['claude'], t.store, { now: NOW }).catch((e: unknown) => e);
    expect((err as MoatError).message).toMatch(/expired at 2025-05-01/);
    expect((err as MoatError).hint).toBe('moat grant claude');
  });

  it('refreshes an expiring ChatGPT sign-in through MOAT_OPENAI_AUTH_URL and stores the rotated tokens', async () => {
    await t.store.put('openai', chatgpt('2025-05-31T00:00:00Z', 'rt_good'));
    const r = await resolveGrants(['openai'], t.store, { now: NOW, env: { MOAT_OPENAI_AUTH_URL: `${auth.url}/oauth/token` } });
    expect(auth.requests[0]).toMatchObject({ method: 'POST', url: '/oauth/token' });
    expect(r.injections[0]!.set.authorization).toBe(`Bearer ${nextAccess}`);
    expect(r.injections[0]!.set['chatgpt-account-id']).toBe('acct-1');
    const saved = await t.store.get('openai');
    expect(saved?.secret).toMatchObject({ accessToken: nextAccess, refreshToken: 'rt_rotated' });
    expect(saved?.expiresAt).toBe(new Date((sec(NOW) + 864_000) * 1000).toISOString());
    expect(saved?.meta?.lastRefresh).toBe(NOW.toISOString());
  });

  it('a refused refresh of an expired sign-in says to sign in again', async () => {
    await t.store.put('openai', chatgpt('2025-05-31T00:00:00Z', 'rt_revoked'));
    await expect(resolveGrants(['openai'], t.store, { now: NOW, env: { MOAT_OPENAI_AUTH_URL: auth.url } })).rejects.toMatchObject({
      hint: 'Sign in again with `codex login`, then run: moat grant openai --import',
    });
  });

  it('keeps a still-valid credential when the refresh fails close to expiry', async () => {
    await t.store.put('openai', chatgpt('2025-06-01T00:02:00Z', 'rt_revoked'));
    const r = await resolveGrants(['openai'], t.store, { now: NOW, env: { MOAT_OPENAI_AUTH_URL: auth.url } });
    expect(r.injections[0]!.set.authorization).toBe('Bearer old-access-token-value');
  });

  it('refresh() resolves undefined for credentials it cannot refresh', async () => {
    expect(await openai.refresh!(chatgpt('2025-05-31T00:00:00Z'), { baseUrl: auth.url })).toBeUndefined();
    expect(await openai.refresh!(cred({ provider: 'openai', kind: 'api-key' }), { baseUrl: auth.url })).toBeUndefined();
    expect(auth.requests).toHaveLength(0);
  });
});

describe('resolveGrants, more', () => {
  it('refuses two grants deciding the same header on the same host', async () => {
    await t.store.put('anthropic', cred({ provider: 'anthropic', kind: 'api-key', secret: { token: 'sk-ant-api03-k' } }));
    await t.store.put('claude', cred({ provider: 'claude', kind: 'oauth', secret: { token: 'sk-ant-oat01-k' } }));
    await expect(resolveGrants(['anthropic', 'claude'], t.store, { now: NOW })).rejects.toThrow(
      /"anthropic" and "claude" both supply the x-api-key credential for api.anthropic.com/,
    );
  });

  it('refreshes an expiring imported Claude login through MOAT_CLAUDE_AUTH_URL', async () => {
    const claudeAuth = await fakeServer((_req, res, body) => {
      const b = JSON.parse(body) as Record<string, string>;
      if (b.refresh_token !== 'sk-ant-ort01-good' || !b.client_id) return json(res, 400, {});
      json(res, 200, { access_token: 'sk-ant-oat01-renewed', refresh_token: 'sk-ant-ort01-next', expires_in: 28_800 });
    });
    try {
      await t.store.put(
        'claude',
        cred({
          provider: 'claude',
          kind: 'oauth',
          secret: { token: 'sk-ant-oat01-old', refreshToken: 'sk-ant-ort01-good' },
          expiresAt: '2025-05-31T23:59:00Z',
        }),
      );
      const r = await resolveGrants(['claude'], t.store, { now: NOW, env: { MOAT_CLAUDE_AUTH_URL: claudeAuth.url } });
      expect(r.injections[0]!.set.authorization).toBe('Bearer sk-ant-oat01-renewed');
      const saved = await t.store.get('claude');
      expect(saved?.secret).toEqual({ token: 'sk-ant-oat01-renewed', refreshToken: 'sk-ant-ort01-next' });
      expect(saved?.expiresAt).toBe(new Date(NOW.getTime() + 28_800_000).toISOString());
    } finally {
      await claudeAuth.close();
    }
  });
});

describe('resolveGrants without refreshing (the CLI: placeholders and an early failure only)', () => {
  const env = (): NodeJS.ProcessEnv => ({ MOAT_OPENAI_AUTH_URL: `${auth.url}/oauth/token` });

  it('never calls the auth server, even for a credential inside the refresh window', async () => {
    await t.store.put('openai', chatgpt('2025-06-01T00:01:00Z', 'rt_good'));
    const r = await resolveGrants(['openai'], t.store, { now: NOW, env: env(), refresh: false });
    expect(auth.requests).toHaveLength(0);
    expect(r.placeholders.files.map((f) => f.path)).toEqual(['.codex/auth.json']);
    expect((await t.store.get('openai'))?.secret.refreshToken).toBe('rt_good');
  });

  it('accepts an expired credential the host can refresh (the daemon renews it before the first request)', async () => {
    await t.store.put('openai', chatgpt('2025-05-01T00:00:00Z', 'rt_good'));
    await expect(resolveGrants(['openai'], t.store, { now: NOW, env: env(), refresh: false })).resolves.toBeDefined();
    expect(auth.requests).toHaveLength(0);
  });

  it('refuses an expired credential without a refresh token, with the grant command', async () => {
    await t.store.put('openai', chatgpt('2025-05-01T00:00:00Z'));
    const err = await resolveGrants(['openai'], t.store, { now: NOW, env: env(), refresh: false }).catch((e: unknown) => e);
    expect((err as MoatError).message).toMatch(/expired at 2025-05-01/);
    expect((err as MoatError).hint).toBe('moat grant openai');
    expect(auth.requests).toHaveLength(0);
  });
});
