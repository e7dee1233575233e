/**
 * The load client (./load-client.mjs) run four ways against the same local upstream, so that the figures
 * differ only by the path: straight from the host, straight from a container of the run's image (host
 * network: the inside client's Node without moat), from the host through a bare gateway's unix socket, and
 * from inside a real moat run (moat-init's relay, the unix socket, the daemon's gateway with its trace and
 * audit on). The inside run uses a throwaway MOAT_HOME and the test-only upstream override (MOAT_TESTING=1),
 * so its requests to api.example.test reach the bench upstream on loopback and nothing else.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_HOST } from './gateway.js';

/** The gateway's socket as a run sees it (moat-init's relay dials it). */
const CONTAINER_SOCKET = '/moat/net/proxy.sock';
const CLIENT = fileURLToPath(new URL('./load-client.mjs', import.meta.url));
const MOAT = fileURLToPath(new URL('../../bin/moat', import.meta.url));

export interface Phase {
  concurrency: number;
  warmup: number;
  total: number;
}
export interface ClientResult {
  node: string;
  load: Array<{ concurrency: number; total: number; rps: number; p50: number; p99: number }>;
  sse?: number;
}

interface ClientOptions {
  target?: string;
  proxy?: string;
  authority?: string;
  ca: string;
  phases: Phase[];
  sse: number;
}

