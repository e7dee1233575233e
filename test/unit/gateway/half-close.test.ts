import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTunnel, type Harness, startHarness, tlsOver, waitFor } from './helpers.js';

/** `printf … | nc`, socat and scripts send their request, then half-close; they still get the whole answer. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h.close());

describe('clients that half-close after their request', () => {
  it('plain HTTP: the whole response still arrives after the client sent FIN', async () => {
    const s = net.connect({ path: h.socketPath, allowHalfOpen: true });
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      s.on('data', (c: Buffer) => (buf += c.toString()));
      s.on('close', () => resolve(buf));
      s.end('GET http://other.example.test/download?bytes=300000 HTTP/1.1\r\nHost: other.example.test\r\n\r\n');
    });
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out.length - out.indexOf('\r\n\r\n') - 4).toBe(300_000);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'http://other.example.test/download?bytes=300000'));
    expect(ev.error).toBeUndefined();
    expect(ev.bytesDown).toBe(300_000);
  });

  it('inside CONNECT+TLS: the whole response still arrives after close_notify', async () => {
    const t = await connectTunnel(h.socketPath, 'other.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    t.socket.allowHalfOpen = true;
    const s = await tlsOver(t.socket, 'other.example.test', h.ca.certPem);
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      s.on('data', (c: Buffer) => (buf += c.toString()));
      s.on('close', () => resolve(buf));
      s.on('error', () => undefined);
      s.end('POST /upload HTTP/1.1\r\nHost: other.example.test\r\nContent-Length: 5\r\n\r\nhello');
    });
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"bytes":5\}\r\n0\r\n\r\n$/);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://other.example.test/upload' && e.bytesUp === 5));
    expect(ev.error).toBeUndefined();
  });
});
