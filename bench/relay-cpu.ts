/**
 * `node --import tsx bench/relay-cpu.ts` — what moat-init's egress relay costs per request, under each sandbox the engine
 * has (runc, and gVisor's runsc when registered). One container per sandbox (--network none, the bench
 * gateway's socket directory mounted as /moat/net would be) runs the same load client three ways, rounds
 * interleaved: straight to the gateway's unix socket (no relay: the floor), through socat with a process
 * per connection (the relay before #12) and through moat-init's relay (taken from the asset itself).
 * Prints req/s, p50 and the CPU time per request of the container (its cgroup: the client, the relay and,
 * under gVisor, the Sentry) and of the gateway process: CPU per request holds still on a loaded machine
 * where req/s does not. The container runs the newest moat image with this host's Node mounted in
 * (BENCH_IMAGE to choose an image); BENCH_RUNS rounds (default 2), BENCH_REQUESTS per client (default 2000).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_HOST, startGatewayBench } from './lib/gateway.js';

const CLIENT = fileURLToPath(new URL('./lib/load-client.mjs', import.meta.url));
const INIT = fileURLToPath(new URL('../src/image/assets/moat-init.sh', import.meta.url));
const rounds = Number(process.env.BENCH_RUNS ?? 2);
const total = Number(process.env.BENCH_REQUESTS ?? 2000);
const concurrency = 16;

/** moat-init's relay program, exactly as the image runs it. */
function initRelay(): string {
  const text = readFileSync(INIT, 'utf8');
  const m = /^egress_relay='\n([\s\S]*?)'$/m.exec(text);
  if (!m?.[1]) throw new Error(`no egress_relay='…' in ${INIT}`);
  return m[1];
}

const image =
  process.env.BENCH_IMAGE ??
  execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'moat-image'], { encoding: 'utf8' }).split('\n').find(Boolean);
if (!image) throw new Error('No moat image: run any `moat run` once, or set BENCH_IMAGE.');
const info = JSON.parse(execFileSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8' })) as Record<string, unknown>;
const runtimes = ['runc', ...(Object.keys(info).includes('runsc') ? ['runsc'] : [])];

const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000; // clock ticks (100 Hz) to µs
};
const cgroupCpu = (id: string): number => {
  for (const p of [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`]) {
    const text = (() => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    })();
    if (text === undefined) continue;
    const usec = /usage_usec (\d+)/.exec(text)?.[1];
    return usec ? Number(usec) : Number(text) / 1000;
  }
  throw new Error(`no CPU accounting found for container ${id}`);
};

const bench = await startGatewayBench();
try {
  // The gateway is the bench's forked child started with the role argument `proxy`.
  const gatewayPid = Number(
    execFileSync('ps', ['--ppid', String(process.pid), '-o', 'pid=,args='], { encoding: 'utf8' })
      .split('\n')
      .find((l) => l.trim().endsWith(' proxy'))
      ?.trim()
      .split(/\s+/)[0],
  );
  if (!gatewayPid) throw new Error('the bench gateway process was not found');
  writeFileSync(join(bench.dir, 'ca.pem'), bench.proxyCa);
  writeFileSync(join(bench.dir, 'relay.pl'), initRelay());
  copyFileSync(CLIENT, join(bench.dir, 'load-client.mjs'));
  chmodSync(bench.dir, 0o755);
  chmodSync(bench.socket, 0o777);
  const paths: Record<string, string> = {
    'no relay (unix socket)': 'unix:/s/proxy.sock',
    'socat, fork (before)': 'tcp:127.0.0.1:43128',
    'moat-init relay (now)': 'tcp:127.0.0.1:43129',
  };
  const setup = [
    'socat -t 600 TCP-LISTEN:43128,bind=127.0.0.1,reuseaddr,fork,nodelay UNIX-CONNECT:/s/proxy.sock 2>/dev/null &',
    'perl -e "$(cat /s/relay.pl)" 43129 /s/proxy.sock &',
    'exec sleep 100000',
  ].join('\n');
  console.log(`image ${image}; load client at c=${concurrency}, ${total} requests after 200 warm-up, ${rounds} rounds interleaved`);
  for (const runtime of runtimes) {
    const id = execFileSync(
      'docker',
      [
        'run',
        '-d',
        '--network',
        'none',
        '--runtime',
        runtime,
        '-v',
        `${bench.dir}:/s`,
        '-v',
        `${process.execPath}:/usr/local/bin/node:ro`,
        '--entrypoint',
        'sh',
        image,
        '-c',
        setup,
      ],
      { encoding: 'utf8' },
    ).trim();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      for (let round = 0; round < rounds; round += 1)
        for (const [name, proxy] of Object.entries(paths)) {
          const opts = JSON.stringify({ proxy, ca: '/s/ca.pem', host: BENCH_HOST, phases: [{ concurrency, warmup: 200, total }], sse: 0 });
          const c0 = cgroupCpu(id);
          const g0 = cpuOf(gatewayPid);
          const r = spawnSync('docker', ['exec', id, 'node', '/s/load-client.mjs', opts], { encoding: 'utf8' });
          const c1 = cgroupCpu(id);
          const g1 = cpuOf(gatewayPid);
          if (r.status !== 0) throw new Error(`${runtime} ${name}: the client failed:\n${r.stderr.slice(-2000)}`);
          const l = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { load: Array<{ rps: number; p50: number }> }).load[0]!;
          const n = total + 200;
          const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
          console.log(
            `${runtime.padEnd(6)} ${name.padEnd(23)} ${l.rps.toFixed(0).padStart(5)} req/s  p50 ${l.p50.toFixed(2).padStart(7)} ms  CPU/request: container ${((c1 - c0) / n).toFixed(0).padStart(5)} µs, gateway ${((g1 - g0) / n).toFixed(0).padStart(4)} µs  (load ${load})`,
          );
        }
    } finally {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    }
  }
} finally {
  await bench.stop();
}
