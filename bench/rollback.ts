/**
 * Rollback: restoring a snapshot, against `cp -a` of the same tree. Prints numbers, asserts nothing about
 * time; fails loudly when a restore did not give back the snapshot's tree (paths, types, modes, contents).
 * The tree is bench:snapshot's (snapshot-tree.ts: BENCH_FILES files, default 10,000, BENCH_MB MB, default
 * 500), snapshotted once into a temp MoatHome. BENCH_ROUNDS rounds (default 3) of each part, every round
 * printed (wall, and CPU = user + sys of this process, of the children for cp):
 *
 * a. The whole tree into a new empty folder, as `moat rollback --to DIR` writes it (planRestore against
 *    nothing, then applyRestore, with a fresh objectStore(home) as the CLI opens), against `cp -a` of the
 *    workspace into another new folder, the two alternated (which goes first swaps every round), `sync`
 *    before each.
 * b. An in-place rollback of an agent run, in a copy of the tree made once with `cp -a` (no hard links to the
 *    original, which stays as the reference): per round the "run" changes 100 files spread over the tree,
 *    deletes one package folder and adds 50 files (10 in a new folder); the post-run manifest is taken
 *    (snapshotWorkspace, untimed), then the pre-run one is restored in place (planRestore(pre, post) and
 *    applyRestore; only these two are timed), and the copy is checked against the original.
 *
 * On this machine's ext4 (no journal), creating files soon after deleting many is slow in the kernel (an
 * inode freed in the last minute or more is skipped while looking for a free one): `cp -a` of this tree
 * took 2.3 s in one minute and 11 s in another. So no output folder is removed before the end, the arms
 * alternate, and every round is printed, not only medians. Part b deletes files just before it restores:
 * that is the workload (a run deletes, the rollback recreates), the cost included.
 * BENCH_BASE_DIST=/path/to/other/checkout/dist adds another build's restore (its snapshot/restore.js and
 * objectStore) as a third arm of a and a second run of b in every round, for an A/B in the same minutes.
 * Uses dist/ when built (`npm run build`), else the sources.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MoatHome } from '../src/home/paths.js';
import { DEFAULT_LIMITS } from '../src/snapshot/limits.js';
import type { Manifest } from '../src/snapshot/manifest.js';
import type * as Restore from '../src/snapshot/restore.js';
import type * as Service from '../src/snapshot/service.js';
import { fmt, median, ms, time, timeShell, type Timed } from './lib/timing.js';
import { buildTree, planTree, type TreeFile } from './snapshot-tree.js';

interface Build {
  label: string;
  restore: typeof Restore;
  objectStore: typeof Service.objectStore;
}
/** A build's restore and store, from its dist/ folder (or this checkout's sources). */
async function load(label: string, dist: URL | undefined): Promise<Build & { service: typeof Service }> {
  const at = (rel: string, src: string): string => (dist ? new URL(rel, dist).href : src);
  const service = (await import(at('snapshot/service.js', '../src/snapshot/service.js'))) as typeof Service;
  const restore = (await import(at('snapshot/restore.js', '../src/snapshot/restore.js'))) as typeof Restore;
  return { label, restore, objectStore: service.objectStore, service };
}
const ownDist = new URL('../dist/', import.meta.url);
const own = await load('this build', existsSync(fileURLToPath(new URL('snapshot/restore.js', ownDist))) ? ownDist : undefined);
const builds: Build[] = [own];
if (process.env.BENCH_BASE_DIST) builds.push(await load('base', pathToFileURL(`${process.env.BENCH_BASE_DIST}/`)));
const { snapshotWorkspace } = own.service;

const files = Number(process.env.BENCH_FILES ?? 10_000);
const mb = Number(process.env.BENCH_MB ?? 500);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const dir = await mkdtemp(join(tmpdir(), 'moat-bench-rollback-'));
const ws = join(dir, 'ws');
const home = new MoatHome(join(dir, 'home'));
const settings = { exclude: [], limits: DEFAULT_LIMITS };
const uptime = (): string => execFileSync('uptime').toString().trim();
const sync = (): void => void execFileSync('sync');
const pause = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));
async function timeOf<T>(f: () => Promise<T>): Promise<{ value: T; t: Timed }> {
  let value: T | undefined;
  const t = await time(async () => {
    value = await f();
  });
  return { value: value as T, t };
}

