import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, listRuns, moat, parseDetached, tempDir, waitFor } from './helpers.js';

// A plain-HTTP request through the run's gateway, from bash (the default image has no curl).
const REQUEST = (path: string): string =>
  `exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT; printf 'GET http://audit.test${path} HTTP/1.1\\r\\nHost: audit.test\\r\\nConnection: close\\r\\n\\r\\n' >&3; head -1 <&3`;

describe('audit: every run leaves a signed, verifiable record', () => {
  let home: string;
  let ws: string;
  let fake: FakeUpstream;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = await tempDir('moat-e2e-audit-home-');
    ws = await tempDir('moat-e2e-audit-ws-');
    fake = await startFakeUpstream();
    env = { MOAT_TESTING: '1', MOAT_TEST_UPSTREAMS: `audit.test=127.0.0.1:${fake.httpPort}` };
  });
  afterAll(async () => {
    await fake.close();
    await cleanupHome(home, ws);
  });

  it('an attached run with network traffic verifies and lists its requests', async () => {
    const r = await moat(['run', '-n', 'audited', '--', 'bash', '-c', `${REQUEST('/hello')}; echo done`], { home, cwd: ws, env });
    expect(r.stdout).toContain('HTTP/1.1 200');
    expect(r.code).toBe(0);
    const audit = await waitFor(
      async () => {
        const a = await moat(['audit', 'audited'], { home, cwd: ws });
        return a.code === 0 && a.stdout.includes('OK') ? a : undefined;
      },
      15_000,
      'a verified audit log',
    );
    expect(audit.stdout).toMatch(/\[ok\]\s+chain/);
    expect(audit.stdout).toMatch(/\[ok\]\s+signatures/);
    expect(audit.stdout).toMatch(/network 1/);
    const events = await moat(['audit', 'audited', '--events', '--type', 'network'], { home, cwd: ws });
    expect(events.stdout).toContain('http://audit.test/hello');
    const lifecycle = await moat(['audit', 'audited', '--events', '--type', 'lifecycle'], { home, cwd: ws });
    expect(lifecycle.stdout).toMatch(/ lifecycle {3}stopped, exit code 0$/m);
    const raw = await moat(['audit', 'audited', '--events', '--type', 'lifecycle', '--json'], { home, cwd: ws });
    expect(raw.stdout).toMatch(/"exitCode":0/);
  });

  it('a detached run is still audited after the CLI has exited', async () => {
    const r = await moat(['run', '-d', '--', 'bash', '-c', `sleep 1; ${REQUEST('/later')}`], { home, cwd: ws, env });
    expect(r.code).toBe(0);
    const { id } = parseDetached(r.stdout);
    await waitFor(async () => (await listRuns(home, ws)).find((x) => x.id === id && x.state === 'stopped'), 30_000, 'the detached run to stop');
    const audit = await waitFor(
      async () => {
        const a = await moat(['audit', id, '--json'], { home, cwd: ws });
        return a.code === 0 ? a : undefined;
      },
      15_000,
      'a verified audit log',
    );
    const report = JSON.parse(audit.stdout) as { ok: boolean; countsByType: Record<string, number> };
    expect(report.ok).toBe(true);
    expect(report.countsByType.network).toBe(1);
    expect(fake.requests.some((q) => q.path === '/later')).toBe(true);
  });

  it('a tampered log fails verification and names the problem', async () => {
    const runs = await listRuns(home, ws);
    const run = runs.find((x) => x.name === 'audited');
    expect(run).toBeDefined();
    const file = join(home, 'runs', run!.id, 'audit.jsonl');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('/hello', '/hellO'));
    const a = await moat(['audit', run!.id], { home, cwd: ws });
    expect(a.code).not.toBe(0);
    expect(a.stdout).toMatch(/\[FAIL\]/);
    await writeFile(file, text);
    const back = await moat(['audit', run!.id], { home, cwd: ws });
    expect(back.code).toBe(0);
  });

  it('exports a bundle that verifies offline against the home key', async () => {
    const bundle = join(ws, 'bundle.json');
    const key = join(ws, 'key.pem');
    const e = await moat(['audit', 'audited', '--export', bundle], { home, cwd: ws });
    expect(e.code).toBe(0);
    const k = await moat(['audit', 'key'], { home, cwd: ws });
    await writeFile(key, k.stdout);
    const v = await moat(['audit', 'verify', bundle, '--key', key], { home, cwd: ws });
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('OK');
  });
});
