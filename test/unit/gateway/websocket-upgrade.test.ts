import type net from 'node:net';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectTunnel, type Harness, rawExchange, startHarness, tlsOver, waitFor } from './helpers.js';

/**
 * A tunnel becomes a byte pipe only once the origin switched protocols with the right
 * Sec-WebSocket-Accept. Any other answer leaves an HTTP connection whose every later request is
 * parsed, checked, credentialed and traced like any other.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    policy: { policy: 'permissive', rules: [{ 'paths.example.test': ['allow GET /status/**', 'allow GET /ok', 'allow GET /ws-*', 'deny * /**'] }] },
    injections: [{ grant: 'openai', hosts: ['api.example.test'], set: { authorization: 'Bearer REAL-KEY' } }],
  });
});
afterAll(async () => h.close());

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function upgradeHead(target: string, host: string, extra = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** Write `data` on an open connection and collect what comes back until it closes or `ms` pass. */
function exchangeOn(sock: net.Socket | tls.TLSSocket, data: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => sock.destroy(), ms);
    sock.on('data', (c: Buffer) => (out += c.toString('latin1')));
    sock.on('error', () => undefined);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.write(data);
  });
}

async function tlsTo(host: string): Promise<tls.TLSSocket> {
  const t = await connectTunnel(h.socketPath, `${host}:443`);
  if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
  return tlsOver(t.socket, host, h.ca.certPem);
}

const seen = (path: string): number => h.fake.requests.filter((r) => r.path === path).length;

describe('a request pipelined behind an upgrade the origin refused', () => {
  it('inside TLS: is checked against the path rules (403), never reaches the origin, and is traced', async () => {
    const sock = await tlsTo('paths.example.test');
    const out = await exchangeOn(
      sock,
      `${upgradeHead('/status/404', 'paths.example.test')}GET /secret-tls HTTP/1.1\r\nHost: paths.example.test\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 404 Refused\r\n[\s\S]*\r\n\r\nrefused\nHTTP\/1\.1 403 Forbidden\r\n/);
    expect(out).toContain('Moat blocked GET https://paths.example.test/secret-tls');
    expect(seen('/secret-tls')).toBe(0);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://paths.example.test/secret-tls'));
    expect(ev).toMatchObject({ status: 403, blocked: true });
    expect(ev.upgrade).toBeUndefined();
    const up = await waitFor(() => h.requestEvents().find((e) => e.url === 'wss://paths.example.test/status/404'));
    expect(up).toMatchObject({ status: 404, upgrade: 'websocket' });
  });

  it('over plain HTTP (absolute-form): the same', async () => {
    const out = await rawExchange(
      h.socketPath,
      `${upgradeHead('http://paths.example.test/status/403', 'paths.example.test')}GET http://paths.example.test/secret-plain HTTP/1.1\r\nHost: paths.example.test\r\nConnection: close\r\n\r\n`,
      1500,
    );
    expect(out).toMatch(/^HTTP\/1\.1 403 Refused\r\n[\s\S]*refused\nHTTP\/1\.1 403 Forbidden\r\n/);
    expect(seen('/secret-plain')).toBe(0);
    await waitFor(() => h.requestEvents().find((e) => e.url === 'http://paths.example.test/secret-plain' && e.blocked));
  });

  it('inside a plain-HTTP CONNECT tunnel: the same', async () => {
    const t = await connectTunnel(h.socketPath, 'paths.example.test:80');
    if (!('socket' in t)) throw new Error('refused');
    const out = await exchangeOn(
      t.socket,
      `${upgradeHead('/status/404', 'paths.example.test')}GET /secret-tunnel HTTP/1.1\r\nHost: paths.example.test\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 404 Refused\r\n[\s\S]*refused\nHTTP\/1\.1 403 Forbidden\r\n/);
    expect(seen('/secret-tunnel')).toBe(0);
    await waitFor(() => h.requestEvents().find((e) => e.url === 'http://paths.example.test/secret-tunnel' && e.blocked));
  });

  it("a refusal whose body ends at the origin's close is re-framed (chunked), and the client connection stays open", async () => {
    const sock = await tlsTo('paths.example.test');
    const out = await exchangeOn(
      sock,
      `${upgradeHead('/ws-close-delimited', 'paths.example.test')}GET /status/201 HTTP/1.1\r\nHost: paths.example.test\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 404 Not Found\r\n[\s\S]*Transfer-Encoding: chunked\r\n\r\n10\r\nbody-until-close\r\n0\r\n\r\nHTTP\/1\.1 201 Created\r\n/);
    expect(seen('/status/201')).toBe(1);
  });

  it('behind an upgrade Moat itself refused: the connection closes and nothing behind it is served', async () => {
    const sock = await tlsTo('paths.example.test');
    const out = await exchangeOn(sock, `${upgradeHead('/denied-ws', 'paths.example.test')}GET /ok HTTP/1.1\r\nHost: paths.example.test\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(out.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(seen('/ok')).toBe(0);
    expect(seen('/denied-ws')).toBe(0);
  });

  it('an allowed one goes upstream as its own request, with the credential over TLS only', async () => {
    const sock = await tlsTo('api.example.test');
    const out = await exchangeOn(
      sock,
      `${upgradeHead('/status/426', 'api.example.test', 'Authorization: Bearer placeholder\r\n')}GET /after-tls HTTP/1.1\r\nHost: api.example.test\r\nAuthorization: Bearer placeholder\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 426 Refused\r\n[\s\S]*refused\nHTTP\/1\.1 200 OK\r\n/);
    const after = h.fake.requests.find((r) => r.path === '/after-tls');
    expect(after?.headers.authorization).toBe('Bearer REAL-KEY');
    expect(after?.websocket).toBeUndefined();
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/after-tls'));
    expect(ev).toMatchObject({ status: 200, grant: 'openai' });

    const plain = await rawExchange(
      h.socketPath,
      `${upgradeHead('http://api.example.test/status/404', 'api.example.test')}GET http://api.example.test/after-plain HTTP/1.1\r\nHost: api.example.test\r\nAuthorization: Bearer mine\r\nConnection: close\r\n\r\n`,
      1500,
    );
    expect(plain).toMatch(/HTTP\/1\.1 200 OK\r\n/);
    expect(h.fake.requests.find((r) => r.path === '/after-plain')?.headers.authorization).toBe('Bearer mine');
  });
});

