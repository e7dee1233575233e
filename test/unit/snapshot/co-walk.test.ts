/**
 * The snapshot's second walker (co-walk.ts, walk-worker.ts): whatever folders it walks, the snapshot records
 * exactly what one walking thread records, under the same bounds, and a failure on either side leaves no
 * descriptor open and no sealed pack of its own.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoWalkOptions } from '../../../src/snapshot/co-walk.js';
import { DEFAULT_LIMITS, type SnapshotLimits } from '../../../src/snapshot/limits.js';
import type { Manifest } from '../../../src/snapshot/manifest.js';
import { ObjectStore } from '../../../src/snapshot/objects.js';
import { takeSnapshot, type TakeOptions, type TakeResult } from '../../../src/snapshot/take.js';

let dir: string;
let ws: string;
/** The second walker starts with the walk and is ready before it begins: it is handed the first subfolder. */
const CO: CoWalkOptions = { startFiles: 0, awaitReady: true };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-cowalk-'));
  ws = join(dir, 'ws');
  await mkdir(ws);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(path: string, content: string | Buffer): Promise<void> {
  await mkdir(join(ws, path, '..'), { recursive: true });
  await writeFile(join(ws, path), content);
}

/**
 * `a-big/` first (the second walker's: many folders, so that it hands some back once the walk is idle),
 * then small folders the walk keeps; nested .gitignore files with a negation, an excluded glob, links (one
 * to /), a FIFO, a name that is not UTF-8, a file over 64 KiB.
 */
async function tree(): Promise<void> {
  for (let d = 0; d < 40; d++) {
    for (let f = 0; f < 25; f++) await put(`a-big/d${d}/sub/f${f}.txt`, `big ${d} ${f}\n`.repeat(1 + f));
    await put(`a-big/d${d}/x.log`, 'ignored by the root .gitignore\n');
  }
  await put('.gitignore', '*.log\n/b-src/gen/\n');
  await put('a-big/d3/.gitignore', '!keep.log\nsub/f1*.txt\n');
  await put('a-big/d3/keep.log', 'kept by a negation in a folder the second walker walks\n');
  await put('b-src/main.ts', 'export {};\n');
  await put('b-src/gen/out.js', 'ignored folder\n');
  await put('b-src/secret.tmp', 'excluded by snapshots.exclude\n');
  await put('c-assets/blob.bin', Buffer.alloc(200_000, 7));
  await symlink('/', join(ws, 'a-big/d5/escape'));
  await symlink('../../b-src/main.ts', join(ws, 'a-big/d6/rel'));
  execFileSync('mkfifo', [join(ws, 'a-big/d7/pipe')]);
  await writeFile(Buffer.concat([Buffer.from(join(ws, 'a-big/d8/bad-')), Buffer.from([0xff]), Buffer.from('.txt')]), 'not UTF-8');
  // Older than the next walk's racy window, so an unchanged re-snapshot reuses every listing.
  await new Promise((r) => setTimeout(r, 250));
}

const take = (store: ObjectStore, o: Partial<TakeOptions> = {}, limits: SnapshotLimits = DEFAULT_LIMITS): Promise<TakeResult> =>
  takeSnapshot({ workspace: ws, store, limits, exclude: ['*.tmp'], ...o });

const fds = (): number => readdirSync('/proc/self/fd').length;
const record = (m: Manifest) => ({ entries: m.entries, skipped: m.skipped, skippedCount: m.skippedCount, root: m.root });

