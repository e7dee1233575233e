import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { grantCredential } from '../../../src/credentials/grant.js';
import { claude, github, npm, openai } from '../../../src/credentials/providers/index.js';
import { catalogProviders } from '../../../src/credentials/providers/registry.js';
import { startFakeUpstream } from '../../fakes/upstream.js';
import { cred, fakeContext, fakeServer, json, tempHome, type FakeServer, type TempHome } from './helpers.js';

const GOOD = 'ghp_GOODGOODGOODGOODGOODGOODGOODGOOD1234';

let t: TempHome;
let api: FakeServer;
beforeEach(async () => {
  t = await tempHome();
  api = await fakeServer((req, res) => {
    const h = req.headers;
    const ok =
      h.authorization === `Bearer ${GOOD}` || h['x-api-key'] === GOOD || (h.authorization === `Bearer ${GOOD}` && h['anthropic-beta'] === 'oauth-2025-04-20');
    if (req.url === '/boom') return json(res, 500, {});
    if (!ok) return json(res, 401, { message: 'Bad credentials' });
    if (req.url === '/user') {
      res.setHeader('x-oauth-scopes', 'repo, read:org');
      return json(res, 200, { login: 'octocat' });
    }
    if (req.url === '/-/whoami') return json(res, 200, { username: 'npmuser' });
    return json(res, 200, { data: [] });
  });
});
afterEach(async () => {
  await api.close();
  await t.cleanup();
});

function stdinCtx(token: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof fakeContext> {
  return fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(token), env });
}

describe('validation against the provider API', () => {
  it('github: a good token is saved with the login and the scope suffix', async () => {
    const ctx = stdinCtx(GOOD, { MOAT_GITHUB_API_URL: api.url });
    const out = await grantCredential('github:repo', t.store, ctx, { validate: true });
    expect(out.validation?.summary).toBe('authenticated as octocat');
    const saved = await t.store.get('github');
    expect(saved).toMatchObject({ provider: 'github', scopes: ['repo'], meta: { login: 'octocat', tokenScopes: 'repo, read:org' }, source: 'stdin' });
    expect(api.requests[0]).toMatchObject({ method: 'GET', url: '/user' });
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${GOOD}`);
  });

  it('github: a bad token is rejected with a clear message and not saved', async () => {
    const ctx = stdinCtx('ghp_BADBADBADBAD', { MOAT_GITHUB_API_URL: api.url });
    const err = await grantCredential('github', t.store, ctx, { validate: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toMatch(/rejected the github credential \(HTTP 401\): it is wrong, expired or revoked/);
    expect((err as MoatError).hint).toBe('Create a new one and run: moat grant github');
    expect((err as MoatError).message).not.toContain('ghp_BADBADBADBAD');
    expect(await t.store.get('github')).toBeUndefined();
  });

  it('--no-validate saves without any request', async () => {
    await grantCredential('github', t.store, stdinCtx('ghp_unchecked', { MOAT_GITHUB_API_URL: api.url }), { validate: false });
    expect(api.requests).toHaveLength(0);
    expect((await t.store.get('github'))?.secret.token).toBe('ghp_unchecked');
  });

  it('anthropic (a catalog entry) checks GET /v1/models?limit=1 on api.anthropic.com over TLS with x-api-key and anthropic-version', async () => {
    const anthropic = catalogProviders().find((p) => p.name === 'anthropic')!;
    const fake = await startFakeUpstream({
      routes: {
        '/v1/models': (req, res) => {
          res.writeHead(req.headers['x-api-key'] === GOOD ? 200 : 401, { 'content-type': 'application/json' });
          res.end('{"data":[]}');
        },
      },
    });
    try {
      const env = { MOAT_TESTING: '1', MOAT_TEST_UPSTREAMS: `api.anthropic.com=127.0.0.1:${fake.httpsPort}`, MOAT_TEST_UPSTREAM_CA: fake.ca.certPem };
      const out = await grantCredential('anthropic', t.store, stdinCtx(GOOD, env), { validate: true });
      expect(out.validation?.summary).toBe('api.anthropic.com accepted it');
      const got = fake.requests.at(-1)!;
      expect(got).toMatchObject({ method: 'GET', path: '/v1/models?limit=1', host: 'api.anthropic.com' });
      expect(got.headers['x-api-key']).toBe(GOOD);
      expect(got.headers['anthropic-version']).toBe('2023-06-01');
      expect((await t.store.get('anthropic'))?.secret.token).toBe(GOOD);
      await expect(anthropic.validate(cred({ provider: 'anthropic', secret: { token: 'bad' } }), { baseUrl: '', env })).rejects.toThrow(
        /api.anthropic.com rejected the anthropic token \(HTTP 401/,
      );
    } finally {
      await fake.close();
    }
  });

  it('claude, openai and npm call their endpoints with the right header', async () => {
    const opts = { baseUrl: api.url };
    await claude.validate(cred({ provider: 'claude', secret: { token: GOOD } }), opts);
    expect(api.requests.at(-1)!.headers['anthropic-beta']).toBe('oauth-2025-04-20');
    await openai.validate(cred({ provider: 'openai', kind: 'api-key', secret: { token: GOOD } }), opts);
    expect(api.requests.at(-1)).toMatchObject({ url: '/v1/models' });
    const npmOut = await npm.validate(cred({ provider: 'npm', secret: { '//registry.npmjs.org/': GOOD } }), opts);
    expect(npmOut.meta).toEqual({ login: 'npmuser' });
    await expect(claude.validate(cred({ provider: 'claude', secret: { token: 'bad' } }), opts)).rejects.toThrow(/rejected the claude credential/);
  });

  it('an unreachable or failing API suggests --no-validate', async () => {
    const down = await fakeServer(() => undefined);
    const url = down.url;
    await down.close();
    await expect(github.validate(cred(), { baseUrl: url })).rejects.toMatchObject({
      hint: 'Check your network, or skip the check: moat grant github --no-validate',
    });
    await expect(github.validate(cred(), { baseUrl: `${api.url}/boom#` })).rejects.toThrow(/HTTP 500/);
  });
});
