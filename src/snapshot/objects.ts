/**
 * The content store shared by every snapshot of a moat home: `snapshots/objects/ab/cdef…` holds the bytes
 * whose sha256 is `abcdef…`, written once (temp file + rename, so a reader never sees half an object) and
 * checked against its name whenever it is read back. Objects whose hash is known before they are written
 * (the snapshot walk's small files) get their temp file in their own fan-out folder (`ab/.tmp-…`, a rename
 * within one folder), named by a counter; a fan-out folder this store created itself is known to hold only
 * what it wrote there, so no existence check is made for it.
 *
 * The snapshot walk's objects up to 8 MiB go to a pack instead (`snapshots/packs/`, packs.ts): appended to
 * one file per snapshot (and its helper thread's to another: parallel-store.ts), sealed with its index by
 * `flush()` before the manifest naming them is written.
 * Reads look for a loose object first, then in the packs (stores written before packs still read).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import { Cloner } from './clone.js';
import { readFull } from './fsat.js';
import { copyOut, fillTemp, writeAll, type Hashed } from './loose.js';
import { PACK_MAX_OBJECT, PackWriter, sharedPackSet, type PackSet, type PackedAt } from './packs.js';
import { Relied } from './relied.js';

export const HASH_RE = /^[0-9a-f]{64}$/;
/** What a temp file in a fan-out folder is named with (never a hash, so never taken for an object). */
export const FANOUT_TMP = '.tmp-';
const CHUNK = 1 << 20;

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stored object whose bytes do not match its hash (never restored from), and how to get rid of it. */
function damaged(hash: string, hint: string): MoatError {
  return new MoatError(`The snapshot object ${hash.slice(0, 12)} is damaged (its content does not match its hash).`, { code: 'E_REFUSED', hint });
}

function missing(hash: string): MoatError {
  return new MoatError(`The snapshot store has no object ${hash.slice(0, 12)}.`, {
    code: 'E_NOT_FOUND',
    hint: 'It was pruned or removed; take a new snapshot (moat snapshot).',
  });
}

export class ObjectStore {
  readonly objectsDir: string;
  readonly tmpDir: string;
  readonly packsDir: string;
  private readonly packs: PackSet;
  /** The pack the walk's objects are appended to, until flush(). */
  private writer?: PackWriter;
  private packsLoaded = false;
  /** Fan-out folders there when the walk first stored (a loose copy of a content can only be in one of them). */
  private looseDirs?: Set<string>;
  private readonly made = new Set<string>();
  /** What this store relied on instead of storing a content again (checkRelied()). */
  private readonly relied: Relied;
  /** Fan-out folders this store created (empty then): the names written into them since. */
  private readonly fresh = new Map<string, Set<string>>();
  private readonly tmpPrefix = `${FANOUT_TMP}${process.pid}.${randomBytes(4).toString('hex')}.`;
  private tmpCount = 0;

  /** Large files are cloned instead of copied where the file system can (clone.ts). */
  private readonly cloner: Cloner;

  constructor(
    readonly root: string,
    o: { cloner?: Cloner } = {},
  ) {
    this.cloner = o.cloner ?? new Cloner();
    this.objectsDir = join(root, 'objects');
    this.tmpDir = join(root, 'tmp');
    this.packsDir = join(root, 'packs');
    this.packs = sharedPackSet(this.packsDir);
    this.relied = new Relied(
      this.packsDir,
      (hash) => this.path(hash),
      () => this.packs.refresh(true),
    );
  }

  /** Seal the pack being written (its objects readable by every process from now on): its name, if any. */
  flush(): string | undefined {
    const w = this.writer;
    if (!w) return undefined;
    this.writer = undefined;
    const pack = w.seal();
    // Its copies are the ones found from now on: a content stored again because its other pack could not be
    // relied on (not this user's to make young) is then not stored a third time by the next walk.
    if (pack) this.packs.add(pack, w.entries, true);
    return pack;
  }

  /** Drop the pack being written, unsealed (an aborted walk's helper thread): nothing of it was made visible. */
  discard(): void {
    this.writer?.discard();
    this.writer = undefined;
  }

  /** Where a packed object is: looked up again among packs added since when not found. */
  private packed(hash: string): PackedAt | undefined {
    this.loadPacks();
    const at = this.packs.get(hash);
    if (at) return at;
    return this.packs.refresh() ? this.packs.get(hash) : undefined;
  }

  /** Once per store: the process's pack set brought up to date, packs known before checked (packs.ts). */
  private loadPacks(): void {
    if (this.packsLoaded) return;
    this.packs.refresh(true);
    this.packsLoaded = true;
  }

