import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeUpstream, type FakeUpstream } from '../../fakes/upstream.js';
import { connectTunnel, type Harness, rawExchange, startHarness, tlsOver, waitFor } from './helpers.js';

/** Lock-step SSE: the origin sends its next event only once the client has received the one before. */
const SSE_EVENTS = 6;
const received: (() => void)[] = [];

let h: Harness;
let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({
    routes: {
      '/sse-lockstep': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const send = (i: number): void => {
          if (i === SSE_EVENTS) return void res.end();
          res.write(`data: event ${i}\n\n`);
          received.push(() => send(i + 1));
        };
        send(0);
      },
    },
  });
  h = await startHarness(
    {
      injections: [{ grant: 'openai', hosts: ['api.example.test'], set: { authorization: 'Bearer REAL-KEY' } }],
    },
    fake,
  );
});
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

/** A keep-alive-free HTTPS request through the proxy, returning the live response stream. */
async function open(
  host: string,
  path: string,
  init: { method?: string; body?: Readable; headers?: Record<string, string> } = {},
): Promise<http.IncomingMessage> {
  const t = await connectTunnel(h.socketPath, `${host}:443`);
  if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
  const sock = await tlsOver(t.socket, host, h.ca.certPem);
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => sock, method: init.method ?? 'GET', path, headers: { host, ...init.headers } });
    req.once('response', resolve);
    req.once('error', reject);
    if (init.body) init.body.pipe(req);
    else req.end();
  });
}

function peakRss(): { stop(): number } {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss) - base;
    },
  };
}

const MB = 1024 * 1024;

describe('streaming', () => {
  it('passes SSE event by event (the origin sends each event only after the client has the one before)', async () => {
    // A proxy that buffered the stream would never deliver the first event alone: this would hang.
    const res = await open('other.example.test', '/sse-lockstep');
    expect(res.headers['content-type']).toBe('text/event-stream');
    const events: string[] = [];
    let buf = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      buf += chunk.toString();
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        events.push(buf.slice(0, idx));
        buf = buf.slice(idx + 2);
        received.shift()?.();
      }
    }
    expect(events).toEqual(Array.from({ length: SSE_EVENTS }, (_, i) => `data: event ${i}`));
  });

  it('downloads 100 MB with bounded memory', async () => {
    const mem = peakRss();
    const res = await open('other.example.test', `/download?bytes=${100 * MB}`);
    let n = 0;
    for await (const c of res as AsyncIterable<Buffer>) n += c.length;
    const grew = mem.stop();
    console.log(`download rss growth ${(grew / MB).toFixed(1)} MB`);
    expect(n).toBe(100 * MB);
    expect(grew).toBeLessThan(80 * MB);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url.includes('/download')));
    expect(ev.bytesDown).toBe(100 * MB);
  });

  it('uploads 100 MB (chunked) with bounded memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let left = 100 * MB;
    const body = new Readable({
      read() {
        if (left <= 0) return void this.push(null);
        left -= chunk.length;
        this.push(chunk);
      },
    });
    const mem = peakRss();
    const res = await open('other.example.test', '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    let text = '';
    for await (const c of res as AsyncIterable<Buffer>) text += c.toString();
    const grew = mem.stop();
    console.log(`upload rss growth ${(grew / MB).toFixed(1)} MB`);
    expect(JSON.parse(text)).toEqual({ bytes: 100 * MB });
    expect(grew).toBeLessThan(80 * MB);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url.includes('/upload')));
    expect(ev.bytesUp).toBe(100 * MB);
  });

  it('tunnels a wss:// WebSocket echo and injects the credential on the upgrade', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const sock = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    const ws = new WebSocket('wss://api.example.test/v1/responses', { createConnection: () => sock, headers: { authorization: 'Bearer placeholder' } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echoed = await new Promise<string>((resolve) => {
      ws.once('message', (d: Buffer) => resolve(d.toString()));
      ws.send('hello through moat');
    });
    expect(echoed).toBe('hello through moat');
    ws.close();
    const up = h.fake.requests.find((r) => r.websocket && r.path === '/v1/responses');
    expect(up?.headers.authorization).toBe('Bearer REAL-KEY');
    await new Promise((r) => ws.once('close', r));
    const ev = await waitFor(() => h.requestEvents().find((e) => e.upgrade === 'websocket' && e.host === 'api.example.test'));
    expect(ev).toMatchObject({ status: 101, grant: 'openai', url: 'wss://api.example.test/v1/responses' });
  });

  it('tunnels a plain ws:// upgrade in absolute-form, without injection', async () => {
    const head =
      'GET ws://other.example.test/echo HTTP/1.1\r\nHost: other.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer mine\r\n\r\n';
    const out = await rawExchange(h.socketPath, head, 300);
    expect(out).toMatch(/^HTTP\/1\.1 101 /);
    const up = h.fake.requests.find((r) => r.websocket && r.path === '/echo');
    expect(up?.headers.authorization).toBe('Bearer mine');
    expect(up?.secure).toBe(false);
  });

  it('refuses an origin-form WebSocket upgrade outside a tunnel', async () => {
    const out = await rawExchange(h.socketPath, 'GET /echo HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 300);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
  });
});
