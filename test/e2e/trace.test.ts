import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, tempDir } from './helpers.js';

const REQUEST = (path: string, extra = ''): string =>
  `exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT; printf 'GET http://trace.test${path} HTTP/1.1\\r\\nHost: trace.test\\r\\nAuthorization: Bearer sk-container-placeholder\\r\\n${extra}Connection: close\\r\\n\\r\\n' >&3; head -1 <&3`;

describe('moat trace: every request is recorded', () => {
  let home: string;
  let ws: string;
  let fake: FakeUpstream;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = await tempDir('moat-e2e-trace-home-');
    ws = await tempDir('moat-e2e-trace-ws-');
    fake = await startFakeUpstream();
    env = { MOAT_TESTING: '1', MOAT_TEST_UPSTREAMS: `trace.test=127.0.0.1:${fake.httpPort}` };
  });
  afterAll(async () => {
    await fake.close();
    await cleanupHome(home, ws);
  });

  it('lists requests with status, and filters by status', async () => {
    const r = await moat(['run', '-n', 'traced', '--', 'bash', '-c', `${REQUEST('/status/200')}; ${REQUEST('/status/404')}`], { home, cwd: ws, env });
    expect(r.code).toBe(0);
    const t = await moat(['trace', 'traced'], { home, cwd: ws });
    expect(t.stdout).toContain('http://trace.test/status/200');
    expect(t.stdout).toContain('http://trace.test/status/404');
    const only = await moat(['trace', 'traced', '--status', '4xx', '--json'], { home, cwd: ws });
    const lines = only.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: number; url: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.status).toBe(404);
    // Without --trace-bodies no headers or bodies are recorded.
    expect(only.stdout).not.toContain('requestHeaders');
  });

  it('--trace-bodies records headers and bodies, never credential header values', async () => {
    const r = await moat(['run', '-n', 'bodies', '--trace-bodies', '--', 'bash', '-c', REQUEST('/status/200', 'X-Test: visible\\r\\n')], {
      home,
      cwd: ws,
      env,
    });
    expect(r.code).toBe(0);
    const t = await moat(['trace', 'bodies', '--json'], { home, cwd: ws });
    const ev = JSON.parse(t.stdout.trim()) as { requestHeaders: Record<string, string>; responseBody: string };
    expect(ev.requestHeaders['x-test']).toBe('visible');
    expect(ev.requestHeaders.authorization).toBe('[REDACTED]');
    expect(ev.responseBody).toContain('status');
    expect(t.stdout).not.toContain('sk-container-placeholder');
    const v = await moat(['trace', 'bodies', '-v'], { home, cwd: ws });
    expect(v.stdout).toContain('x-test: visible');
  });
});
