/**
 * `moat doctor` on this machine, end to end: a home with a run behind it (the CA and the daemon exist), a
 * grant and an extra CA; every check and its status, in both forms; no secret in either. Then the problems
 * doctor must name with their fix (a CA key readable by others, an expired grant), and an engine that
 * accepts connections but never answers: doctor still ends quickly, with FAIL and the fix.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createCA } from '../../src/gateway/ca.js';
import { CredentialStore } from '../../src/credentials/store.js';
import { MoatHome } from '../../src/home/paths.js';
import { cleanupHome, grantToken, moat, tempDir } from './helpers.js';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const SECRET = 'ghp_E2EDOCTORSECRETaaaaaaaaaaaaaaaaaaaaaaaaa1';

describe('moat doctor', () => {
  let home: string;
  let ws: string;
  let extra: string;
  let caFile: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = await tempDir('doctor-home');
    ws = await tempDir('doctor-ws');
    extra = await tempDir('doctor-extra');
    caFile = join(extra, 'corp.pem');
    await writeFile(caFile, (await createCA('Doctor E2E Corp CA')).certPem);
    // The sandbox is the user's choice here: whether the engine has gVisor is hostile-sandbox-kernel's subject.
    env = { MOAT_SANDBOX: 'runc', MOAT_KEYRING_BACKEND: 'file', NODE_EXTRA_CA_CERTS: caFile, SSL_CERT_FILE: '', MOAT_DAEMON_IDLE_MS: '120000' };
    await grantToken('github', SECRET, { home, cwd: ws, env });
    // A run creates the CA and starts the daemon (kept alive for the checks below).
    const r = await moat(['run', '--', 'true'], { home, cwd: ws, env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await cleanupHome(home, ws, [extra]);
  });

  const doctor = async (json: boolean, extraEnv: NodeJS.ProcessEnv = {}) => {
    const started = Date.now();
    const r = await moat(['doctor', ...(json ? ['--json'] : [])], { home, cwd: ws, env: { ...env, ...extraEnv }, timeoutMs: 60_000 });
    return { ...r, ms: Date.now() - started };
  };
  const parse = (stdout: string): Check[] => (JSON.parse(stdout) as { checks: Check[] }).checks;
  const byName = (checks: Check[], name: string): Check => {
    const c = checks.find((x) => x.name === name);
    if (!c) throw new Error(`no check named ${name} in ${checks.map((x) => x.name).join(', ')}`);
    return c;
  };

  it('reports every check of a healthy home as OK, in one JSON document, and exits 0', async () => {
    const r = await doctor(true);
    expect(r.code, r.stderr).toBe(0);
    const checks = parse(r.stdout);
    expect(checks.map((c) => c.name)).toEqual([
      'engine',
      'sandbox',
      'daemon',
      'ca',
      'routing-ca',
      'key',
      'grant:github',
      'images',
      'agents',
      'hostCAs',
      'disk',
    ]);
    for (const c of checks) {
      expect(c.status, `${c.name}: ${c.detail}`).toBe('ok');
      expect(c.fix).toBeUndefined();
    }
    expect(byName(checks, 'engine').detail).toMatch(/^Docker Engine \S+ \(API 1\.\d+, linux\/\w+\) at unix:\/\//);
    expect(byName(checks, 'sandbox').detail).toBe('runs use runc (MOAT_SANDBOX=runc)');
    const status = await moat(['proxy', 'status', '--json'], { home, cwd: ws, env });
    const pid = (JSON.parse(status.stdout) as { pid: number }).pid;
    expect(byName(checks, 'daemon').detail).toContain(`running: pid ${pid}`);
    expect(byName(checks, 'daemon').detail).toContain('matches the CLI');
    expect(byName(checks, 'ca').detail).toMatch(new RegExp(`${join(home, 'ca', 'ca.pem')}, valid \\d{4}-\\d\\d-\\d\\d to \\d{4}-\\d\\d-\\d\\d, key 0600`));
    expect(byName(checks, 'key').detail).toBe(`${join(home, 'encryption.key')} (mode 0600), MOAT_KEYRING_BACKEND=file`);
    expect(byName(checks, 'grant:github').detail).toBe('github token from stdin, does not expire');
    expect(byName(checks, 'images').detail).toContain('base image debian:bookworm-slim present');
    expect(byName(checks, 'agents').detail).toMatch(/^Claude Code 2\.1\.\d+ \(moat's default\), .*; Codex 0\.\d+\.\d+ \(moat's default\)/);
    expect(byName(checks, 'hostCAs').detail).toBe(`NODE_EXTRA_CA_CERTS: ${caFile}, 1 certificate, 1 not among Node's public roots (Doctor E2E Corp CA)`);
    expect(byName(checks, 'disk').detail).toMatch(new RegExp(`^${home}: [\\d.]+ [KMG]?B, of which runs [\\d.]+ [KMG]?B \\(1 run\\); [\\d.]+ [KMGT]?B free$`));
    // Not the secret, nor a piece of it, anywhere.
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain(SECRET.slice(4, 16));
      expect(out).not.toContain(SECRET.slice(-8));
    }
  }, 60_000);

  it('prints one line per check and a summary, no secret', async () => {
    const r = await doctor(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OK {4}engine +Docker Engine /m);
    expect(r.stdout).toMatch(/^OK {4}grant:github +github token from stdin, does not expire$/m);
    expect(r.stdout).toMatch(/^11 ok, 0 warnings, 0 failed$/m);
    expect(r.stdout + r.stderr).not.toContain(SECRET.slice(4, 16));
  }, 60_000);

  it('names a CA key others can read and an expired grant, with their fixes, and exits 1', async () => {
    const keyFile = join(home, 'ca', 'ca.key');
    await chmod(keyFile, 0o644);
    const store = new CredentialStore(new MoatHome(home), { env: { MOAT_KEYRING_BACKEND: 'file' } });
    await store.put('npm', {
      provider: 'npm',
      kind: 'token',
      secret: { token: `npm_${SECRET}` },
      scopes: [],
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
      source: 'stdin',
    });
    try {
      for (const json of [true, false]) {
        const r = await doctor(json);
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).not.toContain(SECRET.slice(4, 16));
        if (!json) {
          expect(r.stdout).toMatch(
            new RegExp(`^FAIL {2}ca +the CA key ${keyFile} is readable by other users \\(mode 0644\\)\\n +fix: chmod 600 ${keyFile}$`, 'm'),
          );
          expect(r.stdout).toMatch(/^FAIL {2}grant:npm +npm token from stdin, expired 2026-01-02T00:00:00.000Z\n +fix: moat grant npm$/m);
          continue;
        }
        const checks = parse(r.stdout);
        // The checks stay on stdout; the failure is also the one error document on stderr (docs/json.md).
        expect(JSON.parse(r.stderr)).toEqual({
          error: {
            code: 'E_REFUSED',
            message: `The ca check failed: the CA key ${keyFile} is readable by other users (mode 0644) (and 1 more failing check).`,
            hint: `chmod 600 ${keyFile}`,
          },
        });
        expect(byName(checks, 'ca')).toEqual({
          name: 'ca',
          status: 'fail',
          detail: `the CA key ${keyFile} is readable by other users (mode 0644)`,
          fix: `chmod 600 ${keyFile}`,
        });
        expect(byName(checks, 'grant:npm')).toEqual({
          name: 'grant:npm',
          status: 'fail',
          detail: 'npm token from stdin, expired 2026-01-02T00:00:00.000Z',
          fix: 'moat grant npm',
        });
        expect(byName(checks, 'grant:github').status).toBe('ok');
      }
    } finally {
      await chmod(keyFile, 0o600);
      await store.remove('npm');
    }
  }, 60_000);

  it('an engine that accepts but never answers: doctor ends quickly with FAIL and the fix', async () => {
    const dir = await tempDir('doctor-hung');
    const sock = join(dir, 'docker.sock');
    const held: Socket[] = [];
    const server: Server = createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const r = await doctor(true, { DOCKER_HOST: `unix://${sock}` });
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(15_000);
      expect(held.length).toBeGreaterThan(0); // it did connect, and got no answer
      const checks = parse(r.stdout);
      expect(byName(checks, 'engine')).toEqual({
        name: 'engine',
        status: 'fail',
        detail: `The Docker engine at unix://${sock} accepted the connection but did not answer within 5 s.`,
        fix: 'sudo systemctl restart docker (or point DOCKER_HOST at a working engine)',
      });
      for (const n of ['sandbox', 'images'])
        expect(byName(checks, n)).toEqual({ name: n, status: 'warn', detail: 'not checked: the engine did not answer (see the engine check)' });
      expect(byName(checks, 'agents').detail).toContain('cache not checked');
      // The checks that do not need the engine still report.
      for (const n of ['daemon', 'ca', 'routing-ca', 'key', 'grant:github', 'hostCAs', 'disk']) expect(byName(checks, n).status).toBe('ok');
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);
});