function parseResult(stdout: string, what: string): ClientResult {
  const line = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`${what}: the load client printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(line) as ClientResult;
}

/** The load client on the host (this Node), straight to the upstream or through a proxy. */
export async function runOnHost(o: ClientOptions, what: string): Promise<ClientResult> {
  const args = JSON.stringify({ ...o, host: BENCH_HOST });
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`${what}: the load client exited ${code}`))));
  });
  return parseResult(out, what);
}

export interface InsideRun {
  /** The load client inside a moat run, through its relay and the daemon's gateway. */
  /**
   * `proxy` (default the relay, `tcp:127.0.0.1:43128`): `unix:/moat/net/proxy.sock` skips moat-init's relay
   * and speaks to the gateway's socket straight, to tell the relay's hop from the rest of the path.
   */
  run(phases: Phase[], sse: number, proxy?: string): Promise<ClientResult>;
  /** The same run, its output read as it comes: `onProgress(n)` after the client's n-th phase (bench:memory). */
  runWithProgress(phases: Phase[], onProgress: (n: number) => Promise<void>): Promise<ClientResult>;
  /**
   * The same load client in a throwaway container of the run's image (its Node, its libraries), with the
   * host's network so that it reaches the loopback upstream straight: the inside run's client minus moat.
   */
  runInImage(o: Omit<ClientOptions, 'ca'> & { caPem: string }): Promise<ClientResult>;
  /** The moat CLI in this home and workspace. */
  moat(args: string[]): { status: number | null; stdout: string; stderr: string };
  /** Resident set size of the home's daemon, in bytes (undefined when it is not running). */
  daemonRss(): Promise<number | undefined>;
  /** CPU time (user+sys, µs) the home's daemon has used so far (undefined when it is not running). */
  daemonCpu(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * A throwaway home and workspace whose runs send api.example.test to the bench upstream. The first run
 * builds the workspace's image (Debian's Node, `apt:nodejs`) once; later runs reuse it.
 */
export async function prepareInside(upstreamPort: number, upstreamCa: string, extraEnv: Record<string, string> = {}): Promise<InsideRun> {
  const home = await mkdtemp(join(tmpdir(), 'moat-bench-home-'));
  const ws = await mkdtemp(join(tmpdir(), 'moat-bench-inside-'));
  await copyFile(CLIENT, join(ws, 'load-client.mjs'));
  await writeFile(join(ws, 'moat.yaml'), 'dependencies: [apt:nodejs]\n');
  const env = {
    ...process.env,
    MOAT_HOME: home,
    MOAT_TESTING: '1',
    MOAT_TEST_UPSTREAMS: `${BENCH_HOST}=127.0.0.1:${upstreamPort}`,
    MOAT_TEST_UPSTREAM_CA: upstreamCa,
    ...extraEnv,
  };
  const moat = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(MOAT, args, { env, cwd: ws, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const daemonPid = (): number | undefined => (JSON.parse(moat(['proxy', 'status', '--json']).stdout || '{}') as { pid?: number }).pid;
  return {
    async run(phases, sse, proxy = 'tcp:127.0.0.1:43128') {
      const opts = JSON.stringify({ proxy, ca: '/moat/ca/ca.pem', host: BENCH_HOST, phases, sse });
      const r = moat(['run', '--approve-config', '--allow-host', BENCH_HOST, '--', 'node', 'load-client.mjs', opts]);
      if (r.status !== 0) throw new Error(`the inside run failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
      return parseResult(r.stdout, 'inside');
    },
    async runWithProgress(phases, onProgress) {
      const opts = JSON.stringify({ proxy: 'tcp:127.0.0.1:43128', ca: '/moat/ca/ca.pem', host: BENCH_HOST, phases, sse: 0, progress: true });
      const child = spawn(MOAT, ['run', '--approve-config', '--allow-host', BENCH_HOST, '--', 'node', 'load-client.mjs', opts], {
        env,
        cwd: ws,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let pending = '';
      let sampling = Promise.resolve();
      child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-3000)));
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        pending += c.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) {
          const n = /^progress (\d+)/.exec(l.trim())?.[1];
          if (n) sampling = sampling.then(() => onProgress(Number(n)));
        }
      });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', resolve);
      });
      await sampling;
      if (code !== 0) throw new Error(`the inside run failed (exit ${code}):\n${err}`);
      return parseResult(out, 'inside');
    },
    async runInImage(o) {
      // The image the runs use, as `--dry-run` reports it ("reuse moat-image:…" once a run has built it).
      const plan = moat(['run', '--dry-run', '--approve-config', '--allow-host', BENCH_HOST, '--', 'node']);
      const image = /moat-image:[0-9a-f]+/.exec(plan.stdout)?.[0];
      if (!image) throw new Error(`image baseline: no image in the dry run's plan:\n${plan.stdout}${plan.stderr}`);
      await writeFile(join(ws, 'bench-ca.pem'), o.caPem);
      const args = JSON.stringify({
        target: o.target,
        proxy: o.proxy,
        authority: o.authority,
        phases: o.phases,
        sse: o.sse,
        ca: '/bench/bench-ca.pem',
        host: BENCH_HOST,
      });
      const name = `moat-bench-direct-${process.pid}-${Date.now()}`;
      const r = spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--name',
          name,
          '--network',
          'host',
          ...imageRuntime(),
          '--user',
          `${process.getuid?.() ?? 1000}:${process.getgid?.() ?? 1000}`,
          '--entrypoint',
          'node',
          '-v',
          `${ws}:/bench:ro`,
          '-w',
          '/bench',
          image,
          'load-client.mjs',
          args,
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      if (r.status !== 0) {
        spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
        throw new Error(`image baseline: the container failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
      }
      return parseResult(r.stdout, 'direct from the run image');
    },
    moat,
    async daemonRss() {
      const pid = daemonPid();
      if (!pid) return undefined;
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return kb ? Number(kb) * 1024 : undefined;
    },
    async daemonCpu() {
      const pid = daemonPid();
      if (!pid) return undefined;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const f = stat.split(') ')[1]?.split(' ');
      // utime and stime, in clock ticks (100 Hz), to µs.
      return f ? (Number(f[11]) + Number(f[12])) * 10_000 : undefined;
    },
    async stop() {
      moat(['proxy', 'stop']);
      moat(['clean', '-y']);
      await rm(home, { recursive: true, force: true });
      await rm(ws, { recursive: true, force: true });
    },
  };
}

/** The image baseline's runtime: the one the inside run gets (runsc unless MOAT_SANDBOX=runc or none registered). */
function imageRuntime(): string[] {
  if (process.env.MOAT_SANDBOX === 'runc') return [];
  const info = spawnSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8' });
  return /"runsc"/.test(info.stdout ?? '') ? ['--runtime', 'runsc'] : [];
}

const PHASES: Phase[] = [
  { concurrency: 1, warmup: 200, total: 2000 },
  { concurrency: 16, warmup: 400, total: 10000 },
];

/**
 * One load client, five paths, back to back: direct from the host, direct from a container of the run's
 * image (the inside client's Node, host network), the bare gateway, inside a moat run (three times: as before,
 * again with the daemon warm, and warm without moat-init's relay), and mitmproxy when
 * given. Prints req/s and p50/p99 per concurrency, the p50 each path adds to direct, the first SSE
 * event, the inside/mitmproxy ratio, and the daemon's RSS before and after the inside load.
 */
export async function compareInside(
  bench: { upstreamPort: number; upstreamCa: string; socket: string; proxyCa: string; proxyCpu(): Promise<number> },
  mitm: { version: string; port: number; ca: string; authority: string } | undefined,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-bench-ca-'));
  const inside = await prepareInside(bench.upstreamPort, bench.upstreamCa);
  try {
    const upstreamCa = join(dir, 'upstream.pem');
    const proxyCa = join(dir, 'proxy.pem');
    await writeFile(upstreamCa, bench.upstreamCa);
    await writeFile(proxyCa, bench.proxyCa);
    console.log('\nthe same load client (bench/lib/load-client.mjs) on five paths, back to back (the inside run three times):');
    process.stderr.write("inside: preparing the run (the first time builds an image with Debian's Node)…\n");
    await inside.run([{ concurrency: 1, warmup: 0, total: 10 }], 0);
    const rssBefore = await inside.daemonRss();
    const results: Array<[string, ClientResult]> = [];
    const direct = await runOnHost({ target: `127.0.0.1:${bench.upstreamPort}`, ca: upstreamCa, phases: PHASES, sse: 50 }, 'direct');
    results.push(['direct', direct]);
    const inImage = await inside.runInImage({ target: `127.0.0.1:${bench.upstreamPort}`, caPem: bench.upstreamCa, phases: PHASES, sse: 50 });
    results.push(['direct (image)', inImage]);
    const bareCpu0 = await bench.proxyCpu();
    results.push(['bare gateway', await runOnHost({ proxy: `unix:${bench.socket}`, ca: proxyCa, phases: PHASES, sse: 50 }, 'bare')]);
    const bareCpu = (await bench.proxyCpu()) - bareCpu0;
    const daemonCpu0 = await inside.daemonCpu();
    const inRun = await inside.run(PHASES, 50);
    results.push(['inside a run', inRun]);
    const daemonCpu1 = await inside.daemonCpu();
    const rssAfter = await inside.daemonRss();
    // The same run again: the daemon has now served the first one's 12,655 requests, so V8 has compiled
    // its hot paths (the run before began 210 requests after the daemon started: its c=1 phase is partly
    // the daemon's warm-up). A home's daemon lives across runs, so this is its steady state.
    const warm = await inside.run(PHASES, 50);
    results.push(['inside (warm)', warm]);
    // Once more, the client on the gateway's unix socket itself: warm minus this is the relay's hop.
    const noRelay = await inside.run(PHASES, 50, `unix:${CONTAINER_SOCKET}`);
    results.push(['inside, no relay', noRelay]);
    let m: ClientResult | undefined;
    if (mitm) {
      const mitmCa = join(dir, 'mitm.pem');
      await writeFile(mitmCa, mitm.ca);
      const mitmPhases = PHASES.map((p) => ({ ...p, total: Math.round(p.total / 3) }));
      m = await runOnHost({ proxy: `tcp:127.0.0.1:${mitm.port}`, authority: mitm.authority, ca: mitmCa, phases: mitmPhases, sse: 50 }, 'mitmproxy');
      results.push([`mitmproxy ${mitm.version}`, m]);
    }
    // "+x ms p50" is against direct from the host (this Node), as in earlier figures; the inside run also
    // gets "[+y vs image]": against the same client in a container of the run's image (its Node), so
    // that y is what moat's path adds and x − y what the client's runtime and container add.
    for (const [name, r] of results) {
      for (const l of r.load) {
        const d = direct.load.find((x) => x.concurrency === l.concurrency)!;
        const i = inImage.load.find((x) => x.concurrency === l.concurrency)!;
        const added = name === 'direct' ? '' : `  (+${(l.p50 - d.p50).toFixed(3)} ms p50)`;
        const vsImage = r === inRun || r === warm || r === noRelay ? ` [+${(l.p50 - i.p50).toFixed(3)} ms p50 vs image]` : '';
        console.log(
          `${name.padEnd(16)} c=${String(l.concurrency).padEnd(2)} n=${String(l.total).padEnd(5)} ${l.rps.toFixed(0).padStart(6)} req/s  p50 ${l.p50.toFixed(3)} ms  p99 ${l.p99.toFixed(3)} ms${added}${vsImage}`,
        );
      }
      if (r.sse !== undefined) {
        const vsImage = (r === inRun || r === warm || r === noRelay) && inImage.sse !== undefined ? ` [+${(r.sse - inImage.sse).toFixed(3)} ms vs image]` : '';
        console.log(
          `${name.padEnd(16)} first SSE event p50 ${r.sse.toFixed(3)} ms${name === 'direct' ? '' : ` (+${(r.sse - (direct.sse ?? 0)).toFixed(3)} ms)`}${vsImage}; client Node ${r.node}`,
        );
      }
    }
    for (const [label, run] of [
      ['inside a run', inRun],
      ['inside (warm)', warm],
      ['inside, no relay', noRelay],
    ] as const)
      for (const l of run.load) {
        const d = direct.load.find((x) => x.concurrency === l.concurrency)!;
        const i = inImage.load.find((x) => x.concurrency === l.concurrency)!;
        console.log(
          `${label} c=${l.concurrency}: p50 added vs direct from the host +${(l.p50 - d.p50).toFixed(3)} ms, vs direct from the run's image +${(l.p50 - i.p50).toFixed(3)} ms (the client's runtime and container: ${(i.p50 - d.p50).toFixed(3)} ms)`,
        );
      }
    for (const l of warm.load) {
      const n = noRelay.load.find((x) => x.concurrency === l.concurrency)!;
      console.log(`moat-init's relay at c=${l.concurrency}: p50 ${(l.p50 - n.p50).toFixed(3)} ms (inside (warm) − inside, no relay)`);
    }
    if (m)
      for (const [label, run] of [
        ['inside a run', inRun],
        ['inside (warm)', warm],
      ] as const)
        for (const l of run.load) {
          const ml = m.load.find((x) => x.concurrency === l.concurrency)!;
          console.log(`${label} / mitmproxy at c=${l.concurrency}: ${(l.rps / ml.rps).toFixed(2)}x`);
        }
    // Both processes' CPU (user+sys) over all their phases' requests (the inside figure also holds the
    // daemon's trace, audit and the run's start and end): steadier than req/s on a shared machine.
    const requests = PHASES.reduce((n, p) => n + p.warmup + p.total, 0) + 55;
    const perReq = (us: number | undefined): string => (us === undefined ? '?' : `${(us / requests).toFixed(0)} µs`);
    console.log(
      `CPU per request (user+sys, ${requests} requests): bare gateway ${perReq(bareCpu)}, daemon inside a run ${perReq(daemonCpu0 === undefined || daemonCpu1 === undefined ? undefined : daemonCpu1 - daemonCpu0)}`,
    );
    const mb = (n: number | undefined): string => (n === undefined ? '?' : `${(n / 1024 / 1024).toFixed(1)} MB`);
    console.log(
      `daemon RSS: ${mb(rssBefore)} before the inside load, ${mb(rssAfter)} after (${PHASES.reduce((n, p) => n + p.warmup + p.total, 0) + 55} requests)`,
    );
  } finally {
    await inside.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
