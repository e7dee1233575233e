import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveGrants, type ResolvedGrants } from '../../../src/credentials/resolve.js';
import { catalogProviders } from '../../../src/credentials/providers/registry.js';
import type { StoredCredential } from '../../../src/credentials/types.js';
import { GatewayHost } from '../../../src/daemon/gateways.js';
import { startGrantRefresh } from '../../../src/daemon/refresh.js';
import { loadOrCreateCA } from '../../../src/gateway/ca.js';
import type { GatewayEvent } from '../../../src/gateway/events.js';
import type { RunMetadata } from '../../../src/store/types.js';
import { startFakeUpstream, type FakeUpstream } from '../../fakes/upstream.js';
import { cred, FILE_ENV, fakeServer, json, jwt, tempHome, type FakeServer, type TempHome } from '../credentials/helpers.js';
import { fetchVia, type Harness, waitFor } from '../gateway/helpers.js';

const sec = (ms: number): number => Math.floor(ms / 1000);
/** A sign-in expiring this far ahead is not refreshed by a first look with a 1 s window, however slow the machine. */
const EXPIRES_MS = 6000;
/** A refresher window wider than that expiry: its refresh is due at once. */
const DUE_NOW_MS = 7000;
/** The ceiling of every wait for a condition (met in milliseconds on an idle machine). */
const WAIT_MS = 20_000;

