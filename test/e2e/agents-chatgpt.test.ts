/**
 * `moat codex` on a ChatGPT sign-in, end to end with the real Codex CLI: the gateway injects the real
 * access token and account id on chatgpt.com, the host refreshes the sign-in against a fake auth server
 * while the run is in the middle of a turn, and the next request of the same turn carries the renewed
 * token. Only the daemon refreshes (once), and no real token ever enters the container.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOAuth, type FakeOAuth, type TokenSet } from '../fakes/oauth.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { cleanupHome, listRuns, moat, sleep, tempDir, upstreamOverrideEnv } from './helpers.js';
import { exportContains, filesContaining } from './fixtures/gateway-kit.js';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const ACCOUNT = `acct-${randomBytes(8).toString('hex')}`;
const jwt = (claims: Record<string, unknown>): string => `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${randomBytes(32).toString('base64url')}`;
const accessToken = (expSeconds: number): string =>
  jwt({ exp: expSeconds, 'https://api.openai.com/auth': { chatgpt_account_id: ACCOUNT, chatgpt_plan_type: 'pro' }, jti: randomBytes(12).toString('hex') });
const ID = jwt({ exp: Math.floor(Date.now() / 1000) + 3600, email: 'dev@example.test', 'https://api.openai.com/auth': { chatgpt_account_id: ACCOUNT } });
const REFRESH_1 = `rt_${randomBytes(24).toString('hex')}`;
/**
 * The daemon refreshes within this window before expiry (test-only knob); the sign-in expires 135 s after
 * granting. Its timer fires 24 s before expiry (111 s after granting), and a gateway that starts more than
 * 105 s after granting refreshes at once, before the turn's first request: the run has 105 s to start. A
 * loaded CI machine needed more than the 45 s that a life of 75 s gave (and more than 15 s before that).
 */
const WINDOW_MS = 30_000;
const LIFETIME_S = 135;

let home: string;
let ws: string;
let hostHome: string;
let fakeO: FakeOpenAI;
let auth: FakeOAuth;
let env: NodeJS.ProcessEnv;
let access1 = '';

beforeAll(async () => {
  home = await tempDir('chatgpt-agent-home');
  ws = await tempDir('chatgpt-agent-ws');
  hostHome = await tempDir('chatgpt-agent-host');
  auth = await startFakeOAuth({
    initial: REFRESH_1,
    issue: (n): TokenSet => ({
      access_token: accessToken(Math.floor(Date.now() / 1000) + 86_400),
      refresh_token: `rt_rotated_${n}_${randomBytes(16).toString('hex')}`,
      id_token: ID,
    }),
  });
  fakeO = await startFakeOpenAI({
    reply: 'Hi from fake ChatGPT Codex!',
    chatgptAccount: { id: ACCOUNT },
    websocket: 'refuse', // HTTPS posts: each request is injected anew, so the renewed token shows per request
    writeFile: { path: '/workspace/from-chatgpt.txt', content: 'written on a chatgpt sign-in' },
    // Hold the first turn until the host has refreshed the sign-in (and the gateway swapped tokens).
    beforeTurn: async (index) => {
      if (index !== 0) return;
      await Promise.race([auth.refreshed(1), sleep(150_000)]);
      await sleep(1500);
    },
  });
  env = {
    ...(await upstreamOverrideEnv(home, { 'chatgpt.com': fakeO.port, 'api.openai.com': fakeO.port }, [fakeO.caPem])),
    MOAT_TEST_REFRESH_WINDOW_MS: String(WINDOW_MS),
    MOAT_OPENAI_AUTH_URL: auth.url,
  };
  // The codex image (the same dependency set as `moat codex`, so one cached image for every agent test).
  const warm = join(ws, 'warm');
  await mkdir(warm, { recursive: true });
  await writeFile(join(warm, 'moat.yaml'), 'dependencies: [codex, git, ripgrep]\n');
  const r = await moat(['run', '--approve-config', warm, '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`building the codex image failed (${String(r.code)}):\n${r.stderr}`);
}, 900_000);

afterAll(async () => {
  await fakeO?.close();
  await auth?.close();
  await cleanupHome(home, ws, [hostHome]);
});

describe('moat codex on a ChatGPT sign-in', () => {
  it('completes a turn whose token is refreshed by the host mid-turn; the container never holds a real token', async () => {
    // Granted just now, expiring in 135 s: the CLI does not refresh, the daemon refreshes 24 s before expiry.
    access1 = accessToken(Math.floor(Date.now() / 1000) + LIFETIME_S);
    await mkdir(join(hostHome, '.codex'), { recursive: true });
    await writeFile(
      join(hostHome, '.codex', 'auth.json'),
      JSON.stringify({ tokens: { id_token: ID, access_token: access1, refresh_token: REFRESH_1, account_id: ACCOUNT } }),
    );
    const g = await moat(['grant', 'openai', '--import', '--no-validate'], { home, cwd: ws, env: { ...env, HOME: hostHome } });
    expect(g.code, g.stderr).toBe(0);

    const r = await moat(['codex', '--keep', '-p', 'say hi'], { home, cwd: ws, env, timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Hi from fake ChatGPT Codex!');
    const file = join(ws, 'from-chatgpt.txt');
    expect((await readFile(file, 'utf8')).trim()).toBe('written on a chatgpt sign-in');
    expect(statSync(file).uid).toBe(statSync(ws).uid);

    // One refresh, by the host, with the real refresh token (the CLI did not spend it as well).
    expect(auth.requests).toHaveLength(1);
    expect(auth.requests[0]?.body).toMatchObject({ grant_type: 'refresh_token', refresh_token: REFRESH_1, client_id: 'app_EMoamEEZ73f0CkXaXp7hrann' });
    const access2 = auth.issued[0]?.access_token ?? '';

    // The turn's first request carried the original token, the one after the refresh the renewed one.
    const posts = fakeO.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/backend-api/codex/responses'));
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(posts[0]?.headers.authorization).toBe(`Bearer ${access1}`);
    expect(posts.at(-1)?.headers.authorization).toBe(`Bearer ${access2}`);
    for (const q of posts) expect(q.headers['chatgpt-account-id']).toBe(ACCOUNT);

    // The rotated tokens are what the store holds now: a second run starts on them without refreshing.
    const again = await moat(['codex', '-p', 'say hi again'], { home, cwd: ws, env, timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(fakeO.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/backend-api/codex/responses')).at(-1)?.headers.authorization).toBe(
      `Bearer ${access2}`,
    );
    expect(auth.requests).toHaveLength(1);

    // No real token, old or new, in the kept container's filesystem, its env, or the run's files.
    const runs = await listRuns(home, ws);
    const kept = runs.filter((x) => x.agent === 'codex').sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)))[0];
    expect(kept).toBeDefined();
    const id = String(kept?.id);
    const meta = JSON.parse(await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8')) as { containerId: string };
    const secrets = [access1, access2, REFRESH_1, auth.issued[0]?.refresh_token ?? 'x'.repeat(20), ID];
    expect((await exportContains(meta.containerId, secrets)).found).toEqual([]);
    expect(await filesContaining(join(home, 'runs', id), secrets)).toEqual([]);

    // The trace shows the ChatGPT requests with the grant that was applied.
    const t = await moat(['trace', id, '--json'], { home, cwd: ws, env });
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { host: string; url: string; grant?: string; status: number });
    expect(
      lines.filter((l) => l.host === 'chatgpt.com' && l.url.includes('/backend-api/codex/responses') && l.grant === 'openai' && l.status === 200).length,
    ).toBeGreaterThanOrEqual(2);
  }, 400_000);
});
