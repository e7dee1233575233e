/**
 * Attacks on the gateway's upgrade handling from inside a real container (issue 19): a request
 * pipelined behind a WebSocket upgrade the origin refused must be parsed, checked against the path
 * rules and traced like any other, never passed to the origin as raw bytes; a switch without the
 * right Sec-WebSocket-Accept opens no pipe. Also: a client that half-closes gets its answer.
 * The origin is the local fake (plain HTTP) reached through the test-only upstream override.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { makeWorkspace, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';

const HOST = 'wsup.moat.test';
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RULES = `network:\n  policy: strict\n  rules:\n    - "${HOST}": ["allow GET /status/**", "allow GET /ws-*", "allow GET /open/**", "allow GET /sse", "deny * /**"]\n`;

let home: string;
let root: string;
let cwd: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;

/** Bytes for printf: an upgrade request for `path`, then `after` (already \\r\\n-escaped), on one connection. */
const upgradeThen = (path: string, after: string): string =>
  `GET http://${HOST}${path} HTTP/1.1\\r\\nHost: ${HOST}\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n` +
  `Sec-WebSocket-Key: ${KEY}\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n${after}`;
const get = (path: string, close = false): string =>
  `GET http://${HOST}${path} HTTP/1.1\\r\\nHost: ${HOST}\\r\\n${close ? 'Connection: close\\r\\n' : ''}\\r\\n`;
/** One connection through the run's relay: write `bytes` at once, print everything that comes back. */
const exchange = (bytes: string): string => `exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT; printf '${bytes}' >&3; timeout 10 cat <&3`;

beforeAll(async () => {
  home = await tempDir('gw-wsup-home');
  root = await tempDir('gw-wsup-ws');
  fake = await startFakeUpstream();
  env = await upstreamOverrideEnv(root, { [HOST]: fake.httpPort }, [fake.ca.certPem]);
  cwd = await makeWorkspace(root, 'ws', RULES);
  await warmImage(home, cwd, env);
});

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('a request pipelined behind a refused WebSocket upgrade', () => {
  it('is checked against the path rules, reaches the origin only when allowed, and appears in moat trace', async () => {
    const script = ['echo RUN=$MOAT_RUN_ID', exchange(upgradeThen('/status/404', get('/secret-after-upgrade') + get('/open/after-upgrade', true)))].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'bash', '-c', script], { home, cwd, env, timeoutMs: 55_000 });
    expect(r.code, r.stderr).toBe(0);
    const statuses = [...r.stdout.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
    expect(statuses).toEqual(['404', '403', '200']);
    expect(r.stdout).toContain(`Moat blocked GET http://${HOST}/secret-after-upgrade`);
    // The origin saw the upgrade and the allowed request, each as its own request; never the denied one.
    expect(requestsTo(fake, HOST, '/status/404').map((q) => q.websocket)).toEqual([true]);
    expect(requestsTo(fake, HOST, '/open/after-upgrade').map((q) => q.websocket)).toEqual([undefined]);
    expect(requestsTo(fake, HOST, '/secret-after-upgrade')).toHaveLength(0);

    const id = runIdOf(r.stdout);
    await waitNetLog(home, id, 3);
    const t = await moat(['trace', id, '--json'], { home, cwd });
    const lines = t.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url: string; status: number; blocked?: boolean; upgrade?: string });
    expect(lines.map((l) => `${l.url} ${l.status} ${String(l.blocked ?? false)} ${l.upgrade ?? 'http'}`).sort()).toEqual([
      `http://${HOST}/open/after-upgrade 200 false http`,
      `http://${HOST}/secret-after-upgrade 403 true http`,
      `ws://${HOST}/status/404 404 false websocket`,
    ]);
  });

  it('a 101 without the right Sec-WebSocket-Accept opens no pipe: 502, and nothing behind it reaches the origin', async () => {
    const r = await moat(['run', '--approve-config', '--', 'bash', '-c', exchange(upgradeThen('/ws-bad-accept', get('/open/behind-bad-switch', true)))], {
      home,
      cwd,
      env,
      timeoutMs: 55_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 502 Bad Gateway/m);
    expect(r.stdout).not.toMatch(/^HTTP\/1\.1 101/m);
    expect(requestsTo(fake, HOST, '/open/behind-bad-switch')).toHaveLength(0);
  });
});

describe('a client that half-closes after its request', () => {
  it('gets the whole response, a slow stream included (printf | socat sends FIN at the end of its input)', async () => {
    // The stream's three events come 0.7 s apart: past the relay's and the gateway's old half-close cut.
    const script =
      `printf '${get('/open/half-closed')}' | socat -t 10 - TCP:127.0.0.1:$MOAT_PROXY_PORT; ` +
      `printf '${get('/sse?n=3&interval=700')}' | socat -t 10 - TCP:127.0.0.1:$MOAT_PROXY_PORT`;
    const r = await moat(['run', '--approve-config', '--', 'bash', '-c', script], { home, cwd, env, timeoutMs: 55_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK/m);
    expect(r.stdout).toContain('"path":"/open/half-closed"');
    expect(r.stdout.match(/^data: \{"i":\d\}/gm)).toEqual(['data: {"i":0}', 'data: {"i":1}', 'data: {"i":2}']);
  });
});