  /** Where a packed object is, its pack there (one a collection removed is forgotten, and looked for again). */
  private located(hash: string): PackedAt | undefined {
    const w = this.writer?.entries.get(hash);
    if (w) return { pack: '', ...w }; // in the pack being written (readPacked reads it from there)
    for (let attempt = 0; attempt < 2; attempt++) {
      const at = this.packed(hash);
      if (!at || existsSync(join(this.packsDir, `${at.pack}.pack`))) return at;
      this.packs.forget();
    }
    return undefined;
  }

  /** A packed object's bytes, checked against its hash; undefined when no pack holds it. */
  private readPacked(hash: string): Buffer | undefined {
    const pending = this.writer?.read(hash);
    if (pending) {
      if (sha256(pending) !== hash) throw damaged(hash, 'Take the snapshot again (moat snapshot).');
      return pending;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      const at = this.packed(hash);
      if (!at) return undefined;
      const data = this.packs.read(at);
      if (!data) {
        // Its pack is gone (a collection rewrote it meanwhile): look for its new place once.
        this.packs.forget();
        continue;
      }
      if (data.length !== at.length || sha256(data) !== hash)
        throw damaged(hash, `Remove ${join(this.packsDir, at.pack)}.pack and .idx, and ${this.reReadHint()}.`);
      return data;
    }
    return undefined;
  }

  /**
   * Whether the walk need not store `hash`: in the pack being written, a pack, or a loose object. Made young
   * (a collection spares it) and remembered, so the walk can check it is still there before its manifest
   * is written (checkRelied()).
   */
  private knownSync(hash: string): boolean {
    if (this.writer?.entries.has(hash)) return true;
    this.loadPacks();
    const at = this.packs.get(hash);
    if (at && this.relied.pack(at.pack)) return true;
    if (!this.looseDirs) {
      try {
        this.looseDirs = new Set(readdirSync(this.objectsDir));
      } catch {
        this.looseDirs = new Set();
      }
    }
    if (!this.looseDirs.has(hash.slice(0, 2))) return false;
    return this.looseHeld(hash);
  }

  /**
   * Whether the loose object `hash` is there: from memory for a fan-out folder this store created, else it is
   * made young (a collection spares it; see relied.ts) and remembered as relied on (checkRelied).
   */
  private looseHeld(hash: string): boolean {
    const known = this.fresh.get(hash.slice(0, 2));
    if (known) return known.has(hash);
    if (!this.touch(hash)) return false;
    this.relied.object(hash);
    return true;
  }

  /** Throws when something this store relied on instead of storing it again is gone (relied.ts). */
  checkRelied(): void {
    this.relied.check();
  }

  /**
   * After a damaged object is removed by hand, the next snapshot of a workspace would still vouch for the
   * unchanged files it held (their hashes from the last manifest): removing the workspaces' pointers makes
   * it read every file again.
   */
  private reReadHint(): string {
    return `${join(this.root, 'workspaces')} (the next snapshot of each workspace then reads every file again)`;
  }

  path(hash: string): string {
    if (!HASH_RE.test(hash)) throw new MoatError(`"${hash.slice(0, 80)}" is not a content hash.`, { code: 'E_INTERNAL' });
    return join(this.objectsDir, hash.slice(0, 2), hash.slice(2));
  }

  /** Mark an object as just used (a collection spares young objects); false when the store does not hold it. */
  touch(hash: string): boolean {
    try {
      const now = new Date();
      utimesSync(this.path(hash), now, now);
      return true;
    } catch {
      return false;
    }
  }

  async has(hash: string): Promise<boolean> {
    const loose = await stat(this.path(hash)).then(
      () => true,
      () => false,
    );
    return loose || this.located(hash) !== undefined;
  }

  private async dirFor(hash: string): Promise<void> {
    const d = hash.slice(0, 2);
    if (this.made.has(d)) return;
    await mkdir(join(this.objectsDir, d), { recursive: true, mode: 0o700 });
    this.made.add(d);
  }

  private tmpReady = false;

