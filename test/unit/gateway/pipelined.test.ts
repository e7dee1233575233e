/**
 * Pipelined requests (apt pipelines by default) with answers larger than the buffers on the way.
 *
 * A client's 'drain' can fire while undici parses another upstream answer (the pipelined responses share
 * the client's socket); resuming the paused upstream right there threw inside undici, which aborted that
 * other request and left the first paused for ever: the connection stalled after 16 KiB.
 *
 * attack: pipelined requests, then the client goes away: every upstream request is released and recorded,
 * the ones whose answers still waited behind the first too, and the gateway's close does not wait for any
 * (the stall above made an image build hang in the build gateway's close).
 */
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../../fakes/upstream.js';
import { connectTunnel, type Harness, startHarness, waitFor } from './helpers.js';

let fake: FakeUpstream;
let h: Harness;
const started: string[] = [];
const closed: string[] = [];

beforeAll(async () => {
  fake = await startFakeUpstream({
    routes: {
      // 64 MiB (or ?size=) as fast as the proxy takes it (backpressure respected): more than every buffer on the way.
      '/big': (req, res) => {
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        const name = q.get('n') ?? '?';
        const size = Number(q.get('size') ?? 64 * 1024 * 1024);
        started.push(name);
        req.socket.once('close', () => closed.push(name));
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        const pump = (): void => {
          while (sent < size && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      },
    },
  });
  h = await startHarness({}, fake);
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

async function tlsTo(): Promise<tls.TLSSocket> {
  const t = await connectTunnel(h.socketPath, 'api.example.test:443');
  if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
  const sock = tls.connect({ socket: t.socket, servername: 'api.example.test', ca: h.ca.certPem, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', resolve);
    sock.once('error', reject);
  });
  return sock;
}

describe('pipelined requests', () => {
  it('three pipelined requests with large answers all arrive, in full', async () => {
    const sock = await tlsTo();
    let got = 0;
    sock.on('data', (c: Buffer) => (got += c.length));
    const get = (n: number): string => `GET /big?n=${n}&size=${8 * 1024 * 1024} HTTP/1.1\r\nhost: api.example.test\r\n\r\n`;
    sock.write(get(10) + get(11) + get(12));
    await waitFor(() => (got >= 3 * 8 * 1024 * 1024 ? true : undefined), 20_000);
    sock.destroy();
    const events = await waitFor(() => {
      const evs = h.requestEvents().filter((e) => /n=1[012]&/.test(e.url));
      return evs.length === 3 ? evs : undefined;
    });
    for (const ev of events) expect([ev.status, ev.bytesDown, ev.error]).toEqual([200, 8 * 1024 * 1024, undefined]);
  }, 30_000);

  it('attack: a client that pipelines requests and goes away releases every upstream request, the waiting ones too', async () => {
    const sock = await tlsTo();
    sock.on('error', () => undefined);
    const mine = ['1', '2', '3'];
    // Three requests at once, and nothing read: the first answer fills the buffers, the others wait.
    sock.write(mine.map((n) => `GET /big?n=${n} HTTP/1.1\r\nhost: api.example.test\r\n\r\n`).join(''));
    await waitFor(() => (mine.filter((n) => started.includes(n)).length >= 2 ? true : undefined), 5000);
    // Let the upstream answers stall against the full buffers.
    await new Promise((r) => setTimeout(r, 300));
    sock.destroy();
    const began = mine.filter((n) => started.includes(n));
    await waitFor(() => (began.every((n) => closed.includes(n)) ? true : undefined), 5000);
    const events = await waitFor(() => {
      const evs = h.requestEvents().filter((e) => /\/big\?n=[123]$/.test(e.url));
      return evs.length >= began.length ? evs : undefined;
    }, 5000);
    for (const ev of events) expect(ev.error).toBe('client closed');
  });

  it('the gateway closes promptly after such a client (nothing upstream left waiting)', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
    const sock = tls.connect({ socket: t.socket, servername: 'api.example.test', ca: h.ca.certPem, ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve) => sock.once('secureConnect', resolve));
    sock.on('error', () => undefined);
    const before = started.length;
    sock.write(`GET /big?n=4 HTTP/1.1\r\nhost: api.example.test\r\n\r\nGET /big?n=5 HTTP/1.1\r\nhost: api.example.test\r\n\r\n`);
    await waitFor(() => (started.length >= before + 2 ? true : undefined), 5000);
    await new Promise((r) => setTimeout(r, 300));
    sock.destroy();
    const outcome = await Promise.race([
      h.proxy.close().then(() => 'closed'),
      new Promise<string>((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
    ]);
    expect(outcome).toBe('closed');
  });
});
