/**
 * `npm run bench:proxy`: direct vs through the moat gateway proxy, against a local HTTPS upstream.
 * The fake upstream and the proxy each run in their own process (as the daemon would); this process is
 * the client. Prints numbers only — no assertions, no targets enforced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const HOST = 'api.example.test';
const MB = 1024 * 1024;
const role = process.argv[2];

if (role === 'upstream') {
  const { startFakeUpstream } = await import('../test/fakes/upstream.js');
  const fake = await startFakeUpstream();
  process.send?.({ port: fake.httpsPort, ca: fake.ca.certPem });
} else if (role === 'proxy') {
  const { createCA } = await import('../src/gateway/ca.js');
  const { createProxy } = await import('../src/gateway/proxy.js');
  const cfg = JSON.parse(process.env.MOAT_BENCH_PROXY ?? '{}') as { port: number; ca: string; socket: string };
  const ca = await createCA('Moat Bench CA');
  const proxy = createProxy({
    ca,
    upstreamOverride: new Map([[HOST, { host: '127.0.0.1', port: cfg.port }]]),
    upstreamOverrideCA: cfg.ca,
    injections: [{ grant: 'bench', hosts: [HOST], set: { authorization: 'Bearer bench-secret' } }],
  });
  await proxy.listen(cfg.socket);
  process.on('message', () => process.send?.({ rss: process.memoryUsage().rss }));
  process.send?.({ ca: ca.certPem });
} else {
  await main();
}

function spawnRole(name: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; msg: Record<string, unknown> }> {
  const child = fork(fileURLToPath(import.meta.url), [name], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (msg) => resolve({ child, msg: msg as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** CONNECT through the proxy's unix socket, then TLS to HOST trusting the proxy CA. */
function tunnelConnect(socketPath: string, ca: string): (opts: unknown, cb: (err: Error | null, sock: net.Socket | null) => void) => void {
  return (_opts, cb) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: `${HOST}:443`, headers: { host: `${HOST}:443` }, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) return cb(new Error(`CONNECT ${res.statusCode}`), null);
      const s = tls.connect({ socket, servername: HOST, ca, ALPNProtocols: ['http/1.1'] });
      s.once('secureConnect', () => cb(null, s));
      s.once('error', (e) => cb(e, null));
    });
    req.once('error', (e) => cb(e, null));
    req.end();
  };
}

function directConnect(port: number, ca: string): (opts: unknown, cb: (err: Error | null, sock: net.Socket | null) => void) => void {
  return (_opts, cb) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: HOST, ca, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => cb(null, s));
    s.once('error', (e) => cb(e, null));
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function load(pool: Pool, concurrency: number, total: number): Promise<{ rps: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        const res = await pool.request({ path: '/small', method: 'GET', headers: { host: HOST } });
        await res.body.dump();
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: total / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function firstSse(pool: Pool, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    // Read to the end (breaking out would drop the keep-alive connection); time the first event.
    const t0 = performance.now();
    const res = await pool.request({ path: '/sse?n=2&interval=0', method: 'GET', headers: { host: HOST } });
    let first = 0;
    for await (const chunk of res.body) {
      if (first === 0 && String(chunk).includes('\n\n')) first = performance.now() - t0;
    }
    times.push(first);
  }
  times.sort((a, b) => a - b);
  return pct(times, 50);
}

async function throughput(pool: Pool, bytes: number): Promise<{ down: number; up: number }> {
  let t0 = performance.now();
  const res = await pool.request({ path: `/download?bytes=${bytes}`, method: 'GET', headers: { host: HOST } });
  let n = 0;
  for await (const c of res.body) n += (c as Buffer).length;
  const down = n / MB / ((performance.now() - t0) / 1000);
  const chunk = Buffer.alloc(256 * 1024, 0x62);
  async function* body(): AsyncGenerator<Buffer> {
    for (let left = bytes; left > 0; left -= chunk.length) yield chunk;
  }
  t0 = performance.now();
  const up = await pool.request({ path: '/upload', method: 'POST', headers: { host: HOST, 'content-length': String(bytes) }, body: Readable.from(body()) });
  await up.body.text();
  return { down, up: bytes / MB / ((performance.now() - t0) / 1000) };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-bench-'));
  const socket = join(dir, 'proxy.sock');
  const upstream = await spawnRole('upstream');
  const port = upstream.msg.port as number;
  const upstreamCA = upstream.msg.ca as string;
  const proxy = await spawnRole('proxy', { MOAT_BENCH_PROXY: JSON.stringify({ port, ca: upstreamCA, socket }) });
  const proxyCA = proxy.msg.ca as string;
  const rssOf = (): Promise<number> =>
    new Promise((resolve) => {
      proxy.child.once('message', (m) => resolve((m as { rss: number }).rss));
      proxy.child.send('rss');
    });
  const rssStart = await rssOf();

  const mk = (connect: ReturnType<typeof directConnect>, connections: number): Pool =>
    new Pool(`https://${HOST}`, { connections, connect: connect as never, keepAliveTimeout: 30_000, pipelining: 1 });
  const targets = { direct: (c: number) => mk(directConnect(port, upstreamCA), c), proxy: (c: number) => mk(tunnelConnect(socket, proxyCA), c) };

  const rows: string[] = [];
  const results: Record<string, { rps: number; p50: number; p99: number }> = {};
  for (const concurrency of [1, 16]) {
    for (const [name, make] of Object.entries(targets)) {
      const pool = make(concurrency);
      await load(pool, concurrency, 200); // warm-up: connections, leaf cert, JIT
      const total = concurrency === 1 ? 2000 : 10000;
      const r = await load(pool, concurrency, total);
      results[`${name}-${concurrency}`] = r;
      rows.push(`${name.padEnd(6)} c=${String(concurrency).padEnd(2)} n=${String(total).padEnd(5)}  ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms`);
      await pool.close();
    }
  }
  const sse: Record<string, number> = {};
  const tp: Record<string, { down: number; up: number }> = {};
  for (const [name, make] of Object.entries(targets)) {
    const pool = make(1);
    await firstSse(pool, 5);
    sse[name] = await firstSse(pool, 50);
    tp[name] = await throughput(pool, 100 * MB);
    await pool.close();
  }
  const rssEnd = await rssOf();

  console.log('moat gateway proxy bench (keep-alive, HTTP/1.1, loopback; upstream, proxy and client in separate processes)');
  for (const r of rows) console.log(r);
  for (const c of [1, 16]) {
    const d = results[`direct-${c}`]!;
    const p = results[`proxy-${c}`]!;
    console.log(`added latency c=${c}: p50 +${(p.p50 - d.p50).toFixed(3)} ms, p99 +${(p.p99 - d.p99).toFixed(3)} ms`);
  }
  console.log(`first SSE event (p50 of 50): direct ${sse.direct!.toFixed(3)} ms, proxy ${sse.proxy!.toFixed(3)} ms, added ${(sse.proxy! - sse.direct!).toFixed(3)} ms`);
  for (const name of Object.keys(tp)) console.log(`100 MB ${name.padEnd(6)}: download ${tp[name]!.down.toFixed(0)} MB/s, upload ${tp[name]!.up.toFixed(0)} MB/s`);
  console.log(`proxy process RSS: start ${(rssStart / MB).toFixed(1)} MB, end ${(rssEnd / MB).toFixed(1)} MB`);

  upstream.child.kill();
  proxy.child.kill();
  await rm(dir, { recursive: true, force: true });
}
