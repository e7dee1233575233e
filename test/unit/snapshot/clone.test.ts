/**
 * Clones of large files (clone.ts, loose.ts) with the clone itself stood in for: here (ext4 or tmpfs) no
 * reflink can be made, so `copy` is a plain copyfile through the same /proc names, which opens, truncates
 * and sets modes as the real clone does. The real clones on XFS and btrfs: test/e2e/snapshot-clone.test.ts.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, constants, copyFileSync, openSync, statSync, writeSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cloner, type CopyFile } from '../../../src/snapshot/clone.js';
import { O_CREATE, O_READ, VIA_FD } from '../../../src/snapshot/fsat.js';
import { ObjectStore } from '../../../src/snapshot/objects.js';

const SCRATCH = 8 << 20;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const errno = (code: string): Error => Object.assign(new Error(code), { code });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-clone-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file larger than the scratch buffer (so it goes loose), `fill` repeated. */
async function bigFile(name: string, fill: number, size = SCRATCH + 123_457): Promise<{ path: string; data: Buffer }> {
  const data = Buffer.alloc(size, fill);
  data.write('head', 0);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data };
}

/** A copy standing in for the clone, counting its calls; `fail` makes it throw (after `before`, if given). */
function fakeClone(fail?: string, before?: (dest: string) => void): CopyFile & { calls: number } {
  const f = Object.assign(
    (src: string, dest: string, mode: number): void => {
      f.calls++;
      expect(mode & constants.COPYFILE_FICLONE_FORCE).toBe(constants.COPYFILE_FICLONE_FORCE);
      if (fail) {
        before?.(dest);
        throw errno(fail);
      }
      copyFileSync(src, dest);
    },
    { calls: 0 },
  );
  return f;
}

async function put(store: ObjectStore, path: string, limit = 1 << 30, pause = (): Promise<void> => Promise.resolve()) {
  const fd = openSync(path, O_READ);
  try {
    return await store.putFd(fd, limit, Buffer.allocUnsafe(SCRATCH), pause);
  } finally {
    closeSync(fd);
  }
}

