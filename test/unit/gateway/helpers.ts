import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { type CA, createCA } from '../../../src/gateway/ca.js';
import type { GatewayEvent, RequestEvent } from '../../../src/gateway/events.js';
import { createProxy, type GatewayProxy, type ProxyOptions } from '../../../src/gateway/proxy.js';
import { type FakeUpstream, startFakeUpstream } from '../../fakes/upstream.js';

export interface Harness {
  dir: string;
  socketPath: string;
  ca: CA;
  fake: FakeUpstream;
  proxy: GatewayProxy;
  server: net.Server;
  events: GatewayEvent[];
  requestEvents(): RequestEvent[];
  close(): Promise<void>;
}

let sharedCA: Promise<CA> | undefined;
/** One proxy CA per test file (generation is cheap, but tests need not repeat it). */
export function testCA(): Promise<CA> {
  sharedCA ??= createCA('Moat Test Proxy CA');
  return sharedCA;
}

/** Fake hosts all dial the fake upstream on loopback through the proxy's test-only override. */
export const HOSTS = ['api.example.test', 'other.example.test', 'blocked.example.test', 'paths.example.test'];

export async function startHarness(opts: Partial<Omit<ProxyOptions, 'ca'>> = {}, fake?: FakeUpstream): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-gw-'));
  const ca = await testCA();
  const upstream = fake ?? (await startFakeUpstream());
  const override = new Map<string, { host: string; port: number }>();
  for (const h of HOSTS) {
    override.set(`${h}:443`, { host: '127.0.0.1', port: upstream.httpsPort });
    override.set(`${h}:80`, { host: '127.0.0.1', port: upstream.httpPort });
  }
  const events: GatewayEvent[] = [];
  const proxy = createProxy({
    ca,
    upstreamOverride: override,
    upstreamOverrideCA: upstream.ca.certPem,
    onEvent: (ev) => events.push(ev),
    ...opts,
  });
  const socketPath = join(dir, 'proxy.sock');
  const server = await proxy.listen(socketPath);
  return {
    dir,
    socketPath,
    ca,
    fake: upstream,
    proxy,
    server,
    events,
    requestEvents: () => events.filter((e): e is RequestEvent => e.type === 'request'),
    async close() {
      await proxy.close();
      await new Promise((r) => server.close(r));
      if (!fake) await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Send CONNECT over the unix socket. 200 -> the tunnel socket; otherwise the full refusal. */
export function connectTunnel(socketPath: string, authority: string): Promise<{ socket: net.Socket } | { refused: RawResponse }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: authority, headers: { host: authority }, agent: false });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve({ socket });
        return;
      }
      const chunks: Buffer[] = [head];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ refused: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() } }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** TLS to `host` through an established tunnel, trusting the proxy's CA. */
export function tlsOver(socket: net.Socket, servername: string, ca: string, rejectUnauthorized = true): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket, servername, ca, ALPNProtocols: ['http/1.1'], rejectUnauthorized });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

export interface FetchOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  servername?: string;
  /** CONNECT authority; defaults to `${host}:443`. */
  authority?: string;
}

/** An HTTPS request to `host` through the proxy (CONNECT + TLS + HTTP/1.1). */
export async function fetchVia(h: Harness, host: string, o: FetchOptions = {}): Promise<RawResponse> {
  const t = await connectTunnel(h.socketPath, o.authority ?? `${host}:443`);
  if ('refused' in t) return t.refused;
  const sock = await tlsOver(t.socket, o.servername ?? host, h.ca.certPem, o.servername === undefined);
  return requestOn(sock, { host, ...o });
}

export function requestOn(sock: net.Socket, o: FetchOptions & { host: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => sock,
      method: o.method ?? 'GET',
      path: o.path ?? '/',
      headers: { host: o.host, ...o.headers },
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
        sock.destroy();
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(o.body);
  });
}

/** Write raw bytes to the proxy and collect everything until it closes (or `ms` passes). */
export function rawExchange(socketPath: string, data: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(socketPath);
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    s.write(data);
  });
}

/** Poll until `fn` returns a value (events are emitted when the response stream closes). */
export async function waitFor<T>(fn: () => T | undefined, ms = 2000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('waitFor timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One plain HTTP request with Node's client (options as for http.request); the whole body as text. */
export function httpRequest(opts: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts);
    req.on('response', (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
