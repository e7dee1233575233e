/**
 * Workspace snapshots against `tar -c` of the same tree (piped to /dev/null through cat, so tar reads every
 * file: GNU tar skips reading when its archive is /dev/null itself). Prints numbers, asserts nothing.
 * Beside it, the floor for storing the bytes on this disk: `tar -cf FILE` of the tree into the bench's temp
 * folder (no fsync, as the store; best of 3, each round before the `tar -c | cat` one, `sync` before each,
 * the archive removed after each), and the first snapshot's ratio to it.
 * The tree (snapshot-tree.ts): BENCH_FILES files (default 10,000) totalling BENCH_MB MB (default 500), a
 * realistic mix with a .git-like folder. Then, with a running engine and a built CLI (`npm run build`), the
 * start-up a run adds with snapshots on: `moat run -- true` in that workspace (snapshots on) and in a copy of
 * it made of hard links with `snapshots: {disabled: true}` (each moat.yaml written once, so no run finds a
 * changed file the other arm wrote), interleaved, BENCH_RUNS each (default 7), medians. BENCH_RUNS=0 skips
 * it. The start-up share alone is printed too: MOAT_TIMING=1's "pre-run snapshot" mark minus its "container
 * created" mark (the wait the pre-run snapshot adds before the start), and the time to "started" with
 * snapshots on against off. BENCH_BASE=/path/to/other/bin/moat runs another build (e.g. main's) the same
 * way, its runs interleaved with this build's, for an A/B in the same minutes.
 * BENCH_BASE_DIST=/path/to/other/checkout/dist adds another build's first snapshot (its snapshot/service.js),
 * taken right after this build's in each round, with its own median and ratio.
 * CPU time (user + sys) is printed beside wall time: the snapshot calls' own (this process), tar's and
 * the CLI's (children), since on a loaded machine wall time is mostly the others' load.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MoatHome } from '../src/home/paths.js';
import { DEFAULT_LIMITS } from '../src/snapshot/limits.js';
import type * as Service from '../src/snapshot/service.js';
import { fmt, load, median, ms, time, timeShell, type Timed } from './lib/timing.js';
import { buildTree, planTree } from './snapshot-tree.js';
import { byThread, type ThreadCpu } from './thread-cpu.js';

// The built code when there is one (what the CLI and the daemon run: the snapshot's helper thread then
// loads compiled JavaScript, not TypeScript through tsx in its own thread), else the sources.
const builtService = new URL('../dist/snapshot/service.js', import.meta.url);
const { ManifestCache, snapshotWorkspace } = (await import(
  existsSync(fileURLToPath(builtService)) ? builtService.href : '../src/snapshot/service.js'
)) as typeof Service;

const baseDist = process.env.BENCH_BASE_DIST;
const base = baseDist ? ((await import(pathToFileURL(join(baseDist, 'snapshot/service.js')).href)) as typeof Service) : undefined;

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

const tar = (): Timed => timeShell(`tar -cf - -C '${ws}' . | cat > /dev/null`);
const archive = join(dir, 'floor.tar');
/** The floor for storing the bytes: the same tree into one archive file on this disk (as the store, no fsync). */
const tarToFile = (): Timed => timeShell(`tar -cf '${archive}' -C '${ws}' .`);

