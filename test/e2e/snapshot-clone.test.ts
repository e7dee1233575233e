/**
 * Snapshots on file systems with reflinks (src/snapshot/clone.ts): XFS (reflink=1) and btrfs images on loop
 * devices, each holding a workspace and a store. A 40 MB file is cloned into the store (the file system's
 * used space barely grows; the same file copied grows it by 40 MB), its object holds the file's bytes under
 * their hash, a file changed while its clone is hashed is stored with the bytes its hash names, and a
 * restore clones the object back without writing anywhere but the target. A store on the machine's own
 * /tmp (ext4 or tmpfs: no clone across file systems, nor reflinks) falls back to copies and still stores
 * and restores right. Runs as root (mkfs, losetup, mount; scripts/setup.sh installs xfsprogs and
 * btrfs-progs); a missing tool is a failure, never a skip. Every image is unmounted and detached at the end.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, statfsSync, writeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cloner } from '../../src/snapshot/clone.js';
import { O_READ } from '../../src/snapshot/fsat.js';
import { DEFAULT_LIMITS } from '../../src/snapshot/limits.js';
import type { Manifest } from '../../src/snapshot/manifest.js';
import { ObjectStore } from '../../src/snapshot/objects.js';
import { applyRestore, planRestore } from '../../src/snapshot/restore.js';
import { takeSnapshot } from '../../src/snapshot/take.js';

const MB = 1024 * 1024;
const BIG = 40 * MB;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const all = (): boolean => true;

type Fs = 'xfs' | 'btrfs';
const MKFS: Record<Fs, { tool: string; args: string[]; size: string; pkg: string }> = {
  xfs: { tool: 'mkfs.xfs', args: ['-q', '-m', 'reflink=1'], size: '512M', pkg: 'xfsprogs' },
  btrfs: { tool: 'mkfs.btrfs', args: ['-q'], size: '640M', pkg: 'btrfs-progs' },
};

let dir: string;
const mounts: Array<{ mnt: string; dev: string }> = [];
const mnt = {} as Record<Fs, string>;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Bytes in use on the file system holding `path`, its writes flushed first. */
function used(path: string): number {
  run('sync', ['-f', path]);
  const s = statfsSync(path);
  return (s.blocks - s.bfree) * s.bsize;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('snapshot-clone.test.ts makes and mounts file system images: run the e2e suite as root.');
  for (const [fs, m] of Object.entries(MKFS)) {
    try {
      run('which', [m.tool]);
    } catch {
      throw new Error(`${m.tool} is missing (for the ${fs} image of this test): run \`sudo bash scripts/setup.sh\` (or apt-get install -y ${m.pkg}).`);
    }
  }
  dir = await mkdtemp(join(tmpdir(), 'moat-e2e-clone-'));
  for (const fs of Object.keys(MKFS) as Fs[]) {
    const m = MKFS[fs];
    const img = join(dir, `${fs}.img`);
    run('truncate', ['-s', m.size, img]);
    run(m.tool, [...m.args, img]);
    let dev: string;
    try {
      dev = run('losetup', ['--find', '--show', img]).trim();
    } catch (err) {
      throw new Error(`No loop device could be attached for the ${fs} image (losetup: ${(err as { stderr?: string }).stderr?.trim() ?? String(err)}).`);
    }
    mnt[fs] = join(dir, fs);
    await mkdir(mnt[fs]);
    try {
      run('mount', [dev, mnt[fs]]);
    } catch (err) {
      run('losetup', ['-d', dev]);
      throw new Error(`The ${fs} image could not be mounted (${(err as { stderr?: string }).stderr?.trim() ?? String(err)}).`);
    }
    mounts.push({ mnt: mnt[fs], dev });
  }
}, 120_000);