describe('the second walker (co-walk.ts)', () => {
  it('records exactly what one walking thread records, both ways of handing folders used; an unchanged re-snapshot lists no more than it', async () => {
    await tree();
    const one = await take(new ObjectStore(join(dir, 'one')), { coWalk: false });
    const store = new ObjectStore(join(dir, 'two'));
    const before = fds();
    const two = await take(store, { coWalk: CO });
    expect(fds()).toBe(before);
    expect(two.coWalked).toBeGreaterThan(0);
    expect(two.handedBack).toBeGreaterThan(0);
    expect(record(two.manifest)).toEqual(record(one.manifest));
    expect(two.read).toBe(one.read);
    expect(two.listed).toBe(one.listed);
    // What the rules and the walk's safety say, whoever walked the folder:
    const paths = new Set(two.manifest.entries.map((e) => e.path));
    expect(paths.has('a-big/d3/keep.log')).toBe(true);
    expect(paths.has('a-big/d4/x.log')).toBe(false);
    expect(paths.has('a-big/d3/sub/f1.txt')).toBe(false);
    expect(paths.has('a-big/d3/sub/f2.txt')).toBe(true);
    expect(paths.has('b-src/gen')).toBe(false);
    expect(paths.has('b-src/secret.tmp')).toBe(false);
    expect(two.manifest.entries.find((e) => e.path === 'a-big/d5/escape')).toMatchObject({ type: 'link', target: '/' });
    expect([...paths].some((p) => p.startsWith('a-big/d5/escape/'))).toBe(false);
    expect(two.manifest.entries.find((e) => e.path === 'a-big/d7/pipe')).toMatchObject({ type: 'other' });
    expect(two.manifest.skipped).toEqual([{ path: 'a-big/d8/bad-\uFFFD.txt', why: 'name is not UTF-8' }]);
    // Every content it names is in the store (the second walker's pack sealed before the manifest).
    for (const e of two.manifest.entries) if (e.hash) expect(await store.has(e.hash)).toBe(true);

    // The listing states of the folders one thread handed the other were merged: only a-big/d8 is listed
    // again (a folder with a name left out is listed every time), as after one walking thread.
    const again = await take(store, { coWalk: CO, previous: two.manifest, previousHash: two.hash });
    const againOne = await take(new ObjectStore(join(dir, 'one')), { coWalk: false, previous: one.manifest, previousHash: one.hash });
    expect(again.hash).toBe(two.hash);
    expect(again.read).toBe(0);
    expect(againOne.listed).toBe(1);
    expect(again.listed).toBe(1);
  });

  it('a re-snapshot with changes: the second walker reads the previous manifest itself and vouches as the walk does', async () => {
    await tree();
    const store = new ObjectStore(join(dir, 'store'));
    const first = await take(store, { coWalk: CO });
    for (let d = 0; d < 40; d += 3) await put(`a-big/d${d}/sub/f0.txt`, `changed ${d}\n`);
    await put('a-big/d9/new.txt', 'new\n');
    const prev = { previous: first.manifest, previousHash: first.hash };
    const one = await take(new ObjectStore(join(dir, 'store')), { ...prev, coWalk: false });
    const two = await take(new ObjectStore(join(dir, 'store')), { ...prev, coWalk: CO });
    expect(two.coWalked).toBeGreaterThan(0);
    expect(record(two.manifest)).toEqual(record(one.manifest));
    expect(two.read).toBe(one.read);
    expect(two.read).toBe(15);
  });

  it('the file limit holds for both walkers together: a refusal, no descriptor left open, no pack sealed', async () => {
    await tree();
    const store = new ObjectStore(join(dir, 'store'));
    const limits = { ...DEFAULT_LIMITS, maxFiles: 600 };
    const before = fds();
    await expect(take(store, { coWalk: CO }, limits)).rejects.toMatchObject({ code: 'E_REFUSED', message: expect.stringMatching(/more than 600 files/) });
    expect(fds()).toBe(before);
    const packs = await readdir(store.packsDir).catch(() => [] as string[]);
    expect(packs.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('the byte budget is one for both walkers', async () => {
    await tree();
    const limits = { ...DEFAULT_LIMITS, maxBytes: 40_000 };
    const r = await take(new ObjectStore(join(dir, 'store')), { coWalk: CO }, limits);
    expect(r.coWalked).toBeGreaterThan(0);
    const stored = r.manifest.entries.filter((e) => e.type === 'file' && e.hash).reduce((n, e) => n + e.size, 0);
    expect(stored).toBeLessThanOrEqual(40_000);
    expect(r.manifest.entries.filter((e) => e.why === 'over-budget').length).toBeGreaterThan(100);
  });

  it('a second walker that fails fails the snapshot with its error; no descriptor is left open', async () => {
    await tree();
    const store = new ObjectStore(join(dir, 'store'));
    const before = fds();
    await expect(take(store, { coWalk: { ...CO, failAfter: 0 } })).rejects.toThrow(/snapshot walker fault/);
    expect(fds()).toBe(before);
    const packs = await readdir(store.packsDir).catch(() => [] as string[]);
    expect(packs.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('a second walker that cannot start leaves the walk to walk alone (the same manifest)', async () => {
    await tree();
    const one = await take(new ObjectStore(join(dir, 'one')), { coWalk: false });
    const r = await take(new ObjectStore(join(dir, 'two')), { coWalk: { ...CO, entry: new URL('file:///nonexistent/walk-worker.js') } });
    expect(r.coWalked).toBe(0);
    expect(record(r.manifest)).toEqual(record(one.manifest));
  });

  it('attack: large .gitignore files above a folder keep it on the thread that met it (their texts are not copied per folder handed over)', async () => {
    await tree();
    // 90 KB of rules at the root: above every folder, more than a folder handed over may carry.
    await put('.gitignore', '*.log\n/b-src/gen/\n' + Array.from({ length: 6000 }, (_, i) => `/no-such-${i}/\n`).join(''));
    const one = await take(new ObjectStore(join(dir, 'one')), { coWalk: false });
    const r = await take(new ObjectStore(join(dir, 'two')), { coWalk: CO });
    expect(r.coWalked).toBe(0);
    expect(record(r.manifest)).toEqual(record(one.manifest));
  });

  it('rules from a manifest (the post-run snapshot) apply in the folders the second walker walks: a .gitignore the run wrote hides nothing', async () => {
    await tree();
    const store = new ObjectStore(join(dir, 'store'));
    const pre = await take(store, { coWalk: CO });
    await put('a-big/d2/.gitignore', 'added.txt\n');
    await put('a-big/d2/added.txt', 'what the run added\n');
    const ignoreFiles = new Map(
      pre.manifest.entries
        .filter((e) => e.path.endsWith('.gitignore') && e.hash)
        .map((e) => [e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '', e.hash as string]),
    );
    const post = await take(store, { coWalk: CO, ignoreFiles, previous: pre.manifest, previousHash: pre.hash });
    expect(post.coWalked).toBeGreaterThan(0);
    const paths = new Set(post.manifest.entries.map((e) => e.path));
    expect(paths.has('a-big/d2/added.txt')).toBe(true);
    expect(paths.has('a-big/d3/keep.log')).toBe(true);
    expect(paths.has('a-big/d3/sub/f1.txt')).toBe(false);
  });
});
