import { mkdtemp, mkdir, readdir, rm, symlink, truncate, writeFile, chmod, stat, lstat, lutimes, rename, utimes } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { ObjectStore, sha256 } from '../../../src/snapshot/objects.js';
import { readIndex } from '../../../src/snapshot/packs.js';
import { readManifest } from '../../../src/snapshot/manifest.js';
import { unstoredNote } from '../../../src/snapshot/service.js';
import { takeSnapshot } from '../../../src/snapshot/take.js';

let dir: string;
let ws: string;
let store: ObjectStore;
const settle = () => new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-snap-'));
  ws = join(dir, 'ws');
  await mkdir(ws);
  store = new ObjectStore(join(dir, 'store'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function objectCount(): Promise<number> {
  let n = 0;
  for (const d of await readdir(store.objectsDir).catch(() => [])) n += (await readdir(join(store.objectsDir, d))).length;
  // Objects in packs too (the walk's small contents go there).
  for (const f of await readdir(store.packsDir).catch(() => [] as string[])) {
    const idx = f.endsWith('.idx') ? readIndex(store.packsDir, f.slice(0, -4)) : undefined;
    if (idx instanceof Map) n += idx.size;
  }
  return n;
}

describe('takeSnapshot', () => {
  it('records files, folders, modes and links; stores each content once', async () => {
    await mkdir(join(ws, 'src'));
    await writeFile(join(ws, 'src', 'a.txt'), 'same\n');
    await writeFile(join(ws, 'b.txt'), 'same\n');
    await chmod(join(ws, 'b.txt'), 0o755);
    await symlink('src/a.txt', join(ws, 'link'));
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    const m = await readManifest(store, r.hash);
    expect(m.entries.map((e) => [e.path, e.type])).toEqual([
      ['b.txt', 'file'],
      ['link', 'link'],
      ['src', 'dir'],
      ['src/a.txt', 'file'],
    ]);
    expect(m.entries.find((e) => e.path === 'b.txt')?.mode).toBe(0o755);
    expect(m.entries.find((e) => e.path === 'link')?.target).toBe('src/a.txt');
    expect((await store.read(sha256('same\n'))).toString()).toBe('same\n');
    expect(await objectCount()).toBe(2); // one content + the manifest
  });

  it('honours nested .gitignore files and snapshots.exclude; .git is kept', async () => {
    await mkdir(join(ws, 'node_modules'));
    await writeFile(join(ws, 'node_modules', 'x.js'), 'x');
    await mkdir(join(ws, 'pkg'));
    await writeFile(join(ws, '.gitignore'), 'node_modules/\n');
    await writeFile(join(ws, 'pkg', '.gitignore'), '*.gen\n');
    await writeFile(join(ws, 'pkg', 'a.gen'), 'g');
    await writeFile(join(ws, 'pkg', 'a.ts'), 't');
    await writeFile(join(ws, 'big.iso'), 'i');
    await mkdir(join(ws, '.git'));
    await writeFile(join(ws, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, exclude: ['*.iso'] });
    expect(r.manifest.entries.map((e) => e.path)).toEqual(['.git', '.git/HEAD', '.gitignore', 'pkg', 'pkg/.gitignore', 'pkg/a.ts']);
  });

  it('an unchanged re-snapshot reads no file; a changed file is read again', async () => {
    for (let i = 0; i < 50; i++) await writeFile(join(ws, `f${i}`), `content ${i}`);
    await settle();
    const first = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(first.read).toBe(50);
    await settle();
    const again = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: first.manifest });
    expect(again.read).toBe(0);
    expect(again.manifest.entries).toEqual(first.manifest.entries);
    await writeFile(join(ws, 'f3'), 'changed');
    const third = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: again.manifest });
    expect(third.read).toBe(1);
    expect(third.manifest.entries.find((e) => e.path === 'f3')?.hash).toBe(sha256('changed'));
  });

  it('an unchanged workspace gives the previous manifest back (nothing written); any change gives a new one', async () => {
    await writeFile(join(ws, 'a'), 'a');
    await mkdir(join(ws, 'd'));
    await settle();
    const first = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    await settle();
    const objects = await objectCount();
    const again = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: first.manifest, previousHash: first.hash });
    expect(again.hash).toBe(first.hash);
    expect(await objectCount()).toBe(objects);
    // A mode change alone (no content read: the ctime moves, so the file is read again) is a new manifest.
    await chmod(join(ws, 'a'), 0o700);
    await settle();
    const moded = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: again.manifest, previousHash: again.hash });
    expect(moded.hash).not.toBe(first.hash);
    expect((await readManifest(store, moded.hash)).entries.find((e) => e.path === 'a')?.mode).toBe(0o700);
    await settle();
    // A folder's mtime (an entry added then removed) is part of the tree as recorded.
    await writeFile(join(ws, 'd', 'tmp'), 'x');
    await rm(join(ws, 'd', 'tmp'));
    const touched = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: moded.manifest, previousHash: moded.hash });
    expect(touched.read).toBe(0);
    expect(touched.hash).not.toBe(moded.hash);
  });

  it('a temp file left in a fan-out folder is never taken for an object', async () => {
    const { hash } = await store.putBuffer(Buffer.from('x')); // a loose object (the walk's go to a pack)
    await writeFile(join(store.objectsDir, hash.slice(0, 2), '.tmp-1.ab.0'), 'half');
    expect(store.putBytesSync(Buffer.from('x')).added).toBe(0);
    expect((await new ObjectStore(store.root).putBuffer(Buffer.from('x'))).added).toBe(0);
    expect((await store.read(hash)).toString()).toBe('x');
  });
});