/** Every path under `root` with its type and mode, sorted (the root itself left out). */
function listing(root: string): string[] {
  const out = execFileSync('find', [root, '-mindepth', '1', '-printf', '%P\\t%y\\t%m\\n'], { maxBuffer: 1 << 28 }).toString();
  return out.split('\n').filter(Boolean).sort();
}
/** Throws when `copy` is not `reference`: paths, types and modes (find), contents (diff -r). */
function check(reference: string, copy: string, what: string): void {
  const a = listing(reference);
  const b = listing(copy);
  const inA = new Set(a);
  const inB = new Set(b);
  const missing = a.filter((x) => !inB.has(x));
  const extra = b.filter((x) => !inA.has(x));
  if (a.length !== b.length || missing.length > 0 || extra.length > 0)
    throw new Error(`${what}: the tree differs (missing ${missing.slice(0, 5).join(', ')}; extra ${extra.slice(0, 5).join(', ')})`);
  try {
    execFileSync('diff', ['-r', '-q', reference, copy], { maxBuffer: 1 << 26 });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
    throw new Error(`${what}: contents differ:\n${out.split('\n').slice(0, 10).join('\n')}`);
  }
}

interface Restored extends Timed {
  plan: number;
  written: number;
  deleted: number;
  skipped: number;
  bytes: number;
}
/** planRestore + applyRestore of `target` into `into` (over `current`), timed. */
async function restore(b: Build, into: string, target: Manifest, current: Manifest | undefined): Promise<Restored> {
  let plan = 0;
  let report: Restore.RestoreReport | undefined;
  let actions: Restore.Action[] = [];
  const t = await time(async () => {
    const p = performance.now();
    actions = b.restore.planRestore(target, current, () => true);
    plan = performance.now() - p;
    report = await b.restore.applyRestore(into, b.objectStore(home), actions);
  });
  let bytes = 0;
  for (const a of actions) if (a.op === 'write' && a.entry.type === 'file') bytes += a.entry.size;
  return { ...t, plan, written: report?.written ?? 0, deleted: report?.deleted ?? 0, skipped: report?.skipped.length ?? 0, bytes };
}
const fmtRestore = (r: Restored): string =>
  `${fmt(r)}; plan ${r.plan.toFixed(0)} ms; ${r.written} written (${(r.bytes / 1048576).toFixed(1)} MB), ${r.deleted} deleted, ${r.skipped} skipped`;

/** The agent run of round `j` on `root`: 100 files changed, one package folder deleted, 50 files added. */
async function agentRun(root: string, plan: TreeFile[], j: number): Promise<string> {
  const pkg = `packages/pkg${1 + ((j * 7) % 39)}/`; // never pkg0 (its .gitignore)
  const gone = plan.filter((f) => f.path.startsWith(pkg)).length;
  const rest = plan.filter((f) => !f.path.startsWith(pkg));
  let changed = 0;
  for (let k = 0; k < 100; k++) {
    const f = rest[(Math.floor((k * rest.length) / 100) + j) % rest.length] as TreeFile;
    await appendFile(join(root, f.path), `\n// edited by run ${j}, change ${k}\n`);
    changed += f.size;
  }
  await rm(join(root, pkg), { recursive: true });
  for (let k = 0; k < 40; k++) {
    const near = rest[(Math.floor((k * rest.length) / 40) + 1) % rest.length] as TreeFile;
    await writeFile(join(root, dirname(near.path), `added-${j}-${k}.ts`), `export const added = ${j * 100 + k};\n`.repeat(40));
  }
  const fresh = join(root, `packages/pkg${1 + ((j * 7 + 20) % 39)}/src/new-${j}`);
  await mkdir(fresh, { recursive: true }); // its src/ may be new too
  for (let k = 0; k < 10; k++) await writeFile(join(fresh, `mod${k}.ts`), `export const mod = ${k};\n`.repeat(60));
  return `changed 100 files (${(changed / 1048576).toFixed(1)} MB before), deleted ${pkg} (${gone} files), added 50 files (10 in a new folder)`;
}

