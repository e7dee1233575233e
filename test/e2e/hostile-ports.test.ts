/**
 * Ports (issue 15): a service inside a run reached from the host through the daemon's routing proxy, over
 * http and https on one loopback port, WebSockets included; and the transport as a boundary: the host
 * only ever accepts on sockets it made, so a run that swaps its side for a symlink to the Docker socket,
 * the daemon's control socket or any other socket reaches nothing.
 */
import { execFile } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, parseDetached, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);

let home: string;
let root: string;
let port: number;
let decoy: net.Server;
let decoyHits = 0;
const runs: Record<string, string> = {};

/** A tiny HTTP server for socat's EXEC: one request per connection; an Upgrade gets 101 and an echo. */
const SERVER = `cr=$(printf '\\r')
IFS= read -r first
up=
while IFS= read -r line; do
  case "$line" in "$cr"|'') break;; [Uu]pgrade:*) up=1;; esac
done
if [ -n "$up" ]; then printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'; exec cat; fi
body="<html><body><h1>hello from $MOAT_RUN_NAME</h1><p>$MOAT_URL_WEB</p></body></html>"
printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' "\${#body}" "$body"
`;
const SERVE = 'socat TCP-LISTEN:3000,fork,reuseaddr EXEC:"sh /workspace/srv.sh"';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function start(name: string, script: string): Promise<string> {
  const cwd = join(root, name);
  await mkdir(cwd, { recursive: true });
  await writeFile(join(cwd, 'srv.sh'), SERVER);
  const r = await moat(['run', '-d', '-n', name, '-p', 'web=3000', '--', 'sh', '-c', script], { home, cwd, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`moat run ${name} failed (${String(r.code)}):\n${r.stderr}`);
  runs[name] = cwd;
  return parseDetached(r.stderr + r.stdout).id;
}

/** curl on the host: status and body (https verified against the moat CA). */
async function curl(url: string, extra: string[] = []): Promise<{ status: number; body: string }> {
  const host = new URL(url).hostname;
  const { stdout } = await execFileP('curl', [
    '-s',
    '-m',
    '10',
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    '--cacert',
    join(home, 'ca', 'ca.pem'),
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
  await start('alpha', SERVE);
  await start('beta', SERVE);
}, 600_000);

afterAll(async () => {
  decoy?.close();
  await cleanupHome(home, root, [root]);
});

describe("ports: a run's service through the router", () => {
  it('serves http and https (moat CA) for two runs with the same service name', async () => {
    const a = await waitFor(
      async () => {
        const r = await curl(`http://web.alpha.localhost:${port}/`);
        return r.status === 200 ? r : undefined;
      },
      15_000,
      'alpha over http',
    );
    expect(a.body).toContain(`hello from alpha</h1><p>http://web.alpha.localhost:${port}/</p>`);
    const b = await curl(`https://web.beta.localhost:${port}/`);
    expect(b).toEqual({ status: 200, body: expect.stringContaining('hello from beta') as string });
    // The first service is also the run's own name.
    expect((await curl(`https://alpha.localhost:${port}/`)).body).toContain('hello from alpha');
  });

  it('passes a WebSocket upgrade through and echoes bytes both ways', async () => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => {
      got += c;
    });
    s.write(
      `GET /ws HTTP/1.1\r\nHost: web.alpha.localhost:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitFor(() => got.includes('\r\n\r\n'), 10_000, '101');
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    s.write('ping-through-the-router');
    await waitFor(() => got.includes('ping-through-the-router'), 10_000, 'the echo');
    s.destroy();
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
    const id = await start('gamma', attack);
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
        const x = await curl(`http://web.alpha.localhost:${port}/`);
        return x.status === 502 ? x : undefined;
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
