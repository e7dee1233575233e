/**
 * Ports (issue 15): a real HTTP server (Node's, in the image the agent suites build) inside a run reached
 * from the host through the daemon's routing proxy, over http and https on one loopback port, WebSockets
 * included; `ports:` in moat.yaml approved like mounts (it opens a path from the host's browser into the
 * run); https certificates from the router's own name-constrained CA, never the interception CA; and the
 * transport as a boundary: the host only ever accepts on sockets it made, so a run that swaps its side for
 * a symlink to the Docker socket, the daemon's control socket or any other socket reaches nothing.
 */
import { execFile } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, cleanupHome, containersOf, moat, parseDetached, tempDir, waitFor, type MoatResult } from './helpers.js';
import { wsEcho } from './fixtures/ws-client.js';

const execFileP = promisify(execFile);

let home: string;
let root: string;
let port: number;
let decoy: net.Server;
let decoyHits = 0;
let refused: MoatResult;
let containersWhenRefused: string[];
const runs: Record<string, string> = {};

/** The image the agent suites build (Node 22 from the codex dependency): reused, so this file builds nothing new. */
const NODE_DEPS = 'dependencies: [codex, git, ripgrep]\n';
const ALPHA_YAML = `${NODE_DEPS}ports:\n  web: 3000\n`;
const serve = (host: string): string[] => ['node', '/workspace/ports-server.mjs', '3000', host];
const routingCa = (): string => join(home, 'routing-ca', 'ca.pem');

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function workspace(name: string, yaml?: string): Promise<string> {
  const cwd = join(root, name);
  await mkdir(cwd, { recursive: true });
  await copyFile(join(REPO_ROOT, 'test', 'fixtures', 'ports-server.mjs'), join(cwd, 'ports-server.mjs'));
  if (yaml !== undefined) await writeFile(join(cwd, 'moat.yaml'), yaml);
  return cwd;
}

