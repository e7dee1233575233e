// npm run bench:startup — warm `moat run -- true` against `docker run --rm --network none <same image> true`
// (moat's containers have no network either),
// interleaved, N runs each (default 15), under each sandbox the engine has: runc always, gVisor (runsc)
// when it is registered. Prints medians and ratios, and the floor a Node CLI cannot go below here: Node's
// own start and exit (`node -e 0`) added to `docker run`. Needs a running engine.
// With spares (daemon/spares.ts, on unless MOAT_SPARES=0) a repeated run starts in a container the daemon
// started when the run before it ended: the bench waits for that spare before it times anything else (its
// making would otherwise slow the docker run timed next), and times the same run with spares off too.
// BENCH_PAST_RUNS=N first gives the bench's home N ended runs (copies of the warm run's record), as a home
// that has seen many runs has: what a run's start-up reads grows with them.
import { execFileSync, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_RUNS ?? 15);
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'moat-bench-'));
const ws = mkdtempSync(join(tmpdir(), 'moat-bench-ws-'));
const env = { ...process.env, MOAT_HOME: home, MOAT_SANDBOX: '' };

const timeFile = join(home, 'cpu');
const cpu = { moat: [], docker: [], node: [] };
// Wall time, and the command's own CPU (user+sys, /usr/bin/time) kept per command name: the engine's
// share of the work is in dockerd and the runtime, not here.
function time(cmd, args, extraEnv = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args], {
    env: { ...env, ...extraEnv },
    cwd: ws,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const [u, s] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
  (cmd === 'docker' ? cpu.docker : cmd === process.execPath ? cpu.node : cpu.moat).push((u + s) * 1000);
  return ms;
}
/** The daemon's count of ready spares (GET /health on its socket). */
function readySpares() {
  return new Promise((resolve) => {
    const req = request({ socketPath: join(home, 'daemon', 'daemon.sock'), path: '/health' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(JSON.parse(body).spares ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}
/** Until the daemon has made the spare the last run left it to make (at most 10 s), so nothing else overlaps it. */
async function settle() {
  for (let i = 0; i < 200 && (await readySpares()) < 1; i++) await sleep(50);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const stats = (xs) => `median ${median(xs).toFixed(0)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

const runtimes = execFileSync('docker', ['info', '--format', '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'], { encoding: 'utf8' }).split(/\s+/);
const sandboxes = [['runc', ['--network=none']], ...(runtimes.includes('runsc') ? [['gvisor', ['--runtime=runsc', '--network=none']]] : [])];

try {
  time(moat, ['run', '--sandbox', 'runc', '--', 'true']); // warm: builds the image if needed, starts the daemon
  const { runs } = JSON.parse(execFileSync(moat, ['list', '--json'], { env, encoding: 'utf8' }));
  const image = runs[0].image;
  const past = Number(process.env.BENCH_PAST_RUNS ?? 0);
  const record = JSON.parse(readFileSync(join(home, 'runs', runs[0].id, 'metadata.json'), 'utf8'));
  for (let i = 0; i < past; i++) {
    const id = `run_${(0xb0000000000 + i).toString(16).padStart(12, '0')}`;
    mkdirSync(join(home, 'runs', id), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'runs', id, 'metadata.json'), JSON.stringify({ ...record, id, name: `past-run-${i}`, state: 'stopped', exitCode: 0 }));
  }
  console.log(`runs each: ${N} (interleaved)${past ? `; the home has ${past} more ended runs` : ''}`);
  const medians = {};
  for (const [sandbox, dockerArgs] of sandboxes) {
    const run = ['run', '--sandbox', sandbox, '--', 'true'];
    // The second run of a plan leaves a spare (a plan seen once gets none).
    time(moat, run);
    time(moat, run);
    await settle();
    time('docker', ['run', '--rm', ...dockerArgs, image, 'true']);
    const m = [];
    const c = [];
    const d = [];
    const n = [];
    for (let i = 0; i < N; i++) {
      m.push(time(moat, run));
      await settle();
      d.push(time('docker', ['run', '--rm', ...dockerArgs, image, 'true']));
      n.push(time(process.execPath, ['-e', '0']));
      c.push(time(moat, run, { MOAT_SPARES: '0' }));
    }
    medians[sandbox] = median(m);
    const recent = (xs) => median(xs.slice(-N)).toFixed(0);
    console.log(`[${sandbox}] moat run -- true (a spare ready):  ${stats(m)}`);
    console.log(`[${sandbox}] moat run -- true, MOAT_SPARES=0:   ${stats(c)}`);
    console.log(`[${sandbox}] docker run --rm --network none IMG true:  ${stats(d)}`);
    console.log(
      `[${sandbox}] ratio: ${(median(m) / median(d)).toFixed(2)} with a spare, ${(median(c) / median(d)).toFixed(2)} without  (CPU of the command itself, median: moat ${recent(cpu.moat)} ms, docker CLI ${recent(cpu.docker)} ms)`,
    );
    // What any Node CLI pays before and after its own work, on this machine in these minutes.
    console.log(
      `[${sandbox}] floor: node -e 0 ${stats(n)}; (docker run + node -e 0) / docker run = ${((median(d) + median(n)) / median(d)).toFixed(2)}; moat's own share without a spare ${(median(c) - median(d) - median(n)).toFixed(0)} ms`,
    );
  }
  if (medians.gvisor) console.log(`gvisor / runc (moat run): ${(medians.gvisor / medians.runc).toFixed(2)}`);
  else console.log('gvisor: not measured (the engine has no runsc runtime; sudo bash scripts/setup-gvisor.sh installs and registers it)');
} finally {
  spawnSync(moat, ['proxy', 'stop'], { env });
  spawnSync(moat, ['clean', '-y'], { env, stdio: 'ignore' });
  rmSync(home, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
