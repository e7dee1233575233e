import { execFile } from 'node:child_process';
import { appendFileSync, readdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { collectGarbage } from '../../../src/snapshot/gc.js';
import { DEFAULT_LIMITS, type SnapshotLimits } from '../../../src/snapshot/limits.js';
import { ObjectStore, sha256 } from '../../../src/snapshot/objects.js';
import { applyRestore, planRestore } from '../../../src/snapshot/restore.js';
import { objectStore } from '../../../src/snapshot/service.js';
import { takeSnapshot, type TakeOptions } from '../../../src/snapshot/take.js';

let dir: string;
let ws: string;
/** Every file of 64 KiB or more goes to the helper thread, which starts at the first one and stores them all. */
const PARALLEL = { startBytes: 0, leaveQueued: true };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-parallel-'));
  ws = join(dir, 'ws');
  await mkdir(ws);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Distinct contents of `n` bytes. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, Math.min(i, n - 4));
  return b;
}

/** Small files, medium ones (the helper's), one streamed in chunks (over 8 MiB, a loose object), a link. */
async function tree(): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 30; i++) files.set(`src/s${i}.ts`, bytes(100 + i * 37, i));
  for (let i = 0; i < 12; i++) files.set(`assets/m${i}.bin`, bytes(70_000 + i * 40_000, 100 + i));
  files.set('data/big.bin', bytes(9 << 20, 7));
  files.set('data/dup.bin', bytes(70_000, 100)); // the same content as assets/m0.bin
  for (const [p, b] of files) {
    await mkdir(join(ws, p, '..'), { recursive: true });
    await writeFile(join(ws, p), b);
  }
  await symlink('../src/s0.ts', join(ws, 'data/link'));
  return files;
}

const idx = async (store: ObjectStore): Promise<string[]> => (await readdir(store.packsDir).catch(() => [] as string[])).filter((f) => f.endsWith('.idx'));
const take = (store: ObjectStore, o: Partial<TakeOptions> = {}, limits: SnapshotLimits = DEFAULT_LIMITS) =>
  takeSnapshot({ workspace: ws, store, limits, ...o });