  private async tmpName(): Promise<string> {
    if (!this.tmpReady) {
      await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
      this.tmpReady = true;
    }
    return join(this.tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  private dirForSync(hash: string): void {
    const d = hash.slice(0, 2);
    if (this.made.has(d)) return;
    mkdirSync(this.objectsDir, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(join(this.objectsDir, d), { mode: 0o700 });
      this.fresh.set(d, new Set());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.made.add(d);
  }

  /** Whether the store holds `hash`: from memory for a fan-out folder this store created, else one lstat. */
  private hasSync(hash: string): boolean {
    this.dirForSync(hash);
    return this.looseHeld(hash);
  }

  private tmpNameSync(): string {
    if (!this.tmpReady) {
      mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
      this.tmpReady = true;
    }
    return join(this.tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  /**
   * putBuffer with synchronous calls (the snapshot walk's batches), into the pack being written (sealed by
   * flush()); nothing is written for a known hash.
   */
  putBytesSync(data: Uint8Array): { hash: string; added: number } {
    const hash = sha256(data);
    if (data.length <= PACK_MAX_OBJECT) {
      if (this.knownSync(hash)) return { hash, added: 0 };
      (this.writer ??= new PackWriter(this.packsDir)).append(hash, data);
      return { hash, added: data.length };
    }
    if (this.hasSync(hash)) return { hash, added: 0 };
    const final = this.path(hash);
    const tmp = join(this.objectsDir, hash.slice(0, 2), `${this.tmpPrefix}${this.tmpCount++}`);
    try {
      writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    this.fresh.get(hash.slice(0, 2))?.add(hash);
    return { hash, added: data.length };
  }

  /**
   * Store what an open file descriptor holds, read with synchronous calls into `scratch` (reused across
   * files): a file that fits is hashed and written in one go; a larger one goes to a temp file, a clone of
   * it where the file system can (clone.ts) or its bytes streamed there, `pause` awaited between chunks (the
   * event loop keeps turning). Its hash is the temp file's: what the store holds, whatever the file holds by
   * then. At most `limit` bytes are stored: undefined when the file holds more (it grew past the limit).
   */
  async putFd(fd: number, limit: number, scratch: Buffer, pause: () => Promise<void>): Promise<{ hash: string; size: number; added: number } | undefined> {
    const n = readFull(fd, scratch, 0);
    if (n < scratch.length) {
      if (n > limit) return undefined;
      return { ...this.putBytesSync(scratch.subarray(0, n)), size: n };
    }
    const tmp = this.tmpNameSync();
    const out = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let r: Hashed | undefined;
    try {
      r = await fillTemp(this.cloner, fd, out, n, limit, scratch, pause);
    } finally {
      closeSync(out);
      if (!r) rmSync(tmp, { force: true });
    }
    if (!r) return undefined;
    const { hash, size } = r;
    if (this.hasSync(hash)) {
      rmSync(tmp, { force: true });
      return { hash, size, added: 0 };
    }
    renameSync(tmp, this.path(hash));
    this.fresh.get(hash.slice(0, 2))?.add(hash);
    return { hash, size, added: size };
  }

  /** Store bytes; returns their hash (nothing is written when the store holds them already). */
  async putBuffer(data: Uint8Array): Promise<{ hash: string; added: number }> {
    const hash = sha256(data);
    if (await this.has(hash)) return { hash, added: 0 };
    const tmp = await this.tmpName();
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    await this.dirFor(hash);
    await rename(tmp, this.path(hash)).catch(async (err: unknown) => {
      await rm(tmp, { force: true });
      throw err;
    });
    return { hash, added: data.length };
  }

  /** The bytes of an object, checked against its hash (a damaged store is an error, never silent). */
  async read(hash: string): Promise<Buffer> {
    let data: Buffer | undefined;
    try {
      data = await readFile(this.path(hash));
    } catch {
      data = this.readPacked(hash); // checked there
      if (data) return data;
    }
    if (!data) {
      throw missing(hash);
    }
    if (sha256(data) !== hash) throw damaged(hash, `Remove ${this.path(hash)}, and ${this.reReadHint()}.`);
    return data;
  }

  /**
   * Write an object into an open, empty file (synchronously: a restore writes thousands), checking its hash.
   * A packed one is checked first; a loose one is checked first too where it can be cloned (clone.ts),
   * else streamed, throwing after writing when it does not match. The file's mode is left to the caller.
   */
  copyToSync(hash: string, out: number): number {
    const loose = this.path(hash);
    const fd = existsSync(loose) ? openOrUndefined(loose) : undefined;
    if (fd === undefined) {
      // A packed object is at most 8 MiB: read whole and checked before any byte is written.
      const data = this.readPacked(hash);
      if (!data) throw missing(hash);
      writeAll(out, data);
      return data.length;
    }
    try {
      return copyOut(this.cloner, fd, out, hash, Buffer.allocUnsafe(CHUNK), () => damaged(hash, `Remove ${loose}, and ${this.reReadHint()}.`));
    } finally {
      closeSync(fd);
    }
  }
}

/** A loose object opened for reading; undefined when it is not there (a packed object's case). */
function openOrUndefined(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY);
  } catch {
    return undefined;
  }
}
