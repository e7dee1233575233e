/**
 * `npm run bench:memory`: the daemon's resident memory (RSS, from /proc) with no run, with 10 live idle
 * runs (`sleep`), and while 100,000 requests (default; BENCH_REQUESTS) go through one run's gateway from
 * inside it (sampled every tenth, so growth shows), then after that run ended. Uses the same throwaway
 * home, fake upstream and in-run load client as `bench:proxy --inside` (./lib/inside.ts). Needs a Docker
 * engine and `npm run build`. Prints numbers only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayBench } from './lib/gateway.js';
import { prepareInside, type Phase } from './lib/inside.js';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 100_000);
const STEPS = 10;
const LIVE = Number(process.env.BENCH_LIVE_RUNS ?? 10);
const CONCURRENCY = 16;

const mb = (n: number | undefined): string => (n === undefined ? '?' : `${(n / 1024 / 1024).toFixed(1)} MB`);
const load = async (): Promise<string> => (await import('node:fs/promises')).readFile('/proc/loadavg', 'utf8').then((t) => t.split(' ').slice(0, 3).join(' '));

async function main(): Promise<void> {
  const bench = await startGatewayBench();
  // The daemon must not leave between the phases (its idle exit would reset the figures).
  const inside = await prepareInside(bench.upstreamPort, bench.upstreamCa, { MOAT_DAEMON_IDLE_MS: '600000' });
  try {
    process.stderr.write("preparing the run (the first time builds an image with Debian's Node)…\n");
    await inside.run([{ concurrency: 1, warmup: 0, total: 10 }], 0);
    await sleep(1000);
    console.log(`daemon RSS, no live run:            ${mb(await inside.daemonRss())}   (load ${await load()})`);

    const names: string[] = [];
    for (let i = 0; i < LIVE; i++) {
      const r = inside.moat(['run', '-d', '--approve-config', '--', 'sleep', '600']);
      if (r.status !== 0) throw new Error(`a detached run failed: ${r.stderr.slice(-2000)}`);
      const name = /Started run (\S+)/.exec(r.stdout)?.[1]; // no colours: stdout is a pipe
      if (name) names.push(name);
    }
    await sleep(2000);
    console.log(`daemon RSS, ${String(LIVE).padStart(2)} live runs (sleep): ${mb(await inside.daemonRss())}   (load ${await load()})`);
    for (const n of names) inside.moat(['stop', '-t', '0', n]);
    await sleep(2000);
    console.log(`daemon RSS, after they stopped:     ${mb(await inside.daemonRss())}`);

    const per = Math.round(TOTAL / STEPS);
    const phases: Phase[] = Array.from({ length: STEPS }, () => ({ concurrency: CONCURRENCY, warmup: 0, total: per }));
    const samples: number[] = [];
    const t0 = performance.now();
    const result = await inside.runWithProgress(phases, async (n) => {
      const rss = await inside.daemonRss();
      if (rss !== undefined) samples.push(rss);
      console.log(`daemon RSS after ${String(n * per).padStart(7)} requests (c=${CONCURRENCY}): ${mb(rss)}`);
    });
    const secs = (performance.now() - t0) / 1000;
    await sleep(2000);
    const after = await inside.daemonRss();
    const rps = result.load.map((l) => l.rps.toFixed(0)).join(', ');
    console.log(`daemon RSS, the run ended:          ${mb(after)}   (${TOTAL} requests in ${secs.toFixed(0)} s; req/s per step ${rps}; load ${await load()})`);
    if (samples.length >= 2) {
      const first = samples[0]!;
      const last = samples[samples.length - 1]!;
      console.log(`growth from the first to the last sample: ${mb(last - first)} over ${TOTAL - per} requests`);
    }
  } finally {
    await inside.stop();
    await bench.stop();
  }
}

await main();