try {
  const plan = planTree(files, mb * 1024 * 1024);
  const bytes = await buildTree(ws, plan);
  await pause(300); // past the racy-timestamp window
  console.log(
    `workspace: ${plan.length} files, ${(bytes / 1048576).toFixed(0)} MB (bench/snapshot-tree.ts); this build from ${existsSync(fileURLToPath(new URL('snapshot/restore.js', ownDist))) ? 'dist' : 'sources'}; builds: this one${process.env.BENCH_BASE_DIST ? `, base (${process.env.BENCH_BASE_DIST})` : ''}`,
  );
  console.log(`uptime before: ${uptime()}`);
  sync();
  const first = await timeOf(() => snapshotWorkspace(home, ws, settings));
  const manifest = first.value.manifest;
  console.log(`snapshot: ${manifest.entries.length} entries, ${first.value.unstored.length} unstored, taken in ${fmt(first.t)}`);

  // a. The whole tree into new folders: restore(s) and cp -a alternated, the first arm swapping each round.
  const out = join(dir, 'out');
  await mkdir(out);
  type Arm = { label: string; run: (i: number) => Promise<Timed> };
  const arms: Arm[] = builds.map((b, k) => ({
    label: `restore${builds.length > 1 ? ` (${b.label})` : ''}`,
    run: async (i) => {
      const to = join(out, `restore-${k}-${i}`);
      await mkdir(to, { mode: 0o755 });
      return restore(b, to, manifest, undefined);
    },
  }));
  arms.push({ label: 'cp -a', run: async (i) => timeShell(`cp -a '${ws}' '${join(out, `cp-${i}`)}'`) });
  const results: Timed[][] = arms.map(() => []);
  console.log(`a. whole tree into a new folder (moat rollback --to DIR) against cp -a, ${rounds} rounds:`);
  for (let i = 0; i < rounds; i++) {
    const order = arms.map((_, k) => (k + i) % arms.length);
    const line: string[] = [];
    for (const k of order) {
      sync();
      const arm = arms[k] as Arm;
      const r = await arm.run(i);
      results[k]?.push(r);
      line.push(`${arm.label} ${'plan' in r ? fmtRestore(r as Restored) : fmt(r)}`);
    }
    console.log(`  round ${i + 1}: ${line.join(' | ')}`);
  }
  for (const [k, arm] of arms.entries()) {
    const xs = results[k] as Timed[];
    console.log(
      `  ${arm.label.padEnd(7)} median ${ms(median(xs.map((x) => x.wall)))}, CPU ${ms(median(xs.map((x) => x.cpu)))}; best ${ms(Math.min(...xs.map((x) => x.wall)))}`,
    );
  }
  const cp = results.at(-1) as Timed[];
  for (const [k, b] of builds.entries()) {
    const xs = results[k] as Timed[];
    const ratios = xs.map((x, i) => (x.wall / (cp[i] as Timed).wall).toFixed(2));
    console.log(`  restore / cp -a, same round${builds.length > 1 ? ` (${b.label})` : ''}: wall ${ratios.join(', ')}`);
  }
  for (const [k] of builds.entries()) for (let i = 0; i < rounds; i++) check(ws, join(out, `restore-${k}-${i}`), `restore ${k} round ${i + 1}`);
  console.log('  every restored folder equals the workspace (find: paths, types, modes; diff -r: contents)');

  // b. In place, after an agent run, in a copy without hard links to the original.
  const wsb = join(dir, 'wsb');
  execFileSync('cp', ['-a', ws, wsb]);
  await pause(300);
  const pre = (await snapshotWorkspace(home, wsb, settings)).manifest;
  console.log(`b. in-place rollback of an agent run (plan + apply timed), ${rounds} rounds:`);
  const inPlace: Restored[][] = builds.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (let n = 0; n < builds.length; n++) {
      const k = (n + i) % builds.length;
      const b = builds[k] as Build;
      const what = await agentRun(wsb, plan, i * builds.length + n);
      const post = await timeOf(() => snapshotWorkspace(home, wsb, settings));
      sync();
      const r = await restore(b, wsb, pre, post.value.manifest);
      inPlace[k]?.push(r);
      console.log(`  round ${i + 1}${builds.length > 1 ? ` ${b.label}` : ''}: ${fmtRestore(r)} (run: ${what}; post-run snapshot ${fmt(post.t)})`);
      check(ws, wsb, `in-place rollback round ${i + 1} (${b.label})`);
    }
  }
  for (const [k, b] of builds.entries()) {
    const xs = inPlace[k] as Restored[];
    console.log(
      `  in place${builds.length > 1 ? ` (${b.label})` : ''}: median ${ms(median(xs.map((x) => x.wall)))}, CPU ${ms(median(xs.map((x) => x.cpu)))}; every round gave back the pre-run tree`,
    );
  }
  console.log(`uptime after: ${uptime()}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
