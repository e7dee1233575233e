// npm run bench:image — the typical agent image (dependencies: node@22, git, ripgrep, codex) in a temporary
// home: one uncached build + run (`moat run --rebuild -- true`, which builds with no layer cache) against
// N cached runs (`moat run -- true`, default 5); prints both and the ratio. Needs a running engine and the
// package registries (Debian mirror, npm). Removes its temporary home and the images it built (moat clean -y).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_RUNS ?? 5);
const DEPS = ['node@22', 'git', 'ripgrep', 'codex'];
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'moat-bench-image-'));
const ws = mkdtempSync(join(tmpdir(), 'moat-bench-image-ws-'));
const env = { ...process.env, MOAT_HOME: home, NO_COLOR: '1' };
delete env.FORCE_COLOR;
writeFileSync(join(ws, 'moat.yaml'), `dependencies: [${DEPS.join(', ')}]\n`);

/** Run `moat ARGS` to its end; returns the wall time in ms and its stderr. */
function time(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [moat, ...args], { env, cwd: ws, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30 * 60_000 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`moat ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return { ms, stderr: r.stderr };
}
/** What a build prints (progress lines, then its time). */
const BUILT = /Building the image|Image built in|\[\d+\/\d+\]|Step \d+\/\d+/;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

try {
  const uncached = time(['run', '--rebuild', '--approve-config', '--', 'true']);
  if (!BUILT.test(uncached.stderr)) throw new Error(`moat run --rebuild did not build:\n${uncached.stderr}`);
  const cached = [];
  for (let i = 0; i < N; i++) {
    const r = time(['run', '--', 'true']);
    if (BUILT.test(r.stderr)) throw new Error(`a cached run built the image:\n${r.stderr}`);
    cached.push(r.ms);
  }
  const cm = median(cached);
  console.log(`image: dependencies: [${DEPS.join(', ')}]`);
  console.log(`uncached build + run (moat run --rebuild -- true): ${secs(uncached.ms)}`);
  console.log(
    `cached run (moat run -- true), ${N} runs: median ${cm.toFixed(0)} ms  (min ${Math.min(...cached).toFixed(0)}, max ${Math.max(...cached).toFixed(0)})`,
  );
  console.log(`ratio uncached / cached: ${(uncached.ms / cm).toFixed(0)}x`);
} finally {
  spawnSync(process.execPath, [moat, 'proxy', 'stop'], { env, cwd: ws, stdio: 'ignore' });
  spawnSync(process.execPath, [moat, 'clean', '-y', '--images'], { env, cwd: ws, stdio: 'ignore' });
  // moat clean keeps an image a container of another home still uses (the tag is content-addressed, so
  // another home may run the same image); remove what is left of ours once nothing uses it (no --force).
  const left =
    spawnSync('docker', ['images', '-q', '--filter', `label=moat.home=${home}`], { encoding: 'utf8' })
      .stdout?.split('\n')
      .filter(Boolean) ?? [];
  if (left.length > 0 && spawnSync('docker', ['rmi', ...left], { stdio: 'ignore' }).status !== 0) {
    console.error(`note: image(s) ${left.join(' ')} built here are still in use and were left in place`);
  }
  rmSync(home, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
