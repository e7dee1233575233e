/**
 * The ChatGPT sign-in Codex uses (issue 5): an imported ~/.codex/auth.json; the gateway injects the real
 * access token and account id on chatgpt.com and api.openai.com, answers the container's own refresh call
 * with placeholders, and the container holds only a placeholder auth.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { exportContains, filesContaining, makeWorkspace, runIdOf, warmImage } from './fixtures/gateway-kit.js';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const ACCOUNT = `acct-${randomBytes(8).toString('hex')}`;
const jwt = (claims: Record<string, unknown>): string => `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${randomBytes(32).toString('base64url')}`;
const far = Math.floor(Date.parse('2099-01-01') / 1000);
const ACCESS = jwt({
  exp: far,
  'https://api.openai.com/auth': { chatgpt_account_id: ACCOUNT, chatgpt_plan_type: 'plus' },
  nonce: randomBytes(12).toString('hex'),
});
const REFRESH = `rt_${randomBytes(24).toString('hex')}`;
const ID = jwt({ exp: far, email: 'dev@example.test', 'https://api.openai.com/auth': { chatgpt_account_id: ACCOUNT } });

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await tempDir('chatgpt-home');
  root = await tempDir('chatgpt-ws');
  fake = await startFakeUpstream();
  const hostHome = join(root, 'host-home');
  await mkdir(join(hostHome, '.codex'), { recursive: true });
  await writeFile(
    join(hostHome, '.codex', 'auth.json'),
    JSON.stringify({ tokens: { id_token: ID, access_token: ACCESS, refresh_token: REFRESH, account_id: ACCOUNT } }),
  );
  env = await upstreamOverrideEnv(root, Object.fromEntries(['chatgpt.com', 'api.openai.com', 'auth.openai.com'].map((h) => [h, fake.httpsPort])), [
    fake.ca.certPem,
  ]);
  const cwd = await makeWorkspace(root, 'ws0');
  const g = await moat(['grant', 'openai', '--import', '--no-validate'], { home, cwd, env: { ...env, HOME: hostHome } });
  if (g.code !== 0) throw new Error(`moat grant openai --import failed (${String(g.code)}): ${g.stderr}`);
  await warmImage(home, cwd, env);
});

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('openai ChatGPT sign-in', () => {
  it('injects the real access token, answers refreshes with placeholders, and leaves no real token in the container', async () => {
    const cwd = await makeWorkspace(root, 'ws1', 'grants: [openai]\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'test -s ~/.codex/auth.json && echo staged',
      'curl -sS -o /dev/null -w "backend=%{http_code}\\n" -H "Authorization: Bearer placeholder" https://chatgpt.com/backend-api/codex/responses',
      'curl -sS -X POST -H "content-type: application/json" -d "{\\"grant_type\\":\\"refresh_token\\"}" https://auth.openai.com/oauth/token; echo',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--keep', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('staged');
    expect(r.stdout).toContain('backend=200');
    const backend = fake.requests.find((q) => q.path === '/backend-api/codex/responses');
    expect(backend?.headers.authorization).toBe(`Bearer ${ACCESS}`);
    expect(backend?.headers['chatgpt-account-id']).toBe(ACCOUNT);
    // The refresh call was answered by the gateway itself, with placeholder tokens, never forwarded.
    expect(fake.requests.some((q) => q.path === '/oauth/token')).toBe(false);
    const answer = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
    expect(answer.access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(answer.access_token).not.toBe(ACCESS);
    expect(JSON.stringify(answer)).not.toContain(REFRESH);
    // Nowhere in the container's filesystem, nor in the run's files.
    const id = runIdOf(r.stdout);
    const meta = JSON.parse(await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8')) as { containerId: string };
    const scan = await exportContains(meta.containerId, [ACCESS, REFRESH, ID]);
    expect(scan.found).toEqual([]);
    expect(await filesContaining(join(home, 'runs', id), [ACCESS, REFRESH, ID])).toEqual([]);
  });
});
