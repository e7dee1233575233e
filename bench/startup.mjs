// npm run bench:startup — warm `moat run -- true` against `docker run --rm <same image> true`,
// interleaved, N runs each (default 15); prints medians and the ratio. Needs a running engine.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_RUNS ?? 15);
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'moat-bench-'));
const ws = mkdtempSync(join(tmpdir(), 'moat-bench-ws-'));
const env = { ...process.env, MOAT_HOME: home };

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd: ws, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

try {
  time(moat, ['run', '--', 'true']); // warm: builds the image if needed, starts the daemon
  const { runs } = JSON.parse(execFileSync(moat, ['list', '--json'], { env, encoding: 'utf8' }));
  const image = runs[0].image;
  time('docker', ['run', '--rm', image, 'true']);
  const m = [];
  const d = [];
  for (let i = 0; i < N; i++) {
    m.push(time(moat, ['run', '--', 'true']));
    d.push(time('docker', ['run', '--rm', image, 'true']));
  }
  const mm = median(m);
  const dm = median(d);
  console.log(`runs each: ${N} (interleaved)`);
  console.log(`moat run -- true:          median ${mm.toFixed(0)} ms  (min ${Math.min(...m).toFixed(0)}, max ${Math.max(...m).toFixed(0)})`);
  console.log(`docker run --rm IMG true:  median ${dm.toFixed(0)} ms  (min ${Math.min(...d).toFixed(0)}, max ${Math.max(...d).toFixed(0)})`);
  console.log(`ratio: ${(mm / dm).toFixed(2)}`);
} finally {
  spawnSync(moat, ['proxy', 'stop'], { env });
  spawnSync(moat, ['clean', '-y'], { env, stdio: 'ignore' });
  rmSync(home, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