afterAll(async () => {
  const problems: string[] = [];
  for (const { mnt: m, dev } of mounts) {
    for (const args of [[m], ['-l', m]]) {
      try {
        run('umount', args);
        break;
      } catch (err) {
        if (args.length === 2) problems.push(`umount ${m}: ${String(err)}`);
      }
    }
    try {
      run('losetup', ['-d', dev]);
    } catch {
      // already detached (autoclear)
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(problems.join('\n'));
});

/** A workspace with a large file (fsynced, so its blocks are allocated before anything is measured) and small ones. */
async function workspace(root: string, files: Record<string, number> = { 'big.bin': BIG }): Promise<Record<string, Buffer>> {
  await mkdir(join(root, 'src'), { recursive: true });
  await writeFile(join(root, 'src', 'a.txt'), 'small\n');
  const out: Record<string, Buffer> = {};
  for (const [name, size] of Object.entries(files)) {
    const data = randomBytes(size);
    const fd = openSync(join(root, name), 'wx', 0o644);
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    out[name] = data;
  }
  return out;
}

const entry = (m: Manifest, path: string): { hash?: string; size?: number } => m.entries.find((e) => e.path === path) ?? {};

/** Every name under `root` (but the `skip` folders), with what it is, its size and its modification time. */
async function listing(root: string, skip: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = await lstat(p);
      out.push(`${relative(root, p)} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out.sort();
}

describe.each(['xfs', 'btrfs'] as const)('snapshots on %s: large files cloned', (fs) => {
  it('a 40 MB file is cloned into the store by the helper thread: used space grows by far less than 40 MB (a copy grows it by 40), the object is the file under its hash', async () => {
    const ws = join(mnt[fs], 'ws1');
    const { 'big.bin': data } = await workspace(ws);
    const before = used(mnt[fs]);
    // Stored by the walk's helper thread (every file of 64 KiB and more left to it).
    const r = await takeSnapshot({
      workspace: ws,
      store: new ObjectStore(join(mnt[fs], 'store1')),
      limits: DEFAULT_LIMITS,
      parallel: { startBytes: 0, leaveQueued: true },
    });
    const grown = used(mnt[fs]) - before;
    const e = entry(r.manifest, 'big.bin');
    expect(e).toMatchObject({ hash: sha(data as Buffer), size: BIG });
    const object = await readFile(new ObjectStore(join(mnt[fs], 'store1')).path(e.hash ?? ''));
    expect(object.equals(data as Buffer)).toBe(true);
    expect(sha(object)).toBe(e.hash);
    expect(grown, `${fs} grew by ${grown} bytes`).toBeLessThan(4 * MB);

    // The same file copied (clones refused) on the same file system: the measure sees the 40 MB.
    const refuse = new Cloner(() => {
      throw Object.assign(new Error('no'), { code: 'EOPNOTSUPP' });
    });
    const before2 = used(mnt[fs]);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(join(mnt[fs], 'store-copy'), { cloner: refuse }), limits: DEFAULT_LIMITS, parallel: false });
    expect(used(mnt[fs]) - before2).toBeGreaterThan(BIG - MB);
  });

  it('hostile-snapshot-clone-race: a file rewritten while its clone is hashed is stored with the bytes its hash names', async () => {
    const ws = join(mnt[fs], 'ws2');
    const { 'big.bin': data } = await workspace(ws);
    const store = new ObjectStore(join(mnt[fs], 'store2'));
    const path = join(ws, 'big.bin');
    const fd = openSync(path, O_READ);
    const other = randomBytes(BIG);
    let rewrites = 0;
    const r = await store
      .putFd(fd, DEFAULT_LIMITS.maxFileSize, Buffer.allocUnsafe(8 * MB), async () => {
        // The run rewrites the file in place between two chunks of the hashing.
        rewrites++;
        const w = openSync(path, constants.O_WRONLY);
        writeSync(w, other, 0, BIG, 0);
        closeSync(w);
      })
      .finally(() => closeSync(fd));
    expect(rewrites).toBeGreaterThan(2);
    expect(r).toMatchObject({ hash: sha(data as Buffer), size: BIG });
    const object = await readFile(store.path(r?.hash ?? ''));
    expect(sha(object)).toBe(r?.hash);
    expect(object.equals(data as Buffer)).toBe(true);
    expect((await readFile(path)).equals(data as Buffer)).toBe(false); // the workspace did change
  });

  it('hostile-rollback-clone: a restore clones objects back (little space used), right bytes, nothing written outside the targets', async () => {
    const ws = join(mnt[fs], 'ws3');
    const outside = join(mnt[fs], 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'OUTSIDE');
    const data = await workspace(ws, { 'big.bin': BIG, 'big2.bin': 20 * MB });
    const store = new ObjectStore(join(mnt[fs], 'store3'));
    const snap = async (): Promise<Manifest> => (await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS })).manifest;
    const then = await snap();
    // The run removes one file and puts a link to a file outside where the other was.
    await rm(join(ws, 'big.bin'));
    await rm(join(ws, 'big2.bin'));
    await symlink(join(outside, 'victim'), join(ws, 'big2.bin'));
    const now = await snap();
    const around = await listing(mnt[fs], [ws]);
    const before = used(mnt[fs]);
    const report = await applyRestore(ws, store, planRestore(then, now, all));
    const grown = used(mnt[fs]) - before;
    expect(report.skipped).toEqual([]);
    expect((await readFile(join(ws, 'big.bin'))).equals(data['big.bin'] as Buffer)).toBe(true);
    expect((await lstat(join(ws, 'big2.bin'))).isFile()).toBe(true);
    expect((await readFile(join(ws, 'big2.bin'))).equals(data['big2.bin'] as Buffer)).toBe(true);
    expect(((await lstat(join(ws, 'big.bin'))).mode & 0o7777).toString(8)).toBe('644');
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('OUTSIDE');
    expect(await listing(mnt[fs], [ws])).toEqual(around);
    expect((await readdir(ws)).sort()).toEqual(['big.bin', 'big2.bin', 'src']);
    expect(grown, `${fs} grew by ${grown} bytes`).toBeLessThan(4 * MB);
  });
});

describe('a store where no clone can be made (the machine’s /tmp)', () => {
  let local: string;
  beforeAll(async () => {
    local = await mkdtemp(join(tmpdir(), 'moat-e2e-noclone-'));
  });
  afterAll(async () => {
    await rm(local, { recursive: true, force: true });
  });

  it.each([
    ['a workspace on XFS (another file system: EXDEV)', 'xfs'],
    ['a workspace beside it (no reflinks)', 'local'],
  ] as const)('%s: copies stored under the right hash, restored right, nothing written outside the target', async (_, where) => {
    const base = where === 'xfs' ? mnt.xfs : local;
    const ws = join(base, 'ws-noclone');
    const outside = join(base, 'outside-noclone');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'OUTSIDE');
    const { 'big.bin': data } = await workspace(ws);
    const store = new ObjectStore(join(local, `store-${where}`));
    const snap = async (): Promise<Manifest> => (await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS })).manifest;
    const then = await snap();
    const e = entry(then, 'big.bin');
    expect(e.hash).toBe(sha(data as Buffer));
    const object = await readFile(store.path(e.hash ?? ''));
    expect(sha(object)).toBe(e.hash);
    await rm(join(ws, 'big.bin'));
    await symlink(join(outside, 'victim'), join(ws, 'big.bin'));
    const now = await snap();
    const around = await listing(base, [ws, join(local, `store-${where}`)]);
    const report = await applyRestore(ws, store, planRestore(then, now, all));
    expect(report.skipped).toEqual([]);
    expect((await lstat(join(ws, 'big.bin'))).isFile()).toBe(true);
    expect((await readFile(join(ws, 'big.bin'))).equals(data as Buffer)).toBe(true);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('OUTSIDE');
    await expect(readlink(join(ws, 'big.bin'))).rejects.toThrow();
    expect(await listing(base, [ws, join(local, `store-${where}`)])).toEqual(around);
  });
});