describe('the helper thread (parallel-store.ts)', () => {
  it('stores the same manifest entries and objects as the walk alone; a fresh store reads them back', async () => {
    const files = await tree();
    const serialStore = new ObjectStore(join(dir, 'serial'));
    const parallelStore = new ObjectStore(join(dir, 'parallel'));
    const serial = await take(serialStore, { parallel: false });
    const parallel = await take(parallelStore, { parallel: PARALLEL });
    expect(parallel.manifest.entries).toEqual(serial.manifest.entries);
    expect(parallel.read).toBe(serial.read);
    expect(parallel.added).toBe(serial.added);
    // The walk's pack and the helper's, each sealed with its index; the walk alone wrote one.
    expect(await idx(serialStore)).toHaveLength(1);
    expect(await idx(parallelStore)).toHaveLength(2);
    const fresh = new ObjectStore(join(dir, 'parallel'));
    for (const [p, b] of files) {
      const e = parallel.manifest.entries.find((x) => x.path === p);
      expect(e?.hash).toBe(sha256(b));
      expect((await fresh.read(e?.hash as string)).equals(b)).toBe(true);
    }
    // A second snapshot with one new file (every file read again) stores only that one: both packs are known.
    await writeFile(join(ws, 'assets/new.bin'), bytes(200_000, 999));
    const again = await take(new ObjectStore(join(dir, 'parallel')), { parallel: PARALLEL });
    expect(again.read).toBe(serial.read + 1);
    expect(again.added).toBe(200_000);
  });

  it("restores files from the helper's pack (and its loose objects) into an empty folder", async () => {
    const files = await tree();
    const root = join(dir, 'store');
    const r = await take(new ObjectStore(root), { parallel: PARALLEL });
    const to = join(dir, 'to');
    await mkdir(to);
    await applyRestore(
      to,
      new ObjectStore(root),
      planRestore(r.manifest, undefined, () => true),
    );
    for (const [p, b] of files) expect((await readFile(join(to, p))).equals(b)).toBe(true);
  });

  it('hostile-snapshot-helper-link-swap: a file swapped for a link after lstat is never followed, nor its target stored', async () => {
    await tree();
    const secret = bytes(300_000, 4242);
    await writeFile(join(dir, 'secret'), secret);
    const store = new ObjectStore(join(dir, 'store'));
    const r = await take(store, {
      parallel: PARALLEL,
      beforeOpen: (p) => {
        if (p !== 'assets/m3.bin') return;
        // Between the walk's lstat and its open: the file becomes a link to a host secret of the helper's size.
        unlinkSync(join(ws, p));
        symlinkSync(join(dir, 'secret'), join(ws, p));
      },
    });
    const e = r.manifest.entries.find((x) => x.path === 'assets/m3.bin');
    expect(e?.hash).toBeUndefined();
    expect(e?.why).toBeDefined();
    await expect(new ObjectStore(join(dir, 'store')).has(sha256(secret))).resolves.toBe(false);
    expect(await idx(store)).toHaveLength(2); // the helper did store the other files
  });

  it('a file that grows past snapshots.max_file_size while the helper reads it is recorded as too large, as the walk alone does', async () => {
    await tree();
    const limits = { ...DEFAULT_LIMITS, maxFileSize: 600_000 };
    const grow = (p: string): void => {
      if (p === 'assets/m5.bin') appendFileSync(join(ws, p), bytes(400_000, 5)); // 270,000 → 670,000 bytes
    };
    const parallel = await take(new ObjectStore(join(dir, 'p')), { parallel: PARALLEL, beforeOpen: grow }, limits);
    await writeFile(join(ws, 'assets/m5.bin'), bytes(270_000, 105));
    const serial = await take(new ObjectStore(join(dir, 's')), { parallel: false, beforeOpen: grow }, limits);
    const e = parallel.manifest.entries.find((x) => x.path === 'assets/m5.bin');
    expect(e).toMatchObject({ why: 'too-large' });
    expect(e?.hash).toBeUndefined();
    expect(serial.manifest.entries.find((x) => x.path === 'assets/m5.bin')).toMatchObject({ why: 'too-large' });
  });

  it('a helper that fails aborts the snapshot: no manifest, no sealed pack of its own, no descriptor left open; a collection leaves nothing', async () => {
    await tree();
    const home = new MoatHome(join(dir, 'home'));
    const store = objectStore(home);
    const fds = readdirSync('/proc/self/fd').length;
    await expect(take(store, { parallel: { ...PARALLEL, failAfter: 1 } })).rejects.toThrow(/helper fault/);
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
    // No manifest was written (nothing loose but what the walk itself may have streamed), and the helper's
    // pack was dropped unsealed: at most the walk's own pack is there (sealed, as after any failed walk).
    const packs = await readdir(store.packsDir).catch(() => [] as string[]);
    expect(packs.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(packs.filter((f) => f.endsWith('.idx')).length).toBeLessThanOrEqual(1);
    await collectGarbage(home, { graceMs: 0, now: Date.now() + 1000 });
    expect(await readdir(store.packsDir).catch(() => [])).toEqual([]);
    const loose = await readdir(store.objectsDir).catch(() => [] as string[]);
    for (const d of loose) expect(await readdir(join(store.objectsDir, d))).toEqual([]);
    expect(await readdir(store.tmpDir).catch(() => [])).toEqual([]);
  });

  it('a helper thread that cannot start leaves the walk to store every file itself (the same manifest)', async () => {
    await tree();
    const serial = await take(new ObjectStore(join(dir, 'serial')), { parallel: false });
    const store = new ObjectStore(join(dir, 'store'));
    const entry = new URL('file:///nonexistent/store-worker.js');
    const r = await take(store, { parallel: { ...PARALLEL, entry } });
    expect(r.manifest.entries).toEqual(serial.manifest.entries);
    expect(await idx(store)).toHaveLength(1);
  });

  it('the helper thread never keeps the process up once the snapshot is taken', async () => {
    await tree();
    const take = fileURLToPath(new URL('../../../src/snapshot/take.ts', import.meta.url));
    const objects = fileURLToPath(new URL('../../../src/snapshot/objects.ts', import.meta.url));
    const limits = fileURLToPath(new URL('../../../src/snapshot/limits.ts', import.meta.url));
    const script = `
      const { takeSnapshot } = await import(${JSON.stringify(take)});
      const { ObjectStore } = await import(${JSON.stringify(objects)});
      const { DEFAULT_LIMITS } = await import(${JSON.stringify(limits)});
      const r = await takeSnapshot({ workspace: ${JSON.stringify(ws)}, store: new ObjectStore(${JSON.stringify(join(dir, 'store'))}), limits: DEFAULT_LIMITS, parallel: { startBytes: 0, leaveQueued: true } });
      console.log('taken', r.read);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('taken 44');
    expect(await idx(new ObjectStore(join(dir, 'store')))).toHaveLength(2);
  });
});