describe('hostile workspaces', () => {
  it('hostile-snapshot-symlink-out: a link to a host secret is stored as a link; the secret is never read', async () => {
    await writeFile(join(dir, 'secret'), 'HOST SECRET');
    await symlink(join(dir, 'secret'), join(ws, 'leak'));
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'key'), 'OUTSIDE KEY');
    await symlink(join(dir, 'outside'), join(ws, 'dirlink'));
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(r.manifest.entries.map((e) => [e.path, e.type])).toEqual([
      ['dirlink', 'link'],
      ['leak', 'link'],
    ]);
    expect(await store.has(sha256('HOST SECRET'))).toBe(false);
    expect(await store.has(sha256('OUTSIDE KEY'))).toBe(false);
  });

  it('hostile-snapshot-fifo-device: a FIFO (and a socket-like special file) is recorded, never opened; the snapshot returns', async () => {
    execFileSync('mkfifo', [join(ws, 'pipe')]);
    await writeFile(join(ws, 'ok'), 'fine');
    const t0 = Date.now();
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.manifest.entries.map((e) => [e.path, e.type])).toEqual([
      ['ok', 'file'],
      ['pipe', 'other'],
    ]);
  });

  it('hostile-snapshot-many-files: more entries than snapshots.max_files stop the walk with an error naming the setting', async () => {
    await mkdir(join(ws, 'd'));
    await Promise.all(Array.from({ length: 3000 }, (_, i) => writeFile(join(ws, 'd', `e${i}`), '')));
    const t0 = Date.now();
    await expect(takeSnapshot({ workspace: ws, store, limits: { ...DEFAULT_LIMITS, maxFiles: 1000 } })).rejects.toThrow(/more than 1000 files and folders.*/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await objectCount()).toBe(0); // nothing stored for a refused snapshot
  });

  it('hostile-snapshot-sparse-huge-file: a sparse terabyte is recorded by size only, never read', async () => {
    await writeFile(join(ws, 'huge'), '');
    await truncate(join(ws, 'huge'), 2 ** 40);
    const t0 = Date.now();
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.manifest.entries[0]).toMatchObject({ path: 'huge', size: 2 ** 40, why: 'too-large' });
    expect(r.manifest.entries[0]?.hash).toBeUndefined();
  });

  it('hostile-snapshot-byte-budget: files past snapshots.max_bytes are not stored (the store grows by at most the budget)', async () => {
    for (let i = 0; i < 10; i++) await writeFile(join(ws, `f${i}`), Buffer.alloc(100_000, i));
    const r = await takeSnapshot({ workspace: ws, store, limits: { ...DEFAULT_LIMITS, maxBytes: 350_000 } });
    expect(r.added).toBeLessThanOrEqual(350_000);
    expect(r.unstored.length).toBe(7);
    expect(r.unstored.every((e) => e.why === 'over-budget')).toBe(true);
  });

  it('hostile-snapshot-budget-unreadable: a file that cannot be opened as it was seen spends none of the byte budget and says why it has no content', async () => {
    await writeFile(join(ws, 'a.bin'), Buffer.alloc(200_000, 1));
    await writeFile(join(ws, 'b.bin'), Buffer.alloc(120_000, 2));
    await writeFile(join(ws, 'c.bin'), Buffer.alloc(120_000, 3));
    // a.bin is swapped for another file between the walk's lstat and its open (a run racing the walk).
    const swap = (path: string): void => {
      if (path !== 'a.bin') return;
      writeFileSync(join(ws, 'a.tmp'), 'swapped in');
      renameSync(join(ws, 'a.tmp'), join(ws, 'a.bin'));
    };
    const r = await takeSnapshot({ workspace: ws, store, limits: { ...DEFAULT_LIMITS, maxBytes: 300_000 }, parallel: false, beforeOpen: swap });
    const by = new Map(r.manifest.entries.map((e) => [e.path, e]));
    expect(by.get('a.bin')).toMatchObject({ why: 'unreadable' });
    expect(by.get('a.bin')?.hash).toBeUndefined();
    // Its 200 KB went back to the budget: both later files were stored.
    expect(by.get('b.bin')?.hash).toBe(sha256(Buffer.alloc(120_000, 2)));
    expect(by.get('c.bin')?.hash).toBe(sha256(Buffer.alloc(120_000, 3)));
    expect(unstoredNote(r)).toContain('a.bin (could not be read)');
  });

  it('a file left without its content (the budget, the size limit) is stored by a later snapshot once that allows it, unchanged as it is', async () => {
    await writeFile(join(ws, 'f1'), Buffer.alloc(100_000, 1));
    await writeFile(join(ws, 'f2'), Buffer.alloc(100_000, 2));
    await writeFile(join(ws, 'big'), Buffer.alloc(300_000, 3));
    await settle();
    const tight = { ...DEFAULT_LIMITS, maxBytes: 150_000, maxFileSize: 200_000 };
    const first = await takeSnapshot({ workspace: ws, store, limits: tight });
    expect(first.unstored.map((e) => [e.path, e.why])).toEqual([
      ['big', 'too-large'],
      ['f2', 'over-budget'],
    ]);
    await settle();
    // The same limits: the file too large is still vouched for (not read); the one over the budget is tried again.
    const same = await takeSnapshot({ workspace: ws, store, limits: tight, previous: first.manifest, previousHash: first.hash });
    expect(same.read).toBe(1);
    expect(same.unstored.map((e) => e.path)).toEqual(['big']);
    await settle();
    // Limits raised: the file too large before is read now.
    const roomy = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: same.manifest, previousHash: same.hash });
    expect(roomy.read).toBe(1);
    expect(roomy.unstored).toEqual([]);
    expect(roomy.manifest.entries.find((e) => e.path === 'big')?.hash).toBe(sha256(Buffer.alloc(300_000, 3)));
  });

  it('hostile-snapshot-bad-names-count: a large folder of names that are not UTF-8 counts against snapshots.max_files', async () => {
    const d = join(ws, 'junk');
    await mkdir(d);
    // Long names, so the folder is large (listed in batches, not in one call), none of them UTF-8.
    for (let i = 0; i < 6000; i++) writeFileSync(Buffer.concat([Buffer.from(`${d}/`), Buffer.from([0xff, 0xfe]), Buffer.from(`${'x'.repeat(40)}${i}`)]), '');
    expect((await stat(d)).size).toBeGreaterThanOrEqual(256 * 1024);
    await expect(takeSnapshot({ workspace: ws, store, limits: { ...DEFAULT_LIMITS, maxFiles: 1000 } })).rejects.toMatchObject({
      code: 'E_REFUSED',
      message: expect.stringMatching(/more than 1000 files/),
    });
  });

  it('hostile-snapshot-deep-tree: folders past snapshots depth are recorded, not entered', async () => {
    let p = ws;
    for (let i = 0; i < 12; i++) {
      p = join(p, 'd');
      await mkdir(p);
    }
    const r = await takeSnapshot({ workspace: ws, store, limits: { ...DEFAULT_LIMITS, maxDepth: 5 } });
    expect(r.manifest.entries.length).toBe(5);
    expect(r.manifest.skippedCount).toBe(1);
  });

  it('hostile-snapshot-non-utf8-name: a name that is not UTF-8 is left out and counted, not mangled', async () => {
    await writeFile(Buffer.from([...Buffer.from(`${ws}/`), 0xff, 0xfe]), 'x');
    await writeFile(join(ws, 'fine'), 'y');
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(r.manifest.entries.map((e) => e.path)).toEqual(['fine']);
    expect(r.manifest.skipped[0]?.why).toMatch(/not UTF-8/);
  });

  it('hostile-snapshot-long-path: a path longer than a manifest may hold is left out and named; the snapshot still reads back', async () => {
    const seg = 'd'.repeat(250);
    // 18 folders of 250 characters (built relative to each other: the whole path is past PATH_MAX).
    await writeFile(join(ws, 'fine'), 'y');
    try {
      const build = 'chdir $ARGV[0] or die; for (1 .. 18) { mkdir $ARGV[1] or die; chdir $ARGV[1] or die } open(my $f, ">", "f") or die';
      execFileSync('perl', ['-e', build, ws, seg]);
      const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
      expect(r.manifest.skipped.some((x) => /longer than 4096 characters/.test(x.why))).toBe(true);
      const back = await readManifest(store, r.hash);
      expect(back.entries.some((e) => e.path === 'fine')).toBe(true);
      expect(back.entries.filter((e) => e.path.startsWith(seg)).length).toBe(16);
    } finally {
      execFileSync('rm', ['-rf', join(ws, seg)]);
    }
  });

  it('hostile-snapshot-stat-cache-link-swap: a file replaced by a link with the same size and mtime is recorded as the link, its old hash not reused', async () => {
    await writeFile(join(dir, 'secret'), 'HOST SECRET');
    await writeFile(join(ws, 'f'), 'x'.repeat(join(dir, 'secret').length));
    await settle();
    const first = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    const before = first.manifest.entries[0]!;
    await settle();
    await rm(join(ws, 'f'));
    await symlink(join(dir, 'secret'), join(ws, 'f'));
    // Same size (the target's path length) and the same mtime as the file it replaced.
    const t = new Date(before.mtime);
    await lutimes(join(ws, 'f'), t, t);
    expect((await lstat(join(ws, 'f'))).size).toBe(before.size);
    await settle();
    const again = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: first.manifest });
    expect(again.manifest.entries).toEqual([expect.objectContaining({ path: 'f', type: 'link', target: join(dir, 'secret') })]);
    expect(again.manifest.entries[0]?.hash).toBeUndefined();
    expect(await store.has(sha256('HOST SECRET'))).toBe(false);
  });

  it('hostile-snapshot-stat-cache-same-stat: a file replaced by another of the same size and mtime is read again (its ctime and inode say so)', async () => {
    await writeFile(join(ws, 'f'), 'aaaa');
    const when = new Date(Math.floor(Date.now() / 1000 - 60) * 1000); // whole seconds: put back exactly below
    await utimes(join(ws, 'f'), when, when);
    await settle();
    const first = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    const before = first.manifest.entries[0]!;
    await settle();
    await writeFile(join(ws, 'g'), 'bbbb');
    await rename(join(ws, 'g'), join(ws, 'f'));
    await utimes(join(ws, 'f'), when, when);
    await settle();
    const again = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: first.manifest });
    expect(again.read).toBe(1);
    expect(before.mtime).toBe(when.getTime());
    expect(again.manifest.entries[0]).toMatchObject({ path: 'f', size: 4, mtime: before.mtime, hash: sha256('bbbb') });
    // The same inode rewritten in place, size and mtime put back: its ctime moved, so it is read again too.
    await settle();
    await writeFile(join(ws, 'f'), 'cccc');
    await utimes(join(ws, 'f'), when, when);
    await settle();
    const third = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS, previous: again.manifest });
    expect(third.read).toBe(1);
    expect(third.manifest.entries[0]?.hash).toBe(sha256('cccc'));
  });

  it('hostile-snapshot-unreadable-file: an unreadable file does not stop the snapshot', async () => {
    await writeFile(join(ws, 'locked'), 'x');
    await chmod(join(ws, 'locked'), 0);
    await writeFile(join(ws, 'open'), 'y');
    const r = await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS });
    expect(r.manifest.entries.map((e) => e.path)).toEqual(['locked', 'open']);
    expect((await stat(join(ws, 'locked'))).mode & 0o777).toBe(0);
  });
});
