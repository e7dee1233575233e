/**
 * Failures in the middle of a proxied response, in both directions: an upstream that dies mid-body
 * must not look like a complete response to the client, and a client that goes away must release the
 * upstream request. Both are recorded on the request event.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../../fakes/upstream.js';
import { connectTunnel, type Harness, startHarness, tlsOver, waitFor } from './helpers.js';

let fake: FakeUpstream;
let h: Harness;
let upstreamClosed = 0;
/** Bytes the /flood route got written so far (it writes only while its socket takes more). */
let flooded = 0;

beforeAll(async () => {
  fake = await startFakeUpstream({
    routes: {
      // Promises 1000 bytes, sends 10, then the connection dies.
      '/truncated': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
        res.write('0123456789');
        setTimeout(() => res.socket?.destroy(), 50);
      },
      // Up to 1 GiB as fast as the proxy takes it, respecting backpressure.
      '/flood': (req, res) => {
        const chunk = Buffer.alloc(64 * 1024, 0x66);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = (): void => {
          while (flooded < 1024 * 1024 * 1024 && !res.destroyed) {
            flooded += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        req.socket.once('close', () => (upstreamClosed += 1));
        pump();
      },
      // An endless stream; counts how often the proxy let go of it.
      '/endless': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        const timer = setInterval(() => res.write('data: tick\n\n'), 20);
        req.socket.once('close', () => {
          clearInterval(timer);
          upstreamClosed += 1;
        });
      },
    },
  });
  h = await startHarness({}, fake);
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

async function open(path: string): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
  const t = await connectTunnel(h.socketPath, 'api.example.test:443');
  if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
  const sock = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => sock, path, headers: { host: 'api.example.test' } });
    req.once('response', (res) => resolve({ res, req }));
    req.once('error', reject);
    req.end();
  });
}

describe('mid-stream failures', () => {
  it('an upstream that dies mid-body aborts the client response instead of ending it', async () => {
    const { res } = await open('/truncated');
    expect(res.statusCode).toBe(200);
    const outcome = await new Promise<string>((resolve) => {
      let got = '';
      res.on('data', (c: Buffer) => (got += c.toString()));
      res.once('end', () => resolve(`ended after ${got.length} bytes`));
      res.once('aborted', () => resolve(`aborted after ${got.length} bytes`));
      res.once('error', () => resolve(`aborted after ${got.length} bytes`));
    });
    expect(outcome).toBe('aborted after 10 bytes');
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/truncated'));
    expect(ev.error).toBeDefined();
    expect(ev.bytesDown).toBe(10);
  });

  it('a client that goes away mid-stream releases the upstream request', async () => {
    const before = upstreamClosed;
    const { res, req } = await open('/endless');
    await new Promise((r) => res.once('data', r));
    req.destroy();
    await waitFor(() => (upstreamClosed > before ? true : undefined), 3000);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/endless'));
    expect(ev.error).toBe('client closed');
  });

  it('attack: a client that stops reading a huge answer pauses the upstream instead of the gateway buffering it', async () => {
    const before = upstreamClosed;
    const { res, req } = await open('/flood');
    expect(res.statusCode).toBe(200);
    res.pause();
    // Wait until the upstream is held back: its count stops growing between two looks.
    for (let last = -1, looks = 0; flooded === 0 || flooded !== last; looks += 1) {
      if (looks > 100) throw new Error(`the upstream was never held back (${flooded} bytes written)`);
      last = flooded;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Socket and TLS buffers on each hop hold a few MiB at most; without backpressure it would be 1 GiB.
    expect(flooded).toBeLessThan(64 * 1024 * 1024);
    req.destroy();
    await waitFor(() => (upstreamClosed > before ? true : undefined), 3000);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/flood'));
    expect(ev.error).toBe('client closed');
  });
});