describe('the switch itself', () => {
  it('holds bytes sent before the 101 and delivers them only once the origin switched', async () => {
    const sock = await tlsTo('api.example.test');
    // A masked text frame "hi" written right behind the upgrade request, before any answer.
    const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
    const out = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      sock.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (all.includes(Buffer.from('\x81\x02hi', 'latin1'))) resolve(all);
      });
      sock.write(Buffer.concat([Buffer.from(upgradeHead('/early', 'api.example.test')), frame]));
    });
    sock.destroy();
    expect(out.toString('latin1')).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
  });

  it.each([
    ['a wrong Sec-WebSocket-Accept', '/ws-bad-accept'],
    ['no Sec-WebSocket-Accept', '/ws-no-accept'],
  ])('refuses a 101 with %s: 502, closed, nothing forwarded', async (_name, path) => {
    const sock = await tlsTo('paths.example.test');
    const start = Date.now();
    const out = await exchangeOn(sock, `${upgradeHead(path, 'paths.example.test')}GET /smuggled${path} HTTP/1.1\r\nHost: paths.example.test\r\n\r\n`, 3000);
    expect(Date.now() - start).toBeLessThan(2500);
    expect(out).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(out).toContain('Sec-WebSocket-Accept');
    expect(out).not.toContain('101');
    expect(seen(`/smuggled${path}`)).toBe(0);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === `wss://paths.example.test${path}`));
    expect(ev).toMatchObject({ status: 502, upgrade: 'websocket' });
  });

  it('still tunnels a real WebSocket with ws, including a burst sent at once on open', async () => {
    const sock = await tlsTo('api.example.test');
    const ws = new WebSocket('wss://api.example.test/burst', { createConnection: () => sock });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const got: string[] = [];
    const all = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => got.push(d.toString()) === 20 && resolve()));
    for (let i = 0; i < 20; i += 1) ws.send(`m${i}`);
    await all;
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    ws.close();
  });
});

describe('upgrades that are not WebSocket, and malformed ones', () => {
  it('serves an h2c upgrade as the plain request it also is (Upgrade stripped, connection kept)', async () => {
    const out = await rawExchange(
      h.socketPath,
      'GET http://other.example.test/h2c HTTP/1.1\r\nHost: other.example.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' +
        'GET http://other.example.test/h2c-next HTTP/1.1\r\nHost: other.example.test\r\nConnection: close\r\n\r\n',
      1500,
    );
    expect(out.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(2);
    expect(out).not.toMatch(/ 101 /);
    const up = h.fake.requests.find((r) => r.path === '/h2c');
    expect(up?.websocket).toBeUndefined();
    expect(up?.headers.upgrade).toBeUndefined();
    expect(up?.headers['http2-settings']).toBeUndefined();
    await waitFor(() => h.requestEvents().find((e) => e.url === 'http://other.example.test/h2c-next' && e.status === 200));
  });

  it('applies path rules to a stripped non-WebSocket upgrade as well', async () => {
    const sock = await tlsTo('paths.example.test');
    const out = await exchangeOn(sock, 'GET /secret-h2c HTTP/1.1\r\nHost: paths.example.test\r\nConnection: Upgrade, close\r\nUpgrade: TLS/1.2\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(seen('/secret-h2c')).toBe(0);
  });

  it.each([
    ['a POST upgrade', `POST /status/200 HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`],
    ['a missing key', 'GET /nokey HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    [
      'two keys',
      `GET /twokeys HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`,
    ],
    [
      'a body',
      `GET /body HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nContent-Length: 5\r\n\r\nhello`,
    ],
  ])('refuses %s with 400 before contacting the origin', async (_name, raw) => {
    const before = h.fake.requests.length;
    const sock = await tlsTo('api.example.test');
    const out = await exchangeOn(sock, raw);
    expect(out).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(h.fake.requests.length).toBe(before);
  });
});
