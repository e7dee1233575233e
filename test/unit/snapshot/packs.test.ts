import { mkdtemp, mkdir, open, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { collectGarbage } from '../../../src/snapshot/gc.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { ObjectStore, sha256 } from '../../../src/snapshot/objects.js';
import { PACK_MAX_OBJECT, PackSet, decodeIndex, encodeIndex, readIndex } from '../../../src/snapshot/packs.js';
import { applyRestore, planRestore } from '../../../src/snapshot/restore.js';
import { addRecord, objectStore, recordOf, snapshotWorkspace } from '../../../src/snapshot/service.js';
import { takeSnapshot } from '../../../src/snapshot/take.js';

let dir: string;
let ws: string;
let root: string;
const settings = { exclude: [], limits: DEFAULT_LIMITS };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-packs-'));
  ws = join(dir, 'ws');
  root = join(dir, 'store');
  await mkdir(ws);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function packs(store: ObjectStore): Promise<string[]> {
  return (await readdir(store.packsDir)).filter((f) => f.endsWith('.idx')).map((f) => f.slice(0, -4));
}

/** A snapshot of the workspace recorded on a run (live until the run's folder is removed): the run's id. */
async function snapshotOnRun(home: MoatHome): Promise<string> {
  const r = await snapshotWorkspace(home, ws, settings);
  const runId = 'run_0123456789ab';
  await mkdir(home.runDir(runId), { recursive: true });
  await addRecord(home, runId, settings, recordOf('pre', r));
  return runId;
}

/**
 * A walk's rules hook (no rules) that runs `action` once, when the walk reaches folder `at`: something done to
 * the store in the middle of a walk. `ran` says whether it did.
 */
function midWalk(at: string, action: () => Promise<unknown>): { ignoreFrom: (d: string) => Promise<undefined>; ran: () => boolean } {
  let ran = false;
  return {
    ignoreFrom: async (d) => {
      if (d === at && !ran) {
        ran = true;
        await action();
      }
      return undefined;
    },
    ran: () => ran,
  };
}

async function fill(n: number, tag = ''): Promise<void> {
  for (let i = 0; i < n; i++) await writeFile(join(ws, `f${i}`), `content ${tag}${i}\n`);
}

describe('pack store', () => {
  it("a snapshot's small objects go to one pack with its index; a fresh store reads them back", async () => {
    await fill(20);
    const r = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const store = new ObjectStore(root);
    expect((await packs(store)).length).toBe(1);
    expect(await readdir(store.objectsDir)).toHaveLength(1); // only the manifest is loose
    for (let i = 0; i < 20; i++) expect((await store.read(sha256(`content ${i}\n`))).toString()).toBe(`content ${i}\n`);
    expect(r.added).toBeGreaterThan(0);
    // Stored once: a second snapshot of the same contents adds nothing.
    await writeFile(join(ws, 'copy'), 'content 3\n');
    const again = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    expect(again.added).toBe(0);
    expect((await packs(store)).length).toBe(1);
  });

  it('small and large objects appended in any order read back whole (buffered and direct writes keep their order)', async () => {
    const sizes = [10, 700_000, 20, 5_000_000, 300_000, 300_000, 1, 1_100_000, 600_000, 15];
    const contents = sizes.map((n, i) => Buffer.alloc(n, 97 + i));
    for (const [i, c] of contents.entries()) await writeFile(join(ws, `f${i}`), c);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const store = new ObjectStore(root);
    for (const c of contents) expect((await store.read(sha256(c))).equals(c)).toBe(true);
  });

  it('attack: a truncated pack (a crash or a hostile edit) is ignored, and the next snapshot stores its objects again', async () => {
    await fill(10);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const store = new ObjectStore(root);
    const [pack] = await packs(store);
    await truncate(join(store.packsDir, `${pack}.pack`), 5);
    const fresh = new ObjectStore(root);
    await expect(fresh.read(sha256('content 9\n'))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(await fresh.has(sha256('content 9\n'))).toBe(false);
    const again = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    expect(again.added).toBeGreaterThan(0);
    expect((await new ObjectStore(root).read(sha256('content 9\n'))).toString()).toBe('content 9\n');
  });

  it('attack: a pack left half-written (temp name, no index) is never read, and a collection removes it once old', async () => {
    const store = new ObjectStore(root);
    await mkdir(store.packsDir, { recursive: true });
    const tmp = join(store.packsDir, '.tmp-1.abcdef');
    await writeFile(tmp, 'content 0\n');
    const orphan = join(store.packsDir, 'pack-000000000000000000000000.pack');
    await writeFile(orphan, 'content 0\n');
    expect(await store.has(sha256('content 0\n'))).toBe(false);
    await utimes(tmp, new Date(0), new Date(0));
    await utimes(orphan, new Date(0), new Date(0));
    const home = new MoatHome(join(dir, 'home'));
    const hs = objectStore(home);
    await mkdir(hs.packsDir, { recursive: true });
    for (const f of [tmp, orphan]) await writeFile(join(hs.packsDir, f.split('/').at(-1) as string), 'x');
    for (const f of await readdir(hs.packsDir)) await utimes(join(hs.packsDir, f), new Date(0), new Date(0));
    await collectGarbage(home);
    expect(await readdir(hs.packsDir)).toEqual([]);
  });

  it('attack: an index pointing past the end of its pack, or at an object larger than a pack holds, is ignored', async () => {
    const store = new ObjectStore(root);
    await mkdir(store.packsDir, { recursive: true });
    const data = Buffer.from('hello\n');
    const hash = sha256(data);
    const pack = 'pack-111111111111111111111111';
    await writeFile(join(store.packsDir, `${pack}.pack`), data);
    await writeFile(join(store.packsDir, `${pack}.idx`), encodeIndex(new Map([[hash, { offset: 4, length: 6 }]])));
    expect(readIndex(store.packsDir, pack)).toBeUndefined();
    expect(await store.has(hash)).toBe(false);
    await expect(store.read(hash)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(decodeIndex(encodeIndex(new Map([[hash, { offset: 0, length: PACK_MAX_OBJECT + 1 }]])), 1 << 30)).toBeUndefined();
    expect(decodeIndex(encodeIndex(new Map([[hash, { offset: 2 ** 40, length: 1 }]])), 100)).toBeUndefined();
    // A valid index read back as written; one byte changed anywhere and it is refused (its trailing hash).
    const good = encodeIndex(new Map([[hash, { offset: 0, length: 6 }]]));
    expect(decodeIndex(good, 6)?.get(hash)).toEqual({ offset: 0, length: 6 });
    good.writeUInt8((good.readUInt8(good.length - 40) ^ 1) & 0xff, good.length - 40);
    expect(decodeIndex(good, 6)).toBeUndefined();
    expect(decodeIndex(good.subarray(0, 20), 6)).toBeUndefined();
  });

  it('attack: wrong bytes in a pack are refused when read, diffed or restored (never written out)', async () => {
    await writeFile(join(ws, 'a.sh'), 'echo original\n');
    const r = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const store = new ObjectStore(root);
    const [pack] = await packs(store);
    const fh = await open(join(store.packsDir, `${pack}.pack`), 'r+');
    await fh.write(Buffer.from('curl evil'), 0, 9, 0);
    await fh.close();
    const hash = sha256('echo original\n');
    await expect(new ObjectStore(root).read(hash)).rejects.toMatchObject({ code: 'E_REFUSED' });
    const to = join(dir, 'to');
    await mkdir(to);
    await expect(
      applyRestore(
        to,
        new ObjectStore(root),
        planRestore(r.manifest, undefined, (p) => p === 'a.sh'),
      ),
    ).rejects.toThrow(/damaged/);
    expect(await readdir(to)).toEqual([]);
  });

  it('an index without its pack is ignored, and a collection removes it once old', async () => {
    const home = new MoatHome(join(dir, 'home'));
    const store = objectStore(home);
    await mkdir(store.packsDir, { recursive: true });
    const hash = sha256('x');
    const idx = join(store.packsDir, 'pack-222222222222222222222222.idx');
    await writeFile(idx, encodeIndex(new Map([[hash, { offset: 0, length: 1 }]])));
    expect(await store.has(hash)).toBe(false);
    await utimes(idx, new Date(0), new Date(0));
    await collectGarbage(home);
    expect(await readdir(store.packsDir)).toEqual([]);
  });

  it('concurrent snapshots of two workspaces write their packs at once; both read back whole', async () => {
    const ws2 = join(dir, 'ws2');
    await mkdir(ws2);
    await fill(200, 'a');
    for (let i = 0; i < 200; i++) await writeFile(join(ws2, `g${i}`), `other ${i}\n`);
    const [a, b] = await Promise.all([
      takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS }),
      takeSnapshot({ workspace: ws2, store: new ObjectStore(root), limits: DEFAULT_LIMITS }),
    ]);
    const store = new ObjectStore(root);
    expect((await packs(store)).length).toBe(2);
    for (const e of [...a.manifest.entries, ...b.manifest.entries]) if (e.hash) expect(sha256(await store.read(e.hash))).toBe(e.hash);
    // One store shared by both (as a test may): still every object readable.
    const shared = new ObjectStore(join(dir, 'shared'));
    const [c, d] = await Promise.all([
      takeSnapshot({ workspace: ws, store: shared, limits: DEFAULT_LIMITS }),
      takeSnapshot({ workspace: ws2, store: shared, limits: DEFAULT_LIMITS }),
    ]);
    const again = new ObjectStore(join(dir, 'shared'));
    for (const e of [...c.manifest.entries, ...d.manifest.entries]) if (e.hash) expect(sha256(await again.read(e.hash))).toBe(e.hash);
  });

  it('a collection while a snapshot runs leaves its pack alone; one that rewrites a pack leaves live objects readable', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await fill(300);
    const [r] = await Promise.all([snapshotWorkspace(home, ws, settings), collectGarbage(home), collectGarbage(home)]);
    await collectGarbage(home);
    const store = objectStore(home);
    for (const e of r.manifest.entries) if (e.hash) expect((await store.read(e.hash)).toString()).toBe(await readFile(join(ws, e.path), 'utf8'));
    // The run records it; half the files change, a second snapshot; the first is no longer referenced.
    const runId = 'run_0123456789ab';
    await mkdir(home.runDir(runId), { recursive: true });
    await addRecord(home, runId, settings, recordOf('pre', r));
    const reader = objectStore(home);
    expect(await reader.has(sha256('content 299\n'))).toBe(true); // its packs loaded before the rewrite
    for (let i = 0; i < 200; i++) await writeFile(join(ws, `f${i}`), `changed ${i}\n`); // most of its pack
    await new Promise((res) => setTimeout(res, 150));
    await snapshotWorkspace(home, ws, settings);
    await rm(home.runDir(runId), { recursive: true });
    const gc = await collectGarbage(home, { graceMs: -1000 });
    expect(gc.objects).toBeGreaterThanOrEqual(200); // the first snapshot's changed contents (and its manifest)
    expect(await reader.has(sha256('content 0\n'))).toBe(false);
    expect((await reader.read(sha256('content 299\n'))).toString()).toBe('content 299\n'); // found in the rewritten pack
    expect((await reader.read(sha256('changed 0\n'))).toString()).toBe('changed 0\n');
  });

  it('a prune leaves a mostly-live pack alone (its few dead objects counted as left) and rewrites it once half of it is dead', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await fill(100);
    const runId = await snapshotOnRun(home);
    const store = objectStore(home);
    const [pack] = await packs(store);
    const change = async (n: number, tag: string): Promise<void> => {
      for (let i = 0; i < n; i++) await writeFile(join(ws, `f${i}`), `${tag} ${i}\n`);
      await new Promise((res) => setTimeout(res, 150));
      await snapshotWorkspace(home, ws, settings);
    };
    // 10 of 100 contents change; the run that named the old ones is forgotten.
    await change(10, 'changed');
    await rm(home.runDir(runId), { recursive: true });
    const light = await collectGarbage(home, { graceMs: -1000 });
    expect(light.leftInPacks).toBeGreaterThan(0);
    expect(await packs(store)).toContain(pack); // not copied again for a tenth of it
    expect((await store.read(sha256('content 0\n'))).toString()).toBe('content 0\n'); // dead, still readable
    // Most of it changes (the last snapshot names only 40 of its contents): now it is rewritten.
    await change(60, 'again');
    const heavy = await collectGarbage(home, { graceMs: -1000 });
    expect(await packs(objectStore(home))).not.toContain(pack);
    expect(heavy.objects).toBeGreaterThanOrEqual(60);
    expect(await objectStore(home).has(sha256('content 0\n'))).toBe(false);
    expect((await objectStore(home).read(sha256('content 99\n'))).toString()).toBe('content 99\n');
  });

  it('attack: many tiny dead objects beside one large live one (junk written, then deleted) are collected: entries count, not only bytes', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await writeFile(join(ws, 'keep'), Buffer.alloc(200_000, 0x6b)); // most of the pack's bytes, live
    await fill(300, 'junk '); // most of its entries
    const runId = await snapshotOnRun(home);
    const [pack] = await packs(objectStore(home));
    for (let i = 0; i < 300; i++) await rm(join(ws, `f${i}`));
    await new Promise((res) => setTimeout(res, 150));
    await snapshotWorkspace(home, ws, settings);
    await rm(home.runDir(runId), { recursive: true });
    const gc = await collectGarbage(home, { graceMs: -1000 });
    expect(gc.objects).toBeGreaterThanOrEqual(300);
    expect(await packs(objectStore(home))).not.toContain(pack);
    expect((await objectStore(home).read(sha256(Buffer.alloc(200_000, 0x6b)))).length).toBe(200_000);
  });

  it('destroy and clean compact: a pack with any unreferenced object is rewritten, what they remove is gone from disk', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await fill(100);
    const runId = await snapshotOnRun(home);
    await writeFile(join(ws, 'f0'), 'a secret the run wrote, since changed\n');
    await new Promise((res) => setTimeout(res, 150));
    await snapshotWorkspace(home, ws, settings);
    await rm(home.runDir(runId), { recursive: true });
    const gc = await collectGarbage(home, { graceMs: -1000, compact: true });
    expect(gc.leftInPacks).toBeUndefined();
    expect(await objectStore(home).has(sha256('content 0\n'))).toBe(false);
    for (const f of await readdir(objectStore(home).packsDir))
      expect((await readFile(join(objectStore(home).packsDir, f))).includes('content 0\n')).toBe(false);
  });

  it("a pack just sealed is where the process's set finds its contents (a copy elsewhere may be unusable)", () => {
    const set = new PackSet(join(dir, 'packs'));
    const e = new Map([['a'.repeat(64), { offset: 0, length: 3 }]]);
    set.add('pack-old', e);
    set.add('pack-other', e);
    expect(set.get('a'.repeat(64))?.pack).toBe('pack-old'); // first seen, as indexes are read
    set.add('pack-new', e, true);
    expect(set.get('a'.repeat(64))?.pack).toBe('pack-new');
  });

  it('attack: a post-run snapshot over many folders with a .gitignore writes one pack (reading rules never seals the pack)', async () => {
    for (let i = 0; i < 40; i++) {
      await mkdir(join(ws, `d${i}`));
      await writeFile(join(ws, `d${i}`, '.gitignore'), `ignored-${i}\n`);
    }
    const pre = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const before = await packs(new ObjectStore(root));
    // The run adds a file in each folder; the post-run walk reads each folder's rules from the pre-run manifest.
    for (let i = 0; i < 40; i++) await writeFile(join(ws, `d${i}`, 'new'), `new content ${i}\n`);
    const store = new ObjectStore(root);
    const texts = new Map<string, string>();
    for (let i = 0; i < 40; i++) texts.set(`d${i}`, sha256(`ignored-${i}\n`));
    const post = await takeSnapshot({
      workspace: ws,
      store,
      limits: DEFAULT_LIMITS,
      previous: pre.manifest,
      ignoreFrom: async (d) => {
        const h = texts.get(d);
        return h ? (await store.read(h)).toString('utf8') : undefined;
      },
    });
    expect(post.added).toBeGreaterThan(0);
    const after = await packs(new ObjectStore(root));
    expect(after.length - before.length).toBe(1);
  });

  it('objects appended and not yet sealed read back from the pack being written (buffered or already written), without sealing it', async () => {
    const store = new ObjectStore(root);
    const small = Buffer.from('small and buffered\n');
    const big = Buffer.alloc(700_000, 0x62); // written past the buffer, straight to the pack file
    const after = Buffer.from('after the large one\n');
    for (const b of [small, big, after]) store.putBytesSync(b);
    for (const b of [small, big, after]) expect((await store.read(sha256(b))).equals(b)).toBe(true);
    expect(await readdir(store.packsDir).then((f) => f.filter((n) => n.endsWith('.idx')))).toEqual([]); // not sealed by reading
    store.flush();
    expect((await packs(store)).length).toBe(1);
  });

  it("a long-lived process's pack set notices a pack collected, rewritten or cut short since, and stores its objects again", async () => {
    await fill(10);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const [pack] = await packs(new ObjectStore(root));
    // Another process removes the pack (as a collection of a pruned snapshot would).
    await rm(join(root, 'packs', `${pack}.idx`));
    await rm(join(root, 'packs', `${pack}.pack`));
    const again = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    expect(again.added).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) expect((await new ObjectStore(root).read(sha256(`content ${i}\n`))).toString()).toBe(`content ${i}\n`);
  });

  it('attack: a store removed whole while the process lives (rm -rf of the snapshots folder) is filled again, nothing assumed kept', async () => {
    await fill(10);
    await mkdir(join(ws, 'big'));
    await writeFile(join(ws, 'big', 'large'), Buffer.alloc(PACK_MAX_OBJECT + 10, 0x61)); // a loose object
    const first = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    await rm(root, { recursive: true, force: true });
    const again = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    expect(again.added).toBe(first.added);
    for (let i = 0; i < 10; i++) expect((await new ObjectStore(root).read(sha256(`content ${i}\n`))).toString()).toBe(`content ${i}\n`);
    expect((await new ObjectStore(root).read(sha256(Buffer.alloc(PACK_MAX_OBJECT + 10, 0x61)))).length).toBe(PACK_MAX_OBJECT + 10);
  });

  it('attack: a pack removed during a walk, after the walk checked the set, is not relied on: its contents are stored again', async () => {
    await mkdir(join(ws, 'a'));
    await mkdir(join(ws, 'z'));
    for (let i = 0; i < 10; i++) await writeFile(join(ws, 'z', `f${i}`), `content ${i}\n`);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const [pack] = await packs(new ObjectStore(root));
    await writeFile(join(ws, 'new'), 'a content no pack holds\n'); // looked up before the folders: the set is checked then
    const removal = midWalk('a', async () => {
      await rm(join(root, 'packs', `${pack}.idx`));
      await rm(join(root, 'packs', `${pack}.pack`));
    });
    const r = await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS, ignoreFrom: removal.ignoreFrom });
    expect(removal.ran()).toBe(true);
    expect(r.added).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) expect((await new ObjectStore(root).read(sha256(`content ${i}\n`))).toString()).toBe(`content ${i}\n`);
  });

  it('attack: a pack a walk relied on, removed later in the same walk (the store removed by hand), fails the snapshot: no manifest names what is gone', async () => {
    for (const d of ['b', 'c', 'd']) await mkdir(join(ws, d));
    await writeFile(join(ws, 'b', 'f'), 'shared content\n');
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    await writeFile(join(ws, 'd', 'g'), 'shared content\n'); // the same content, met after the removal
    const removal = midWalk('c', () => rm(root, { recursive: true, force: true }));
    await expect(takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS, ignoreFrom: removal.ignoreFrom })).rejects.toThrow(
      /snapshot store changed/,
    );
    expect(removal.ran()).toBe(true);
  });

  it('one pack gone before a walk reached it: its contents are stored again, the other packs still spare storing theirs', async () => {
    for (const d of ['x', 'y']) await mkdir(join(ws, d));
    for (let i = 0; i < 5; i++) await writeFile(join(ws, 'x', `f${i}`), `x content ${i}\n`);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const [packA] = await packs(new ObjectStore(root));
    for (let i = 0; i < 5; i++) await writeFile(join(ws, 'y', `f${i}`), `y content ${i}\n`);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    await writeFile(join(ws, 'new'), 'new\n'); // looked up first: the set is checked with both packs there
    const r = await takeSnapshot({
      workspace: ws,
      store: new ObjectStore(root),
      limits: DEFAULT_LIMITS,
      ignoreFrom: midWalk('x', () => rm(join(root, 'packs', `${packA}.pack`))).ignoreFrom,
    });
    const xBytes = Array.from({ length: 5 }, (_, i) => `x content ${i}\n`.length).reduce((a, b) => a + b, 0);
    expect(r.added).toBe(xBytes + 'new\n'.length); // x stored again; y's contents not
    for (let i = 0; i < 5; i++) expect((await new ObjectStore(root).read(sha256(`x content ${i}\n`))).toString()).toBe(`x content ${i}\n`);
  });

  it('a re-snapshot that vouches for unchanged files leaves their pack as old as it was (a collection can still compact it)', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await fill(10);
    await new Promise((res) => setTimeout(res, 150)); // past the racy-timestamp window
    await snapshotWorkspace(home, ws, settings);
    const store = objectStore(home);
    const [pack] = await packs(store);
    await utimes(join(store.packsDir, `${pack}.pack`), new Date(0), new Date(0));
    await writeFile(join(ws, 'new'), 'one more\n');
    const again = await snapshotWorkspace(home, ws, settings);
    expect(again.read).toBe(1);
    expect((await stat(join(store.packsDir, `${pack}.pack`))).mtimeMs).toBe(0);
  });

  it("the process's pack set reads an index once: a later store of the same process does not read it again", async () => {
    await fill(5);
    await takeSnapshot({ workspace: ws, store: new ObjectStore(root), limits: DEFAULT_LIMITS });
    const [pack] = await packs(new ObjectStore(root));
    // Replaced by bytes no reader accepts: only a store that read it before still knows where objects are.
    await writeFile(join(root, 'packs', `${pack}.idx`), 'not an index');
    expect((await new ObjectStore(root).read(sha256('content 4\n'))).toString()).toBe('content 4\n');
  });

  it('a pack being written is kept young while it grows, so a collection does not take a long walk for an abandoned one', async () => {
    const store = new ObjectStore(root);
    store.putBytesSync(Buffer.from('first\n'));
    const [tmp] = (await readdir(store.packsDir)).filter((f) => f.startsWith('.tmp-'));
    await utimes(join(store.packsDir, tmp!), new Date(0), new Date(0));
    store.putBytesSync(Buffer.alloc(900_000, 0x63)); // drains the buffer to the file
    const { mtimeMs } = await stat(join(store.packsDir, tmp!));
    expect(Date.now() - mtimeMs).toBeLessThan(60_000);
    store.discard();
  });

  it('attack: a collection during a walk that reuses a content only pruned snapshots named keeps it', async () => {
    const home = new MoatHome(join(dir, 'home'));
    await mkdir(join(ws, 'a'));
    await mkdir(join(ws, 'z'));
    const old = (i: number): string => `old content ${i}\n`;
    for (let i = 0; i < 10; i++) await writeFile(join(ws, 'a', `f${i}`), old(i));
    await snapshotWorkspace(home, ws, settings);
    // The files change and are snapshotted again: the old contents are named by nothing live any more.
    for (let i = 0; i < 10; i++) await writeFile(join(ws, 'a', `f${i}`), `new content ${i}\n`);
    await snapshotWorkspace(home, ws, settings);
    const store = objectStore(home);
    for (const f of await readdir(store.packsDir)) await utimes(join(store.packsDir, f), new Date(0), new Date(0));
    // A checkout brings the old contents back; a collection runs while the next walk is under way.
    for (let i = 0; i < 10; i++) await writeFile(join(ws, 'a', `f${i}`), old(i));
    const collection = midWalk('z', () => collectGarbage(home));
    const r = await takeSnapshot({ workspace: ws, store: objectStore(home), limits: DEFAULT_LIMITS, ignoreFrom: collection.ignoreFrom });
    expect(collection.ran()).toBe(true);
    expect(r.added).toBe(0); // the walk stored nothing: it relied on the old pack
    for (let i = 0; i < 10; i++) expect((await objectStore(home).read(sha256(old(i)))).toString()).toBe(old(i));
  });
});
