/**
 * `npm run bench:routing`: requests per second and latency of a small GET straight to a local HTTP server
 * against the same server behind moat's routing proxy (Host-header routing, the run's unix-socket tunnel
 * and a relay that does what moat-init's does: idle connections, one go-byte, then a TCP connection to
 * the service). The container and its perl relay are left out: this is the router's own cost. Prints
 * numbers only.
 */
import 'reflect-metadata';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { createRoutingCA } from '../src/gateway/routing-ca.js';
import { Router } from '../src/daemon/router.js';
import type { RunMetadata } from '../src/store/types.js';
import { load } from './lib/gateway.js';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 6000);
const CONCURRENCY = 16;

async function listen(server: net.Server, where: number | string): Promise<void> {
  await new Promise<void>((r) => (typeof where === 'string' ? server.listen(where, () => r()) : server.listen(where, '127.0.0.1', () => r())));
}

/** What moat-init's relay does, in-process: keep `idle` connections to the tunnel; on its byte, connect and pipe. */
function relay(socketPath: string, port: number, idle = 4): () => void {
  let stopped = false;
  let open = 0;
  (globalThis as { made?: number }).made = 0;
  let made = 0;
  setInterval(() => {
    (globalThis as { made?: number }).made = made;
  }, 100).unref();
  const one = (): void => {
    if (stopped) return;
    open++;
    made++;
    const up = net.connect(socketPath);
    up.once('error', () => undefined);
    up.once('close', () => {
      open--;
      setTimeout(fill, 50);
    });
    up.once('data', (b: Buffer) => {
      open--;
      fill();
      up.removeAllListeners('close');
      const svc = net.connect(port, '127.0.0.1', () => {
        if (b.length > 1) svc.write(b.subarray(1));
        up.pipe(svc);
        svc.pipe(up);
      });
      svc.setNoDelay(true);
      svc.on('error', () => up.destroy());
      up.on('error', () => svc.destroy());
    });
  };
  const fill = (): void => {
    while (!stopped && open < idle) one();
  };
  fill();
  return () => {
    stopped = true;
  };
}

const run = (pool: Pool, host: string, concurrency = CONCURRENCY, total = TOTAL): ReturnType<typeof load> => load(pool, concurrency, total, host);

async function main(): Promise<void> {
  const body = Buffer.alloc(512, 0x61);
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await listen(upstream, 0);
  const upPort = (upstream.address() as net.AddressInfo).port;
  const probe = net.createServer();
  await listen(probe, 0);
  const routerPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));

  const dir = await mkdtemp(join(tmpdir(), 'moat-bench-routing-'));
  const ca = await createRoutingCA();
  const router = new Router({
    port: () => Promise.resolve(routerPort),
    ca: () => Promise.resolve(ca),
    stopped: () => Promise.resolve(false),
    log: () => undefined,
  });
  const meta = { id: 'run_000000000000', name: 'bench', ports: { web: upPort } } as unknown as RunMetadata;
  const route = await router.add(meta, dir);
  const stopRelay = relay(join(dir, 'net', `in-${upPort}.sock`), upPort, 8);
  for (let i = 0; i < 100; i++) {
    if (
      await new Promise<boolean>((r) => {
        const s = net.connect(routerPort, '127.0.0.1', () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      })
    )
      break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const direct = new Pool(`http://127.0.0.1:${upPort}`, { connections: CONCURRENCY, pipelining: 1 });
  const routed = new Pool(`http://127.0.0.1:${routerPort}`, { connections: CONCURRENCY, pipelining: 1 });
  await run(direct, `127.0.0.1:${upPort}`); // warm-up
  await run(routed, `web.bench.localhost:${routerPort}`);
  const d = await run(direct, `127.0.0.1:${upPort}`);
  const r = await run(routed, `web.bench.localhost:${routerPort}`);
  const d1 = await run(direct, `127.0.0.1:${upPort}`, 1, 500);
  const r1 = await run(routed, `web.bench.localhost:${routerPort}`, 1, 500);
  const fmt = (x: { rps: number; p50: number; p99: number }): string =>
    `${x.rps.toFixed(0).padStart(6)} req/s   p50 ${x.p50.toFixed(2)} ms   p99 ${x.p99.toFixed(2)} ms`;
  process.stdout.write(`routing: ${TOTAL} GETs (512 B) at concurrency ${CONCURRENCY}, keep-alive\n`);
  process.stdout.write(`  direct         ${fmt(d)}\n`);
  process.stdout.write(`  through router ${fmt(r)}\n`);
  process.stdout.write(`one at a time (500 GETs)\n  direct         ${fmt(d1)}\n  through router ${fmt(r1)}\n`);
  process.stdout.write(`  tunnel connections ${String((globalThis as { made?: number }).made)}\n`);
  process.stdout.write(`  added latency  p50 +${(r.p50 - d.p50).toFixed(2)} ms   p99 +${(r.p99 - d.p99).toFixed(2)} ms\n`);

  await direct.close();
  await routed.close();
  stopRelay();
  await route.close();
  upstream.close();
  await rm(dir, { recursive: true, force: true });
}

await main();