try {
  const plan = planTree(files, mb * 1024 * 1024);
  const bytes = await buildTree(ws, plan);
  await new Promise((r) => setTimeout(r, 300)); // past the racy-timestamp window
  console.log(
    `workspace: ${plan.length} files, ${(bytes / 1048576).toFixed(0)} MB (small sources, MB-sized assets, ${plan.filter((f) => f.size > 10 << 20).length} large files, .git/ with ${plan.filter((f) => f.path.startsWith('.git/')).length} files); load average ${load()}`,
  );
  // First snapshots into an empty store, alternated with tar (the tree written back to disk first).
  const tars: Timed[] = [];
  const stored: Timed[] = [];
  const firsts: Timed[] = [];
  const baseFirsts: Timed[] = [];
  for (let i = 0; i < 3; i++) {
    execFileSync('sync');
    stored.push(tarToFile());
    await rm(archive, { force: true });
    execFileSync('sync');
    tars.push(tar());
    await rm(join(home.root, 'snapshots'), { recursive: true, force: true });
    firsts.push(await time(() => snapshotWorkspace(home, ws, settings)));
    if (base) {
      await rm(join(home.root, 'snapshots'), { recursive: true, force: true });
      baseFirsts.push(await time(() => base.snapshotWorkspace(home, ws, settings)));
    }
  }
  // Where the CPU goes, by thread: two more first snapshots, not timed above (sampling /proc costs a little).
  const threads: Array<ThreadCpu | undefined> = [];
  for (let i = 0; i < 2; i++) {
    execFileSync('sync');
    await rm(join(home.root, 'snapshots'), { recursive: true, force: true });
    threads.push(await byThread(() => snapshotWorkspace(home, ws, settings)));
  }
  const first = [...firsts].sort((a, b) => a.wall - b.wall)[1] as Timed;
  await new Promise((r) => setTimeout(r, 300));
  const again: Timed[] = [];
  for (let i = 0; i < REPS; i++) again.push(await time(() => snapshotWorkspace(home, ws, settings)));
  // As the daemon takes it: the last manifest kept in memory (ManifestCache), the code warm.
  const cache = new ManifestCache();
  await snapshotWorkspace(home, ws, settings, { cache });
  const warm: Timed[] = [];
  for (let i = 0; i < REPS; i++) warm.push(await time(() => snapshotWorkspace(home, ws, settings, { cache })));
  const touched: Timed[] = [];
  for (let i = 0; i < REPS; i++) {
    // 10 files changed (content and mtime), spread over the tree.
    for (let k = 0; k < 10; k++) {
      const f = plan[Math.floor((k * plan.length) / 10) + i] as { path: string };
      await writeFile(join(ws, f.path), `changed ${i} ${k}\n`, { flag: 'a' });
    }
    await new Promise((r) => setTimeout(r, 150)); // a change this close to a walk is read again (racy stat)
    touched.push(await time(() => snapshotWorkspace(home, ws, settings)));
  }
  const t = Math.min(...tars.map((x) => x.wall));
  const tc = Math.min(...tars.map((x) => x.cpu));
  const walls = (xs: Timed[]): string => xs.map((x) => x.wall.toFixed(0)).join(', ');
  const cpus = (xs: Timed[]): string => xs.map((x) => x.cpu.toFixed(0)).join(', ');
  const st = Math.min(...stored.map((x) => x.wall));
  const stc = Math.min(...stored.map((x) => x.cpu));
  console.log(`tar -c | cat > /dev/null:  ${ms(t)}, CPU ${ms(tc)} (best of ${tars.length}: ${tars.map(fmt).join(', ')})`);
  console.log(`tar -cf FILE (store floor): ${ms(st)}, CPU ${ms(stc)} (best of ${stored.length}: ${stored.map(fmt).join(', ')})`);
  console.log(
    `first snapshot:            ${fmt(first)}, median of 3 (${(first.wall / t).toFixed(2)}x tar wall, ${(first.cpu / tc).toFixed(2)}x tar CPU; target <= 1.5x; ${firsts.map(fmt).join(', ')}; ${existsSync(fileURLToPath(builtService)) ? 'dist' : 'sources'})`,
  );
  if (base) {
    const b = [...baseFirsts].sort((x, y) => x.wall - y.wall)[1] as Timed;
    console.log(`  base (${baseDist}):  ${fmt(b)}, median of 3 (${(b.wall / t).toFixed(2)}x tar wall; ${baseFirsts.map(fmt).join(', ')})`);
  }
  if (threads.every((x) => x !== undefined))
    console.log(
      `  by thread, 2 more (CPU ms): wall ${threads.map((x) => x.wall).join(', ')}, process ${threads.map((x) => x.process).join(', ')}: walk ${threads.map((x) => x.self).join(', ')}; its worker threads (busiest first) ${threads.map((x) => x.workers.join(' / ')).join(', ')}; Node's own threads ${threads.map((x) => x.rest).join(', ')}`,
    );
  console.log(
    `unchanged re-snapshot:     ${ms(median(again.map((x) => x.wall)))}, CPU ${ms(median(again.map((x) => x.cpu)))} medians of ${REPS} (wall ${walls(again)}; CPU ${cpus(again)}; target <= 300 ms)`,
  );
  console.log(
    `unchanged, daemon-style:   ${ms(median(warm.map((x) => x.wall)))}, CPU ${ms(median(warm.map((x) => x.cpu)))} medians of ${REPS} (the last manifest kept in memory, warm code; wall ${walls(warm)}; CPU ${cpus(warm)}; target <= 300 ms)`,
  );
  console.log(
    `10 files changed:          ${ms(median(touched.map((x) => x.wall)))}, CPU ${ms(median(touched.map((x) => x.cpu)))} medians of ${REPS} (wall ${walls(touched)}; CPU ${cpus(touched)})`,
  );

  const engine = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  if (runs > 0 && engine && existsSync(dist)) {
    // Two workspaces with the same tree (hard links), each with its own moat.yaml written once.
    const wsOff = join(dir, 'ws-off');
    execFileSync('cp', ['-al', ws, wsOff]);
    await writeFile(join(ws, 'moat.yaml'), 'snapshots:\n  disabled: false\n');
    await writeFile(join(wsOff, 'moat.yaml'), 'snapshots:\n  disabled: true\n');
    // This build, and BENCH_BASE (another build's bin/moat, e.g. main's) when given: each its own home,
    // their runs interleaved round by round.
    const builds = [{ label: 'this build', bin: moat, home: join(dir, 'run-home') }];
    if (process.env.BENCH_BASE) builds.push({ label: 'base', bin: process.env.BENCH_BASE, home: join(dir, 'run-home-base') });
    // MOAT_TIMING=1's marks (ms since the CLI's code loaded), by label.
    const timingFile = join(dir, 'timing.txt');
    type Run = Timed & { marks: Map<string, number> };
    const run = async (b: (typeof builds)[number], cwd: string): Promise<Run> => {
      const env = { ...process.env, MOAT_HOME: b.home, MOAT_SANDBOX: '', MOAT_TIMING: '1' };
      const t = timeShell(`'${b.bin}' run -- true`, { env, cwd }, timingFile);
      const marks = new Map<string, number>();
      for (const m of (await readFile(timingFile, 'utf8')).matchAll(/^\[timing\]\s+([\d.]+) ms {2}(.+)$/gm)) marks.set(m[2] as string, Number(m[1]));
      return { ...t, marks };
    };
    const firsts: Run[] = [];
    for (const b of builds) {
      firsts.push(await run(b, ws)); // builds the image if needed, starts the daemon, takes the first snapshot
      await run(b, wsOff);
      await run(b, ws); // the links made above changed every file's ctime: read once more, then unchanged
    }
    const on: Run[][] = builds.map(() => []);
    const off: Run[][] = builds.map(() => []);
    for (let i = 0; i < runs; i++)
      for (const [k, b] of builds.entries()) {
        on[k]?.push(await run(b, ws));
        off[k]?.push(await run(b, wsOff));
      }
    const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
    for (const [k, b] of builds.entries()) {
      const withSnap = on[k] as Run[];
      const without = off[k] as Run[];
      const added = median(withSnap.map((x) => x.wall)) - median(without.map((x) => x.wall));
      const addedCpu = median(withSnap.map((x) => x.cpu)) - median(without.map((x) => x.cpu));
      console.log(`${b.label} (${b.bin}):`);
      console.log(
        `  moat run -- true, snapshots on:   ${ms(median(withSnap.map((x) => x.wall)))}, CLI CPU ${ms(median(withSnap.map((x) => x.cpu)))} medians of ${runs} (wall ${walls(withSnap)}; CPU ${cpus(withSnap)}; first run ${fmt(firsts[k] as Run)})`,
      );
      console.log(
        `  moat run -- true, snapshots off:  ${ms(median(without.map((x) => x.wall)))}, CLI CPU ${ms(median(without.map((x) => x.cpu)))} medians of ${runs} (wall ${walls(without)}; CPU ${cpus(without)})`,
      );
      console.log(`  added by snapshots (pre + post):  ${ms(added)} wall, ${ms(addedCpu)} CLI CPU`);
      // The start-up share alone: the wait for the pre-run snapshot once the container exists (snapshots off:
      // the same two marks, for scale), and the time to "started" (the container running), on against off.
      const mark = (r: Run, label: string): number => r.marks.get(label) ?? NaN;
      const wait = (xs: Run[]): number[] => xs.map((r) => mark(r, 'pre-run snapshot') - mark(r, 'container created'));
      const started = (xs: Run[]): number[] => xs.map((r) => mark(r, 'started'));
      console.log(
        `  start-up added (pre-run snapshot mark - "container created"): ${ms(median(wait(withSnap)))} median (${list(wait(withSnap))}; snapshots off ${ms(median(wait(without)))}; target <= 100 ms)`,
      );
      console.log(
        `  time to "started", on / off:      ${ms(median(started(withSnap)))} / ${ms(median(started(without)))}, added ${ms(median(started(withSnap)) - median(started(without)))} (on ${list(started(withSnap))}; off ${list(started(without))})`,
      );
      const env = { ...process.env, MOAT_HOME: b.home };
      spawnSync(b.bin, ['proxy', 'stop'], { env });
      spawnSync(b.bin, ['clean', '-y'], { env, stdio: 'ignore' });
    }
  } else if (runs > 0) console.log('moat run: not measured (needs a running engine and `npm run build`)');
  console.log(`load average after: ${load()}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