describe('clones of large files', () => {
  it('runs on Linux with /proc (the rest of this file needs it)', () => {
    expect(VIA_FD).toBe(true);
  });

  it('no clone is tried again once the file systems say they cannot (EXDEV, EOPNOTSUPP…); one failing file does not stop them', async () => {
    const { path, data } = await bigFile('a', 1);
    for (const code of ['EXDEV', 'EOPNOTSUPP', 'EINVAL', 'ENOTTY', 'ENOSYS']) {
      const copy = fakeClone(code);
      const store = new ObjectStore(join(dir, `store-${code}`), { cloner: new Cloner(copy) });
      expect((await put(store, path))?.hash).toBe(sha(data));
      expect((await put(store, path))?.hash).toBe(sha(data));
      expect(copy.calls, code).toBe(1);
    }
    const copy = fakeClone('EACCES');
    const store = new ObjectStore(join(dir, 'store-eacces'), { cloner: new Cloner(copy) });
    await put(store, path);
    await put(store, path);
    expect(copy.calls).toBe(2);
  });

  it('the clone is hashed, not the workspace file: a file changed while its clone is read is stored as cloned, under its own hash', async () => {
    const { path, data } = await bigFile('a', 2);
    const store = new ObjectStore(join(dir, 'store'), { cloner: new Cloner(fakeClone()) });
    let pauses = 0;
    const r = await put(store, path, 1 << 30, async () => {
      pauses++;
      await writeFile(path, Buffer.alloc(data.length + 5, 9)); // the run rewrites it between two chunks
    });
    expect(pauses).toBeGreaterThan(0);
    const object = await readFile(store.path(r?.hash ?? ''));
    expect(r).toEqual({ hash: sha(data), size: data.length, added: data.length });
    expect(object.equals(data)).toBe(true);
    expect(statSync(store.path(sha(data))).mode & 0o7777).toBe(0o600);
  });

  it("a clone takes the workspace file's mode; the object gets 0600 all the same", async () => {
    const { path, data } = await bigFile('a', 3);
    await chmod(path, 0o4755);
    const store = new ObjectStore(join(dir, 'store'), { cloner: new Cloner(fakeClone()) });
    await put(store, path);
    expect(statSync(store.path(sha(data))).mode & 0o7777).toBe(0o600);
  });

  it('hostile-snapshot-clone-failed-mode: a clone that fails after libuv gave the temp file the workspace mode (set-id, 0777) leaves an 0600 object', async () => {
    const { path, data } = await bigFile('a', 3);
    await chmod(path, 0o6777);
    // As libuv's copyfile does: fchmod(dest, source mode), then the FICLONE that fails.
    for (const code of ['EOPNOTSUPP', 'EIO']) {
      const copy = fakeClone(code, (dest) => chmodSync(dest, 0o6777));
      const store = new ObjectStore(join(dir, `store-${code}`), { cloner: new Cloner(copy) });
      expect((await put(store, path))?.hash).toBe(sha(data));
      expect(copy.calls).toBe(1);
      expect(statSync(store.path(sha(data))).mode & 0o7777, code).toBe(0o600);
    }
    // The real copyfile: here (no reflinks) it fails after its fchmod; on XFS or btrfs it clones.
    const store = new ObjectStore(join(dir, 'store-real'), { cloner: new Cloner() });
    expect((await put(store, path))?.hash).toBe(sha(data));
    expect(statSync(store.path(sha(data))).mode & 0o7777).toBe(0o600);
  });

  it('hostile-snapshot-clone-over-limit: a file grown past the limit before its clone is never cloned (the clone is bounded by the limit)', async () => {
    const { path, data } = await bigFile('a', 4);
    const copy = fakeClone();
    const store = new ObjectStore(join(dir, 'store'), { cloner: new Cloner(copy) });
    expect(await put(store, path, data.length - 1)).toBeUndefined();
    expect(copy.calls).toBe(0);
  });

  it('a clone grown past the limit is not stored, as a copy grown past it is not', async () => {
    const { path, data } = await bigFile('a', 4);
    const store = new ObjectStore(join(dir, 'store'), { cloner: new Cloner(fakeClone()) });
    expect(await put(store, path, data.length - 1)).toBeUndefined();
    expect(await put(store, path, data.length)).toEqual({ hash: sha(data), size: data.length, added: data.length });
  });

  it('a clone that fails half-way leaves nothing of it in the object (the copy starts from an empty file)', async () => {
    const { path, data } = await bigFile('a', 5);
    const junk = (dest: string): void => {
      const fd = openSync(dest, constants.O_WRONLY);
      writeSync(fd, Buffer.alloc(data.length + 4096, 0x77)); // longer than the file
      closeSync(fd);
    };
    const store = new ObjectStore(join(dir, 'store'), { cloner: new Cloner(fakeClone('EIO', junk)) });
    expect((await put(store, path))?.hash).toBe(sha(data));
    expect((await readFile(store.path(sha(data)))).equals(data)).toBe(true);
  });

  describe('restore', () => {
    async function stored(fill: number): Promise<{ hash: string; data: Buffer; root: string }> {
      const { path, data } = await bigFile(`src${fill}`, fill);
      const root = join(dir, 'store');
      const r = await put(new ObjectStore(root, { cloner: new Cloner(fakeClone('EXDEV')) }), path);
      return { hash: r?.hash ?? '', data, root };
    }

    function restoreTo(store: ObjectStore, hash: string, name: string): { n: number; path: string } {
      const path = join(dir, name);
      const fd = openSync(path, O_CREATE, 0o600);
      try {
        return { n: store.copyToSync(hash, fd), path };
      } finally {
        closeSync(fd);
      }
    }

    it('an object is cloned into the open file, same inode, right bytes', async () => {
      const { hash, data, root } = await stored(6);
      const copy = fakeClone();
      const { n, path } = restoreTo(new ObjectStore(root, { cloner: new Cloner(copy) }), hash, 'out');
      expect(copy.calls).toBe(1);
      expect(n).toBe(data.length);
      expect((await readFile(path)).equals(data)).toBe(true);
    });

    it('a damaged object is refused before anything is cloned or written', async () => {
      const { hash, root } = await stored(7);
      const obj = new ObjectStore(root).path(hash);
      const fd = openSync(obj, constants.O_WRONLY);
      writeSync(fd, Buffer.from('tampered'), 0, 8, 100);
      closeSync(fd);
      const copy = fakeClone();
      const store = new ObjectStore(root, { cloner: new Cloner(copy) });
      expect(() => restoreTo(store, hash, 'out')).toThrow(/damaged/);
      expect(copy.calls).toBe(0);
      expect(statSync(join(dir, 'out')).size).toBe(0);
    });

    it('where no clone can be made the bytes are written (a clone that failed half-way truncated first)', async () => {
      const { hash, data, root } = await stored(8);
      const junk = (dest: string): void => {
        const fd = openSync(dest, constants.O_WRONLY);
        writeSync(fd, Buffer.alloc(data.length + 4096, 0x77));
        closeSync(fd);
      };
      const copy = fakeClone('EOPNOTSUPP', junk);
      const store = new ObjectStore(root, { cloner: new Cloner(copy) });
      const { path } = restoreTo(store, hash, 'out');
      expect((await readFile(path)).equals(data)).toBe(true);
      restoreTo(store, hash, 'out2');
      expect(copy.calls).toBe(1);
    });
  });
});