async function start(name: string, cwd: string, flags: string[], cmd: string[]): Promise<string> {
  const r = await moat(['run', '-d', '-n', name, ...flags, '--', ...cmd], { home, cwd, timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`moat run ${name} failed (${String(r.code)}):\n${r.stderr}`);
  runs[name] = cwd;
  return parseDetached(r.stderr + r.stdout).id;
}

/** curl on the host: status and body (https verified against `cacert`, the routing CA unless told). */
async function curl(url: string, extra: string[] = [], cacert = routingCa()): Promise<{ status: number; body: string }> {
  const host = new URL(url).hostname;
  const { stdout } = await execFileP('curl', [
    '-s',
    '-m',
    '10',
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    '--cacert',
    cacert,
    '-w',
    '\n%{http_code}',
    ...extra,
    url,
  ]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}

beforeAll(async () => {
  home = await tempDir('ports-home');
  root = await tempDir('ports-ws');
  port = await freePort();
  await writeFile(join(home, 'config.yaml'), `routing:\n  port: ${port}\n`);
  decoy = net.createServer((s) => {
    decoyHits++;
    s.destroy();
  });
  await new Promise<void>((r) => decoy.listen(join(root, 'decoy.sock'), () => r()));
  const alpha = await workspace('alpha', ALPHA_YAML);
  // First sight, no terminal, no --approve-config: refused before anything starts.
  refused = await moat(['run', '-d', '-n', 'alpha', '--', ...serve('127.0.0.1')], { home, cwd: alpha, timeoutMs: 120_000 });
  containersWhenRefused = await containersOf(home);
  const t0 = Date.now();
  await start('alpha', alpha, ['--approve-config'], serve('127.0.0.1'));
  process.stderr.write(`[ports e2e] first run with the Node image: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  // The same service name from another run, given on the command line, listening on 0.0.0.0.
  await start('beta', await workspace('beta', NODE_DEPS), ['--approve-config', '-p', 'web=3000'], serve('0.0.0.0'));
}, 900_000);

afterAll(async () => {
  decoy?.close();
  await cleanupHome(home, root, [root]);
});

describe('ports: is an approved setting (an inbound path from the host into the run)', () => {
  it('first sight without a terminal is refused with the diff naming ports; --approve-config starts the run', () => {
    const ws = join(root, 'alpha');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `moat: moat.yaml in ${ws} sets dependencies and ports, which reach beyond the container, and nobody has approved them here yet:\n` +
        '    dependencies:\n' +
        '  +   - codex\n' +
        '  +   - git\n' +
        '  +   - ripgrep\n' +
        '    ports:\n' +
        '  +   web: 3000\n' +
        `  Review them (moat trust show ${ws}), then run again with --approve-config to accept them.\n`,
    );
    expect(containersWhenRefused).toEqual([]);
    expect(runs.alpha).toBe(ws);
  });

  it('a run that adds a port to moat.yaml is asked again; moat trust show names it', async () => {
    const ws = join(root, 'alpha');
    await writeFile(join(ws, 'moat.yaml'), `${ALPHA_YAML}  admin: 9000\n`);
    try {
      const r = await moat(['run', '--', 'true'], { home, cwd: ws });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `moat: moat.yaml changed ports since the last run in ${ws}, and an agent in a run can edit that file:\n` +
          '    ports:\n' +
          '  +   admin: 9000\n' +
          `  Review them (moat trust show ${ws}), then run again with --approve-config to accept them.\n`,
      );
      const show = await moat(['trust', 'show'], { home, cwd: ws });
      expect(show.stdout).toContain('  ports:\n+   admin: 9000\n');
    } finally {
      await writeFile(join(ws, 'moat.yaml'), ALPHA_YAML);
    }
    expect(await readFile(join(ws, 'moat.yaml'), 'utf8')).toBe(ALPHA_YAML);
  });
});

describe("ports: a run's service through the router", () => {
  it('serves a real Node server over http and https (the routing CA) for two runs with the same service name', async () => {
    const a = await waitFor(
      async () => {
        const r = await curl(`http://web.alpha.localhost:${port}/`, ['-i']);
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'alpha over http',
    );
    expect(a.body).toMatch(/^x-served-by: node v22\./m);
    expect(a.body).toContain(`hello from alpha</h1><p>http://web.alpha.localhost:${port}/</p>`);
    const b = await waitFor(
      async () => {
        const r = await curl(`https://web.beta.localhost:${port}/`);
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'beta over https',
    );
    expect(b.body).toContain(`hello from beta</h1><p>http://web.beta.localhost:${port}/</p>`);
    // The first service is also the run's own name; the server is told the scheme the browser used.
    expect((await curl(`https://alpha.localhost:${port}/`)).body).toContain('hello from alpha');
    const seen = JSON.parse((await curl(`https://web.alpha.localhost:${port}/headers`)).body) as Record<string, string>;
    expect(seen).toMatchObject({ host: `web.alpha.localhost:${port}`, 'x-forwarded-proto': 'https', 'x-forwarded-host': `web.alpha.localhost:${port}` });
  });

  it('moat open --ca names the routing CA (curl trusts it); the interception CA runs trust does not vouch for the router', async () => {
    const r = await moat(['open', '--ca'], { home, cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`The routing CA: ${routingCa()}\n`);
    expect(r.stdout).toContain(`certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'Moat Local Routing CA' -i '${routingCa()}'`);
    expect((await curl(`https://web.beta.localhost:${port}/`, [], routingCa())).status).toBe(200);
    const wrong = await curl(`https://web.beta.localhost:${port}/`, [], join(home, 'ca', 'ca.pem')).then(
      () => 0,
      (e: { code?: number }) => e.code,
    );
    expect(wrong).toBe(60); // curl: the peer's certificate cannot be authenticated with the given CA
    // No run sees the routing CA's folder (its key stays with the daemon).
    const ids = await containersOf(home);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      const mounts = (await execFileP('docker', ['inspect', '--format', '{{range .Mounts}}{{.Source}}\n{{end}}', id])).stdout;
      expect(mounts).not.toContain(join(home, 'routing-ca'));
      expect(mounts).toContain(join(home, 'runs'));
    }
    const { stdout } = await execFileP('openssl', ['x509', '-noout', '-ext', 'nameConstraints', '-in', routingCa()]);
    expect(stdout).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:localhost\s+DNS:\.localhost\s+IP:127\.0\.0\.0\/255\.0\.0\.0/);
  });

  it('passes a WebSocket through to the Node server and echoes frames, on http and https, for both runs', async () => {
    for (const run of ['alpha', 'beta']) {
      const host = `web.${run}.localhost`;
      expect(await wsEcho(port, host, `ping ${run} http`)).toEqual({
        status: 'HTTP/1.1 101 Switching Protocols',
        acceptOk: true,
        reply: `echo: ping ${run} http`,
      });
      const ca = await readFile(routingCa(), 'utf8');
      expect(await wsEcho(port, host, `ping ${run} https`, ca)).toEqual({
        status: 'HTTP/1.1 101 Switching Protocols',
        acceptOk: true,
        reply: `echo: ping ${run} https`,
      });
    }
  });

  it('answers the index page at localhost (JSON and HTML) and a 404 page listing what runs', async () => {
    const j = await curl(`http://localhost:${port}/`, ['-H', 'Accept: application/json']);
    const doc = JSON.parse(j.body) as { runs: Array<{ name: string; services: Array<{ name: string; url: string }> }> };
    expect(doc.runs.map((r) => r.name).sort()).toEqual(expect.arrayContaining(['alpha', 'beta']));
    expect(doc.runs.find((r) => r.name === 'beta')?.services).toEqual([expect.objectContaining({ name: 'web', url: `http://web.beta.localhost:${port}/` })]);
    const h = await curl(`http://localhost:${port}/`);
    expect(h.body).toContain(`<a href="http://web.alpha.localhost:${port}/">web</a>`);
    const nf = await curl(`http://web.nobody.localhost:${port}/`);
    expect(nf.status).toBe(404);
    expect(nf.body).toContain('Nothing is served at web.nobody.localhost');
    expect(nf.body).toContain('<strong>beta</strong>');
    // Another host name (a DNS-rebinding page, say) learns nothing about the runs.
    const other = await curl(`http://127.0.0.1:${port}/`, ['-H', 'Host: evil.example']);
    expect(other.status).toBe(421);
    expect(other.body).not.toContain('alpha');
  });

  it('moat open --print prints the service URL, and moat list shows it', async () => {
    const r = await moat(['open', 'beta', '--print'], { home, cwd: root });
    expect(r.stdout).toBe(`http://web.beta.localhost:${port}/\n`);
    const l = await moat(['list', '--json'], { home, cwd: root });
    const listed = (JSON.parse(l.stdout) as { runs: Array<{ name: string; urls?: Record<string, string> }> }).runs;
    expect(listed.find((x) => x.name === 'alpha')?.urls).toEqual({ web: `http://web.alpha.localhost:${port}/` });
  });

  it('symlink attack: a run that kills its relay and points its side at the Docker socket, the daemon socket or a decoy reaches none of them', async () => {
    const targets = ['/var/run/docker.sock', join(home, 'daemon', 'daemon.sock'), join(root, 'decoy.sock')];
    // Kill the relay (as the run's user, it may), then try to put a symlink where the daemon's socket is,
    // and everywhere else the run can write that the host might look.
    const attack = [
      'pat=pe; pat=${pat}rl; for p in /proc/[0-9]*; do grep -q "$pat" $p/cmdline 2>/dev/null && kill ${p#/proc/}; done',
      ...targets.map((t) => `ln -sfn ${t} /moat/net/in-3000.sock 2>&1 | sed 's/^/ATTACK: /'`),
      `rm -f /moat/net/in-3000.sock 2>&1 | sed 's/^/ATTACK: /'`,
      ...targets.map((t, i) => `ln -sfn ${t} /workspace/in-3000-${i}.sock; ln -sfn ${t} /tmp/in-3000-${i}.sock`),
      'echo ATTACK-DONE; sleep 120',
    ].join('\n');
    const id = await start('gamma', await workspace('gamma'), ['-p', 'web=3000'], ['sh', '-c', attack]);
    await waitFor(async () => (await moat(['logs', 'gamma'], { home, cwd: root })).stdout.includes('ATTACK-DONE'), 20_000, 'the attack');
    const logs = (await moat(['logs', 'gamma'], { home, cwd: root })).stdout;
    expect(logs).toContain('Read-only file system');
    const r = await curl(`http://web.gamma.localhost:${port}/`);
    expect(r.status).toBe(502);
    expect(r.body).toContain('Nothing answers on port 3000 inside the run gamma');
    expect(r.body).not.toMatch(/"message"|ApiVersion|Docker|protocol/);
    expect(decoyHits).toBe(0);
    // The daemon's socket is still its own: a socket, not a link.
    const sock = join(home, 'runs', id, 'net', 'in-3000.sock');
    expect(lstatSync(sock).isSocket()).toBe(true);
    expect((await readdir(join(home, 'runs', id, 'net'))).sort()).toEqual(['in-3000.sock', 'proxy.sock']);
    await moat(['stop', 'gamma'], { home, cwd: root, timeoutMs: 30_000 });
  });

  it('says a stopped run has stopped (502), and the router stops with the last run', async () => {
    expect((await moat(['stop', 'alpha'], { home, cwd: root, timeoutMs: 30_000 })).code).toBe(0);
    const r = await waitFor(
      async () => {
        // While the daemon takes the run's end in, its service may first answer "nothing answers on port …".
        const x = await curl(`http://web.alpha.localhost:${port}/`);
        return x.status === 502 && x.body.includes('has stopped') ? x : undefined;
      },
      15_000,
      'the 502 page',
    );
    expect(r.body).toContain('The run alpha has stopped');
    expect((await curl(`http://web.beta.localhost:${port}/`)).status).toBe(200);
    expect((await moat(['stop', 'beta'], { home, cwd: root, timeoutMs: 30_000 })).code).toBe(0);
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            resolve(false);
          });
          s.once('error', () => resolve(true));
        }),
      15_000,
      'the router to stop listening',
    );
  });
});
