// npm run bench:startup — warm `moat run -- true` against `docker run --rm <same image> true`,
// interleaved, N runs each (default 15), under each sandbox the engine has: runc always, gVisor (runsc)
// when it is registered. Prints medians and ratios. Needs a running engine.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_RUNS ?? 15);
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'moat-bench-'));
const ws = mkdtempSync(join(tmpdir(), 'moat-bench-ws-'));
const env = { ...process.env, MOAT_HOME: home, MOAT_SANDBOX: '' };

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd: ws, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const stats = (xs) => `median ${median(xs).toFixed(0)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

const runtimes = execFileSync('docker', ['info', '--format', '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'], { encoding: 'utf8' }).split(/\s+/);
const sandboxes = [['runc', []], ...(runtimes.includes('runsc') ? [['gvisor', ['--runtime=runsc', '--network=none']]] : [])];

try {
  time(moat, ['run', '--sandbox', 'runc', '--', 'true']); // warm: builds the image if needed, starts the daemon
  const { runs } = JSON.parse(execFileSync(moat, ['list', '--json'], { env, encoding: 'utf8' }));
  const image = runs[0].image;
  console.log(`runs each: ${N} (interleaved)`);
  const medians = {};
  for (const [sandbox, dockerArgs] of sandboxes) {
    time(moat, ['run', '--sandbox', sandbox, '--', 'true']);
    time('docker', ['run', '--rm', ...dockerArgs, image, 'true']);
    const m = [];
    const d = [];
    for (let i = 0; i < N; i++) {
      m.push(time(moat, ['run', '--sandbox', sandbox, '--', 'true']));
      d.push(time('docker', ['run', '--rm', ...dockerArgs, image, 'true']));
    }
    medians[sandbox] = median(m);
    console.log(`[${sandbox}] moat run -- true:          ${stats(m)}`);
    console.log(`[${sandbox}] docker run --rm IMG true:  ${stats(d)}`);
    console.log(`[${sandbox}] ratio: ${(median(m) / median(d)).toFixed(2)}`);
  }
  if (medians.gvisor) console.log(`gvisor / runc (moat run): ${(medians.gvisor / medians.runc).toFixed(2)}`);
  else console.log('gvisor: not measured (the engine has no runsc runtime; sudo bash scripts/setup-gvisor.sh installs and registers it)');
} finally {
  spawnSync(moat, ['proxy', 'stop'], { env });
  spawnSync(moat, ['clean', '-y'], { env, stdio: 'ignore' });
  rmSync(home, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
