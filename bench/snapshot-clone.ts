/**
 * First snapshots with reflink clones against copies, on an XFS image (reflink=1) on a loop device: the
 * bench tree (snapshot-tree.ts, BENCH_FILES files, default 10,000, BENCH_MB MB, default 500) in it, then
 * each round one first snapshot into a new store with clones and one with them off (MOAT_BENCH_NO_CLONE=1,
 * read by clone.ts, reaching the helper thread too), in alternating order, BENCH_ROUNDS rounds (default 3):
 * the snapshot's wall and CPU time, the time of the `sync -f` after it (the copies' writeback), and the
 * file system's space used by the store (statfs after that sync). Stores are kept until the end (XFS
 * frees a removed file's blocks in the background, which would blur the next store's figure).
 * Each snapshot starts cold, as a first snapshot of a workspace not read lately does: the loop device reads
 * its image with direct I/O (no host page cache) and the image is unmounted and mounted again before each
 * (its page cache dropped, no one else's); BENCH_WARM=1 leaves the tree in the page cache instead.
 * Runs as root (losetup, mount); unmounts and detaches the image at the end. Prints numbers, asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS } from '../src/snapshot/limits.js';
import type * as Objects from '../src/snapshot/objects.js';
import type * as Take from '../src/snapshot/take.js';
import { fmt, load, time } from './lib/timing.js';
import { buildTree, planTree } from './snapshot-tree.js';

// The built code when there is one (its helper thread then loads compiled JavaScript), else the sources.
const built = existsSync(fileURLToPath(new URL('../dist/snapshot/take.js', import.meta.url)));
const from = (m: string): string => (built ? `../dist/snapshot/${m}.js` : `../src/snapshot/${m}.js`);
const { ObjectStore } = (await import(from('objects'))) as typeof Objects;
const { takeSnapshot } = (await import(from('take'))) as typeof Take;

const files = Number(process.env.BENCH_FILES ?? 10_000);
const mb = Number(process.env.BENCH_MB ?? 500);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const warm = process.env.BENCH_WARM === '1';
const MB = 1024 * 1024;

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const used = (path: string): number => {
  const s = statfsSync(path);
  return (s.blocks - s.bfree) * s.bsize;
};

if (process.getuid?.() !== 0) throw new Error('bench/snapshot-clone.ts mounts an XFS image: run it as root.');
const dir = await mkdtemp(join(tmpdir(), 'moat-bench-clone-'));
const img = join(dir, 'xfs.img');
const mnt = join(dir, 'mnt');
let dev = '';
let mounted = false;
try {
  sh('truncate', ['-s', '4G', img]); // sparse: 500 MB of tree, three copied stores and three cloned ones
  sh('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
  dev = sh('losetup', ['--find', '--show', '--direct-io=on', img]).trim();
  await mkdir(mnt);
  sh('mount', [dev, mnt]);
  mounted = true;
  const ws = join(mnt, 'ws');
  const plan = planTree(files, mb * MB);
  const total = await buildTree(ws, plan);
  const loose = plan.filter((f) => f.size > 8 * MB).reduce((n, f) => n + f.size, 0);
  sh('sync', ['-f', mnt]);
  console.log(
    `tree: ${plan.length} files, ${(total / MB).toFixed(0)} MB (${(loose / MB).toFixed(0)} MB in files over 8 MiB: loose objects), built ${built ? 'dist' : 'src'}, ${warm ? 'warm' : 'cold'} cache`,
  );
  console.log(`uptime: ${sh('uptime', []).trim()}`);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['clone', 'copy'] as const) : (['copy', 'clone'] as const);
    for (const arm of order) {
      const root = join(mnt, `store-${arm}-${r}`);
      if (arm === 'copy') process.env.MOAT_BENCH_NO_CLONE = '1';
      else delete process.env.MOAT_BENCH_NO_CLONE;
      if (!warm) {
        sh('umount', [mnt]);
        mounted = false;
        sh('mount', [dev, mnt]);
        mounted = true;
      }
      const before = used(mnt);
      const t = await time(() => takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS }));
      const s = await time(() => sh('sync', ['-f', mnt]));
      const grown = used(mnt) - before;
      const row = `round ${r + 1} ${arm}: snapshot ${fmt(t)}, then sync ${s.wall.toFixed(0)} ms; store space ${(grown / MB).toFixed(1)} MB; load ${load()}`;
      console.log(row);
    }
  }
  delete process.env.MOAT_BENCH_NO_CLONE;
  console.log(`uptime: ${sh('uptime', []).trim()}`);
} finally {
  try {
    if (mounted) sh('umount', [mnt]);
  } catch (err) {
    console.error(`umount ${mnt}: ${String(err)}`);
  }
  if (dev) {
    try {
      sh('losetup', ['-d', dev]);
    } catch {
      // detached with the unmount (autoclear)
    }
  }
  await rm(dir, { recursive: true, force: true });
}
