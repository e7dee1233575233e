import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTunnel, fetchVia, type Harness, rawExchange, startHarness, tlsOver } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ timeouts: { headersMs: 300, handshakeMs: 300 } });
});
afterAll(async () => h.close());

const HOST = 'other.example.test';

describe('request smuggling shapes are rejected before reaching upstream', () => {
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      `POST http://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    ['two different Content-Lengths', `POST http://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`],
    ['a non-final chunked coding', `POST http://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
    ['an obfuscated Transfer-Encoding', `POST http://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
  ])('%s -> 400 and close', async (_name, raw) => {
    const before = h.fake.requests.filter((r) => r.path === '/s').length;
    const out = await rawExchange(h.socketPath, raw);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(h.fake.requests.filter((r) => r.path === '/s').length).toBe(before);
  });

  it('closes the connection when the body turns malformed after the head was accepted', async () => {
    const raw = `POST http://${HOST}/lf HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`;
    const start = Date.now();
    const out = await rawExchange(h.socketPath, raw, 3000);
    expect(Date.now() - start).toBeLessThan(2000);
    expect(out === '' || /^HTTP\/1\.1 400 /.test(out)).toBe(true);
    expect(h.events.some((e) => e.type === 'client-error' && e.code === 'HPE_CR_EXPECTED')).toBe(true);
  });

  it('rejects a smuggled second request after a CL/TE body inside a TLS tunnel too', async () => {
    const t = await connectTunnel(h.socketPath, `${HOST}:443`);
    if (!('socket' in t)) throw new Error('refused');
    const s = await tlsOver(t.socket, HOST, h.ca.certPem);
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      s.on('data', (c: Buffer) => (buf += c.toString()));
      s.on('close', () => resolve(buf));
      s.on('error', () => undefined);
      s.write(
        `POST /s2 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      );
    });
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(h.fake.requests.some((r) => r.path === '/smuggled' || r.path === '/s2')).toBe(false);
  });
});

describe('malformed and abusive clients', () => {
  it('answers oversized headers with 431', async () => {
    const out = await rawExchange(h.socketPath, `GET http://${HOST}/ HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
  });

  it.each([
    ['random bytes', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a])],
    ['a bad request line', 'HELLO WORLD\r\n\r\n'],
    ['a bad header line', `GET http://${HOST}/ HTTP/1.1\r\nHost ${HOST}\r\n\r\n`],
    ['a bad CONNECT authority', 'CONNECT not-an-authority HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a missing Host', `GET http://${HOST}/ HTTP/1.1\r\n\r\n`],
  ])('answers %s with 400 or a close', async (_name, raw) => {
    const out = await rawExchange(h.socketPath, raw);
    expect(out === '' || /^HTTP\/1\.1 400 /.test(out)).toBe(true);
  });

  it('times out a client that never finishes its request head', async () => {
    const start = Date.now();
    const out = await rawExchange(h.socketPath, `GET http://${HOST}/ HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `, 5000);
    expect(Date.now() - start).toBeLessThan(4000);
    expect(out === '' || /^HTTP\/1\.1 408 /.test(out)).toBe(true);
  });

  it('times out a connection that never sends a byte', async () => {
    const start = Date.now();
    const out = await rawExchange(h.socketPath, '', 5000);
    expect(Date.now() - start).toBeLessThan(4000);
    expect(out === '' || /^HTTP\/1\.1 408 /.test(out)).toBe(true);
  });

  it('times out a CONNECT tunnel that never sends a byte after it was established', async () => {
    const t = await connectTunnel(h.socketPath, `${HOST}:443`);
    if (!('socket' in t)) throw new Error('refused');
    const closed = new Promise((r) => t.socket.once('close', r));
    t.socket.on('error', () => undefined);
    const start = Date.now();
    await closed;
    expect(Date.now() - start).toBeLessThan(4000);
  });

  it('times out a CONNECT tunnel whose TLS handshake never comes', async () => {
    const t = await connectTunnel(h.socketPath, `${HOST}:443`);
    if (!('socket' in t)) throw new Error('refused');
    const closed = new Promise((r) => t.socket.once('close', r));
    t.socket.on('error', () => undefined);
    t.socket.write(Buffer.from([0x16, 0x03, 0x01]));
    const start = Date.now();
    await closed;
    expect(Date.now() - start).toBeLessThan(4000);
  });

  it('survives garbage inside a TLS tunnel and a broken handshake', async () => {
    const t = await connectTunnel(h.socketPath, `${HOST}:443`);
    if (!('socket' in t)) throw new Error('refused');
    t.socket.on('error', () => undefined);
    t.socket.resume();
    t.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]));
    await new Promise((r) => t.socket.once('close', r));
    expect(h.events.some((e) => e.type === 'tls-error')).toBe(true);
  });

  it('keeps serving after 1000 abusive connections', async () => {
    const shapes: (string | Buffer)[] = [
      'GARBAGE\r\n\r\n',
      `GET http://${HOST}/ HTTP/1.1\r\nHost: ${HOST}\r\nX: ${'b'.repeat(40_000)}\r\n\r\n`,
      `POST http://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n\x16\x03\x01\x00\x01\x00`,
      `GET http://${HOST}/ HTTP/1.1\r\nHost: ${HOST}\r\nX-Half: `,
      Buffer.alloc(512, 0xff),
    ];
    const batch = async (from: number, n: number): Promise<void> => {
      await Promise.all(
        Array.from(
          { length: n },
          (_, i) =>
            new Promise<void>((resolve) => {
              const s = net.connect(h.socketPath);
              s.on('error', () => resolve());
              s.on('close', () => resolve());
              s.on('connect', () => {
                s.write(shapes[(from + i) % shapes.length]!);
                // Half the clients vanish at once, half wait to be thrown out.
                if ((from + i) % 2 === 0) setTimeout(() => s.destroy(), 5);
                else setTimeout(() => s.destroy(), 1000);
              });
            }),
        ),
      );
    };
    for (let i = 0; i < 1000; i += 250) await batch(i, 250);
    const res = await fetchVia(h, HOST, { path: '/after-abuse' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ path: '/after-abuse' });
  });
});
