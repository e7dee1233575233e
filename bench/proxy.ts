/**
 * `npm run bench:proxy`: direct vs through the moat gateway proxy, against a local HTTPS upstream.
 * The fake upstream and the proxy each run in their own process (as the daemon would); this process is
 * the client. Then (unless `--no-inside`) the same load client from inside a real moat run, beside direct,
 * the bare gateway and mitmproxy, back to back (./lib/inside.ts; needs a Docker engine and `npm run build`).
 * `--inside` runs only that comparison. Prints numbers only — no assertions, no targets enforced.
 */
import { Readable } from 'node:stream';
import type { Pool } from 'undici';
import { BENCH_HOST as HOST, MB, load, pct, startGatewayBench, type GatewayBench } from './lib/gateway.js';
import { startMitm } from './lib/mitm.js';
import { compareInside } from './lib/inside.js';

const onlyInside = process.argv.includes('--inside');
const noInside = process.argv.includes('--no-inside');

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
  const bench = await startGatewayBench();
  try {
    if (!onlyInside) await run(bench);
    if (!noInside) {
      const mitm = await startMitm(bench.upstreamPort);
      try {
        await compareInside(bench, mitm);
      } finally {
        await mitm?.stop();
      }
    }
  } finally {
    await bench.stop();
  }
}

async function run(bench: GatewayBench): Promise<void> {
  const rssStart = await bench.proxyRss();
  const targets = { direct: (c: number) => bench.direct(c), proxy: (c: number) => bench.proxied(c) };

  const rows: string[] = [];
  const results: Record<string, { rps: number; p50: number; p99: number }> = {};
  // The proxy's own CPU per request (user+sys): steadier than req/s on a shared machine.
  const cpuPerReq: Record<string, number> = {};
  for (const concurrency of [1, 16]) {
    for (const [name, make] of Object.entries(targets)) {
      const pool = make(concurrency);
      await load(pool, concurrency, 200); // warm-up: connections, leaf cert, JIT
      const total = concurrency === 1 ? 2000 : 10000;
      const cpu0 = name === 'proxy' ? await bench.proxyCpu() : 0;
      const r = await load(pool, concurrency, total);
      if (name === 'proxy') cpuPerReq[concurrency] = ((await bench.proxyCpu()) - cpu0) / total;
      results[`${name}-${concurrency}`] = r;
      rows.push(
        `${name.padEnd(6)} c=${String(concurrency).padEnd(2)} n=${String(total).padEnd(5)}  ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms` +
          (name === 'proxy' ? `  proxy CPU ${cpuPerReq[concurrency]!.toFixed(0)} µs/req` : ''),
      );
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
  const rssEnd = await bench.proxyRss();

  console.log('moat gateway proxy bench (keep-alive, HTTP/1.1, loopback; upstream, proxy and client in separate processes)');
  for (const r of rows) console.log(r);
  for (const c of [1, 16]) {
    const d = results[`direct-${c}`]!;
    const p = results[`proxy-${c}`]!;
    console.log(`added latency c=${c}: p50 +${(p.p50 - d.p50).toFixed(3)} ms, p99 +${(p.p99 - d.p99).toFixed(3)} ms`);
  }
  console.log(
    `first SSE event (p50 of 50): direct ${sse.direct!.toFixed(3)} ms, proxy ${sse.proxy!.toFixed(3)} ms, added ${(sse.proxy! - sse.direct!).toFixed(3)} ms`,
  );
  for (const name of Object.keys(tp))
    console.log(`100 MB ${name.padEnd(6)}: download ${tp[name]!.down.toFixed(0)} MB/s, upload ${tp[name]!.up.toFixed(0)} MB/s`);
  console.log(`proxy process RSS: start ${(rssStart / MB).toFixed(1)} MB, end ${(rssEnd / MB).toFixed(1)} MB`);

  const mitm = await startMitm(bench.upstreamPort);
  if (!mitm) {
    console.log('mitmproxy: not installed (apt-get install mitmproxy to compare)');
    return;
  }
  try {
    for (const c of [1, 16]) {
      const pool = mitm.pool(c);
      await load(pool, c, 200);
      const total = c === 1 ? 1000 : 4000;
      const r = await load(pool, c, total);
      await pool.close();
      const moat = results[`proxy-${c}`]!;
      console.log(
        `mitmproxy ${mitm.version} c=${c} n=${total}  ${r.rps.toFixed(0)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  (moat/mitmproxy: ${(moat.rps / r.rps).toFixed(1)}x)`,
      );
    }
  } finally {
    await mitm.stop();
  }
}

await main();
