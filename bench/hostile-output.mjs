// node bench/hostile-output.mjs — how much a run printing as fast as it can (1 GB of lines) delays the
// start-to-end of another `moat run -- true`, and how long the daemon takes to read a 60 MB line.
// Interleaves N quiet and N flooded measurements (default 5); prints medians. Needs a running engine.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_RUNS ?? 5);
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'moat-bench-out-'));
const ws = mkdtempSync(join(tmpdir(), 'moat-bench-out-ws-'));
const env = { ...process.env, MOAT_HOME: home };

function time(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [moat, ...args], { env, cwd: ws, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`moat ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const run = (args) => execFileSync(process.execPath, [moat, ...args], { env, cwd: ws, encoding: 'utf8' });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const idOf = (out) => /\((run_[0-9a-f]{12})\)/.exec(out)[1];
const state = (id) => JSON.parse(run(['list', '--json'])).runs.find((r) => r.id === id)?.state;

try {
  time(['run', '--', 'true']); // warm: image, daemon
  const quiet = [];
  const flooded = [];
  for (let i = 0; i < N; i++) {
    quiet.push(time(['run', '--', 'true']));
    const flood = idOf(
      run(['run', '-d', '--', 'sh', '-c', 'yes ................................................................................ | head -c 1000000000']),
    );
    flooded.push(time(['run', '--', 'true']));
    run(['stop', '-t', '1', flood]);
  }
  const q = median(quiet);
  const f = median(flooded);
  console.log(`moat run -- true: ${q.toFixed(0)} ms alone, ${f.toFixed(0)} ms while another run prints 1 GB (median of ${N}; delay ${(f - q).toFixed(0)} ms)`);
  const t = Date.now();
  const long = idOf(run(['run', '-d', '--', 'sh', '-c', 'head -c 60000000 /dev/zero | tr "\\0" a; echo']));
  for (let i = 0; i < 1200 && state(long) !== 'stopped'; i++) spawnSync('sleep', ['0.25']);
  console.log(`a 60 MB line without a newline: recorded and the run stopped after ${((Date.now() - t) / 1000).toFixed(1)} s`);
} finally {
  spawnSync(process.execPath, [moat, 'proxy', 'stop'], { env, cwd: ws });
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=moat.home=${home}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids]);
  rmSync(home, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
