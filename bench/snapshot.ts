/**
 * Workspace snapshots against `tar -c` of the same tree (piped to /dev/null through cat, so tar reads every
 * file: GNU tar skips reading when its archive is /dev/null itself). Prints numbers, asserts nothing.
 * The tree (snapshot-tree.ts): BENCH_FILES files (default 10,000) totalling BENCH_MB MB (default 500), a
 * realistic mix with a .git-like folder. Then, with a running engine and a built CLI (`npm run build`), the
 * start-up a run adds with snapshots on: `moat run -- true` in that workspace with snapshots on and with
 * `snapshots: {disabled: true}`, interleaved, BENCH_RUNS each (default 7), medians. BENCH_RUNS=0 skips it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MoatHome } from '../src/home/paths.js';
import { DEFAULT_LIMITS } from '../src/snapshot/limits.js';
import { snapshotWorkspace } from '../src/snapshot/service.js';
import { buildTree, planTree } from './snapshot-tree.js';

const files = Number(process.env.BENCH_FILES ?? 10_000);
const mb = Number(process.env.BENCH_MB ?? 500);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const REPS = 5;
const dir = await mkdtemp(join(tmpdir(), 'moat-bench-snap-'));
const ws = join(dir, 'ws');
const home = new MoatHome(join(dir, 'home'));
const settings = { exclude: [], limits: DEFAULT_LIMITS };
const moat = fileURLToPath(new URL('../bin/moat', import.meta.url));
const dist = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
async function time(f: () => unknown): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}
const tar = (): Promise<number> => time(() => execFileSync('sh', ['-c', `tar -cf - -C '${ws}' . | cat > /dev/null`]));

try {
  const plan = planTree(files, mb * 1024 * 1024);
  const bytes = await buildTree(ws, plan);
  await new Promise((r) => setTimeout(r, 300)); // past the racy-timestamp window
  console.log(
    `workspace: ${plan.length} files, ${(bytes / 1048576).toFixed(0)} MB (small sources, MB-sized assets, ${plan.filter((f) => f.size > 10 << 20).length} large files, .git/ with ${plan.filter((f) => f.path.startsWith('.git/')).length} files); load average ${load()}`,
  );
  const tars = [await tar(), await tar()];
  const first = await time(() => snapshotWorkspace(home, ws, settings));
  await new Promise((r) => setTimeout(r, 300));
  const again: number[] = [];
  for (let i = 0; i < REPS; i++) again.push(await time(() => snapshotWorkspace(home, ws, settings)));
  const touched: number[] = [];
  for (let i = 0; i < REPS; i++) {
    // 10 files changed (content and mtime), spread over the tree.
    for (let k = 0; k < 10; k++) {
      const f = plan[Math.floor((k * plan.length) / 10) + i] as { path: string };
      await writeFile(join(ws, f.path), `changed ${i} ${k}\n`, { flag: 'a' });
    }
    await new Promise((r) => setTimeout(r, 150)); // a change this close to a walk is read again (racy stat)
    touched.push(await time(() => snapshotWorkspace(home, ws, settings)));
  }
  tars.push(await tar());
  const t = Math.min(...tars);
  console.log(`tar -c | cat > /dev/null:  ${ms(t)} (best of ${tars.length}: ${tars.map(ms).join(', ')})`);
  console.log(`first snapshot:            ${ms(first)} (${(first / t).toFixed(2)}x tar; target <= 1.5x)`);
  console.log(`unchanged re-snapshot:     ${ms(median(again))} median of ${REPS} (${again.map((x) => x.toFixed(0)).join(', ')}; target <= 300 ms)`);
  console.log(`10 files changed:          ${ms(median(touched))} median of ${REPS} (${touched.map((x) => x.toFixed(0)).join(', ')})`);

  const engine = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  if (runs > 0 && engine && existsSync(dist)) {
    const runHome = join(dir, 'run-home');
    const env = { ...process.env, MOAT_HOME: runHome, MOAT_SANDBOX: '' };
    const run = (): number => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(moat, ['run', '--', 'true'], { env, cwd: ws, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`moat run failed: ${String(r.stderr)}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const yaml = join(ws, 'moat.yaml');
    const on = async (): Promise<void> => writeFile(yaml, 'snapshots:\n  disabled: false\n');
    const off = async (): Promise<void> => writeFile(yaml, 'snapshots:\n  disabled: true\n');
    await on();
    const warm = run(); // builds the image if needed, starts the daemon, takes the first snapshot
    await off();
    run();
    const withSnap: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < runs; i++) {
      await on();
      withSnap.push(run());
      await off();
      without.push(run());
    }
    const added = median(withSnap) - median(without);
    console.log(
      `moat run -- true, snapshots on:   ${ms(median(withSnap))} median of ${runs} (${withSnap.map((x) => x.toFixed(0)).join(', ')}; first run ${ms(warm)})`,
    );
    console.log(`moat run -- true, snapshots off:  ${ms(median(without))} median of ${runs} (${without.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`added by snapshots (pre + post):  ${ms(added)} (target <= 100 ms)`);
    spawnSync(moat, ['proxy', 'stop'], { env });
    spawnSync(moat, ['clean', '-y'], { env, stdio: 'ignore' });
  } else if (runs > 0) console.log('moat run: not measured (needs a running engine and `npm run build`)');
  console.log(`load average after: ${load()}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