let t: TempHome;
let auth: FakeServer;
let env: NodeJS.ProcessEnv;
let issued: string[];
let failNext = 0;
/** The token endpoint answers only once this settles (a test holds a refresh back until it is ready). */
let gate: Promise<void> = Promise.resolve();
beforeEach(async () => {
  gate = Promise.resolve();
  t = await tempHome();
  issued = [];
  failNext = 0;
  auth = await fakeServer((_req, res, body) => void gate.then(() => answer(res, body)));
  const answer = (res: Parameters<typeof json>[0], body: string): void => {
    const b = JSON.parse(body) as { refresh_token?: string };
    if (failNext > 0) {
      failNext--;
      return json(res, 500, { error: 'server_error' });
    }
    if (!b.refresh_token?.startsWith('rt_')) return json(res, 401, { error: 'invalid_grant' });
    const access = jwt({ exp: sec(Date.now()) + 3600, n: issued.length, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-1' } });
    issued.push(access);
    json(res, 200, { access_token: access, refresh_token: `rt_rotated_${issued.length}` });
  };
  env = { ...FILE_ENV, MOAT_OPENAI_AUTH_URL: `${auth.url}/oauth/token` };
});
afterEach(async () => {
  await auth.close();
  await t.cleanup();
});

/** A ChatGPT sign-in expiring `inMs` from now. */
async function storeExpiring(inMs: number): Promise<StoredCredential> {
  // Parse the built-in catalog first (once per process): under load it can take longer than the margin.
  catalogProviders();
  const c = cred({
    provider: 'openai',
    kind: 'chatgpt',
    secret: { accessToken: 'initial-access-token-value', refreshToken: 'rt_initial' },
    meta: { accountId: 'acct-1' },
    expiresAt: new Date(Date.now() + inMs).toISOString(),
  });
  await t.store.put('openai', c);
  return c;
}

describe('startGrantRefresh', () => {
  it('re-resolves shortly before the earliest expiry and hands over the renewed grants', async () => {
    await storeExpiring(EXPIRES_MS);
    const first = await resolveGrants(['openai'], t.store, { env, refreshWithinMs: 1000 });
    expect(first.refreshAt).toBeDefined();
    expect(auth.requests).toHaveLength(0);
    const applied: ResolvedGrants[] = [];
    const r = startGrantRefresh({ names: ['openai'], store: t.store, env, first, windowMs: DUE_NOW_MS, apply: (g) => applied.push(g), log: () => undefined });
    try {
      const g = await waitFor(() => applied[0], WAIT_MS);
      expect(auth.requests).toHaveLength(1);
      expect(g.injections[0]!.set.authorization).toBe(`Bearer ${issued[0]}`);
      expect(g.secretsToRedact).toContain(issued[0]);
      expect(g.responses).toHaveLength(1);
      expect(Date.parse(g.refreshAt!)).toBeGreaterThan(Date.now() + 3000_000);
      const saved = await t.store.get('openai');
      expect(saved?.secret).toMatchObject({ accessToken: issued[0], refreshToken: 'rt_rotated_1' });
    } finally {
      r.stop();
    }
  });

  it('retries when an attempt did not refresh (the server failed), then succeeds', async () => {
    await storeExpiring(EXPIRES_MS);
    failNext = 1;
    const first = await resolveGrants(['openai'], t.store, { env, refreshWithinMs: 1000 });
    const applied: ResolvedGrants[] = [];
    const r = startGrantRefresh({
      names: ['openai'],
      store: t.store,
      env,
      first,
      windowMs: DUE_NOW_MS,
      retryMs: 100,
      apply: (g) => applied.push(g),
      log: () => undefined,
    });
    try {
      await waitFor(() => (issued.length > 0 ? true : undefined), WAIT_MS);
      expect(auth.requests.length).toBe(2);
      const last = await waitFor(() => applied.find((g) => g.injections[0]!.set.authorization === `Bearer ${issued[0]}`), WAIT_MS);
      expect(last.refreshAt).toBeDefined();
      // The failed attempt handed over the still-valid old credential.
      expect(applied[0]!.injections[0]!.set.authorization).toBe('Bearer initial-access-token-value');
    } finally {
      r.stop();
    }
  });

  it('two runs sharing a grant spend its refresh token once', async () => {
    await storeExpiring(EXPIRES_MS);
    const applied: ResolvedGrants[] = [];
    const refreshers = await Promise.all(
      [1, 2].map(async () =>
        startGrantRefresh({
          names: ['openai'],
          store: t.store,
          env,
          first: await resolveGrants(['openai'], t.store, { env, refreshWithinMs: 1000 }),
          windowMs: DUE_NOW_MS,
          apply: (g) => applied.push(g),
          log: () => undefined,
        }),
      ),
    );
    try {
      await waitFor(() => (applied.length === 2 ? true : undefined), WAIT_MS);
      expect(auth.requests).toHaveLength(1);
      for (const g of applied) expect(g.injections[0]!.set.authorization).toBe(`Bearer ${issued[0]}`);
    } finally {
      for (const r of refreshers) r.stop();
    }
  });

  it('schedules nothing without refreshable grants, and stop() cancels a pending refresh', async () => {
    await t.store.put('github', cred());
    const none = startGrantRefresh({
      names: ['github'],
      store: t.store,
      env,
      first: await resolveGrants(['github'], t.store, { env }),
      apply: () => {
        throw new Error('no');
      },
      log: () => undefined,
    });
    none.stop();
    await storeExpiring(EXPIRES_MS);
    const first = await resolveGrants(['openai'], t.store, { env, refreshWithinMs: 1000 });
    let applied = 0;
    const r = startGrantRefresh({ names: ['openai'], store: t.store, env, first, windowMs: DUE_NOW_MS, apply: () => applied++, log: () => undefined });
    r.stop();
    // A twin started after it, due at the same moment: once it has refreshed, the stopped one's time has passed.
    let twin = 0;
    const other = startGrantRefresh({ names: ['openai'], store: t.store, env, first, windowMs: DUE_NOW_MS, apply: () => twin++, log: () => undefined });
    try {
      await waitFor(() => (twin > 0 ? true : undefined), WAIT_MS);
    } finally {
      other.stop();
    }
    expect(applied).toBe(0);
    expect(auth.requests).toHaveLength(1);
  });
});

describe('GatewayHost keeps a run’s grants fresh', () => {
  let fake: FakeUpstream;
  beforeEach(async () => {
    fake = await startFakeUpstream();
  });
  afterEach(async () => fake.close());

  it('swaps the injected token after a host-side refresh, redacts both tokens, and stops on close', async () => {
    const ca = await loadOrCreateCA(t.home.caDir); // created up front: the refresh must not beat the first request
    // Due 0.8 s before expiry (window 1 s); the endpoint answers only after the first request went out.
    let open: () => void = () => undefined;
    gate = new Promise((r) => (open = r));
    await storeExpiring(4000);
    const hostEnv = {
      ...env,
      MOAT_TESTING: '1',
      MOAT_TEST_UPSTREAMS: `chatgpt.com:443=127.0.0.1:${fake.httpsPort}`,
      MOAT_TEST_UPSTREAM_CA: fake.ca.certPem,
    };
    const logs: string[] = [];
    const host = new GatewayHost(t.home, hostEnv, (m) => logs.push(m), 1000);
    const runDir = join(t.dir, 'run');
    await mkdir(runDir, { recursive: true });
    const meta = {
      id: 'r1',
      name: 'r1',
      workspace: t.dir,
      command: ['codex'],
      image: 'x',
      grants: ['openai'],
      interactive: false,
      keep: false,
      state: 'running',
      createdAt: new Date().toISOString(),
      home: t.home.root,
    } as unknown as RunMetadata;
    const lines: string[] = [];
    const gw = await host.start(meta, runDir, (ev: GatewayEvent, redact) =>
      lines.push(redact(`${JSON.stringify(ev)} ${issued.join(' ')} initial-access-token-value`)),
    );
    try {
      const h = { socketPath: gw.socketPath, ca } as unknown as Harness;
      // What the upstream received (the echo it sends back reaches the client scrubbed of real values).
      const sentAuth = (path: string): unknown => fake.requests.find((q) => q.path === path)?.headers.authorization;
      const before = await fetchVia(h, 'chatgpt.com', { path: '/backend-api/x', headers: { authorization: 'Bearer placeholder' } });
      expect(before.status).toBe(200);
      expect(sentAuth('/backend-api/x')).toBe('Bearer initial-access-token-value');
      expect(before.body).not.toContain('initial-access-token-value');
      open();
      await waitFor(() => logs.find((l) => l.includes('grants refreshed')), WAIT_MS);
      const after = await fetchVia(h, 'chatgpt.com', { path: '/backend-api/y', headers: { authorization: 'Bearer placeholder' } });
      expect(after.status).toBe(200);
      expect(sentAuth('/backend-api/y')).toBe(`Bearer ${issued[0]}`);
      expect(after.body).not.toContain(issued[0] as string);
      // The container's own refresh is answered locally, with placeholders.
      const local = await fetchVia(h, 'auth.openai.com', { method: 'POST', path: '/oauth/token', body: '{"refresh_token":"rt_x"}' });
      expect(local.status).toBe(200);
      expect(local.body).not.toContain(issued[0]);
      await waitFor(() => (lines.length >= 3 ? true : undefined));
      for (const l of lines) {
        expect(l).not.toContain('initial-access-token-value');
        expect(l).not.toContain(issued[0]);
      }
    } finally {
      await gw.close();
    }
    const count = auth.requests.length;
    await new Promise((res) => setTimeout(res, 300));
    expect(auth.requests.length).toBe(count);
  });
});

describe('the test-only refresh window', () => {
  it('is honoured only with MOAT_TESTING=1 and a positive whole number', async () => {
    const { testRefreshWindowMs } = await import('../../../src/daemon/test-upstreams.js');
    expect(testRefreshWindowMs({ MOAT_TESTING: '1', MOAT_TEST_REFRESH_WINDOW_MS: '30000' })).toBe(30_000);
    expect(testRefreshWindowMs({ MOAT_TEST_REFRESH_WINDOW_MS: '30000' })).toBeUndefined();
    expect(testRefreshWindowMs({ MOAT_TESTING: '1', MOAT_TEST_REFRESH_WINDOW_MS: '-5' })).toBeUndefined();
    expect(testRefreshWindowMs({ MOAT_TESTING: '1', MOAT_TEST_REFRESH_WINDOW_MS: 'soon' })).toBeUndefined();
  });
});
