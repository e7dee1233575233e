/**
 * Pack files: the small objects a snapshot adds, appended to one file (`packs/pack-<id>.pack`) with an index
 * beside it (`pack-<id>.idx`: hash, offset and length of each object, then the sha256 of all that), so a
 * first snapshot creates two files instead of one per content (on ext4 a file's creation costs more than
 * writing its bytes). A pack is written under a temp name, renamed into place, and only then is its index
 * written and renamed into place: an index is never seen before its pack, and an index without its pack
 * (or one whose trailing hash does not match, or naming bytes past its pack's end) is ignored. Everything
 * read back from a pack is checked against its hash by the store, as a loose object is.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  futimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { readFull } from './fsat.js';

/** Objects larger than this stay loose files (they are few, and a pack would copy them when collected). */
export const PACK_MAX_OBJECT = 8 << 20;
const MAGIC = Buffer.from('MOATIDX1');
const HEAD = MAGIC.length + 4;
const REC = 32 + 8 + 4;
const TRAILER = 32;
export const PACK_RE = /^pack-[0-9a-f]{24}$/;
/** A pack being written (never an index's pack until renamed). */
export const PACK_TMP = '.tmp-';
const BUFFERED = 1 << 20;

export interface PackedAt {
  /** The pack's name without extension (`pack-<id>`). */
  pack: string;
  offset: number;
  length: number;
}

/** Encode an index: magic, count, then per object its hash, offset and length, then the sha256 of all before. */
export function encodeIndex(entries: ReadonlyMap<string, { offset: number; length: number }>): Buffer {
  const buf = Buffer.alloc(HEAD + entries.size * REC + TRAILER);
  MAGIC.copy(buf, 0);
  buf.writeUInt32BE(entries.size, MAGIC.length);
  let at = HEAD;
  for (const [hash, e] of entries) {
    buf.write(hash, at, 32, 'hex');
    buf.writeBigUInt64BE(BigInt(e.offset), at + 32);
    buf.writeUInt32BE(e.length, at + 40);
    at += REC;
  }
  createHash('sha256').update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}

/**
 * Decode an index checked against its pack's size: undefined when it is torn, tampered with (trailing hash),
 * or names an object larger than a pack holds or past the pack's end.
 */
export function decodeIndex(buf: Buffer, packSize: number): Map<string, { offset: number; length: number }> | undefined {
  if (buf.length < HEAD + TRAILER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const count = buf.readUInt32BE(MAGIC.length);
  if (buf.length !== HEAD + count * REC + TRAILER) return undefined;
  const end = HEAD + count * REC;
  if (!createHash('sha256').update(buf.subarray(0, end)).digest().equals(buf.subarray(end))) return undefined;
  const out = new Map<string, { offset: number; length: number }>();
  for (let at = HEAD; at < end; at += REC) {
    const offset = buf.readBigUInt64BE(at + 32);
    const length = buf.readUInt32BE(at + 40);
    if (length > PACK_MAX_OBJECT || offset + BigInt(length) > BigInt(packSize)) return undefined;
    out.set(buf.toString('hex', at, at + 32), { offset: Number(offset), length });
  }
  return out;
}

/**
 * The packs of a store as last seen: which pack holds each hash. Refreshed when a hash is not found. One
 * per packs folder and process (sharedPackSet): each snapshot of a long-lived daemon reads only the indexes
 * added since the last, not every index of the home again.
 */
export class PackSet {
  private readonly where = new Map<string, PackedAt>();
  /** Index files looked at (usable or not), not read again: the pack size each needs (its last object's end). */
  private readonly seen = new Map<string, number>();

  constructor(readonly dir: string) {}

  get(hash: string): PackedAt | undefined {
    return this.where.get(hash);
  }

  /**
   * Look for packs added since (another process's snapshot); true when one was. With `check`, packs known
   * before are checked too: one collected, rewritten or cut short since (a crash, an edit) makes everything
   * be read again (another pack may hold its objects). A walk checks once before it relies on the set.
   */
  refresh(check = false): boolean {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      // No packs folder (never made, or the store was removed whole): no pack holds anything.
      this.forget();
      return false;
    }
    // A pack collected or rewritten since: everything is read again (another pack may hold its objects).
    const present = check ? new Set(names) : undefined;
    if (present)
      for (const [pack, needs] of this.seen)
        if (!present.has(`${pack}.idx`) || packSize(join(this.dir, `${pack}.pack`)) < needs) {
          this.forget();
          break;
        }
    let added = false;
    for (const f of names) {
      if (!f.endsWith('.idx')) continue;
      const pack = f.slice(0, -4);
      if (!PACK_RE.test(pack) || this.seen.has(pack)) continue;
      const entries = readIndex(this.dir, pack);
      if (entries === 'no-pack') continue; // its pack is not there (yet, or gone): looked at again next time
      this.seen.set(pack, 0);
      if (entries) this.add(pack, entries);
      added = true;
    }
    return added;
  }

  /** `prefer`: this pack's copies are the ones looked up (a pack just sealed: another copy may be unusable). */
  add(pack: string, entries: ReadonlyMap<string, { offset: number; length: number }>, prefer = false): void {
    let needs = 0;
    for (const [hash, e] of entries) {
      if (prefer || !this.where.has(hash)) this.where.set(hash, { pack, ...e });
      needs = Math.max(needs, e.offset + e.length);
    }
    this.seen.set(pack, needs);
  }

  /**
   * Everything forgotten (a pack that is gone: collected, rewritten or cut short), so a refresh finds the
   * new place of its objects (another pack may hold some of them too, not recorded while this one was).
   */
  forget(): void {
    this.where.clear();
    this.seen.clear();
  }

  /**
   * The bytes of a packed object (not yet checked against its hash): undefined when its pack is gone.
   * Reads exactly `length` bytes; a pack shorter than its index says is damaged (a short buffer back).
   */
  read(at: PackedAt): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(join(this.dir, `${at.pack}.pack`), 'r');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.allocUnsafe(at.length);
      return buf.subarray(0, readFull(fd, buf, at.offset));
    } finally {
      closeSync(fd);
    }
  }
}

function packSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** How long a process keeps a packs folder's set after its last store was made (its memory then freed). */
const SHARED_KEEP_MS = 60_000;
const shared = new Map<string, { set: PackSet; timer?: NodeJS.Timeout }>();

/**
 * The process's PackSet of a packs folder (see PackSet), kept for a minute after the last store asked for
 * it: a burst of snapshots reads each index once, and an idle daemon does not hold every object's place.
 */
export function sharedPackSet(dir: string): PackSet {
  let kept = shared.get(dir);
  if (!kept) {
    kept = { set: new PackSet(dir) };
    shared.set(dir, kept);
  }
  clearTimeout(kept.timer);
  kept.timer = setTimeout(() => shared.delete(dir), SHARED_KEEP_MS).unref();
  return kept.set;
}

/** An index read and checked against its pack: 'no-pack' when the pack is missing, undefined when unusable. */
export function readIndex(dir: string, pack: string): Map<string, { offset: number; length: number }> | 'no-pack' | undefined {
  let size: number;
  try {
    size = statSync(join(dir, `${pack}.pack`)).size;
  } catch {
    return 'no-pack';
  }
  try {
    return decodeIndex(readFileSync(join(dir, `${pack}.idx`)), size);
  } catch {
    return undefined;
  }
}

/** A pack being written: objects appended (buffered), sealed into place with its index. */
export class PackWriter {
  readonly entries = new Map<string, { offset: number; length: number }>();
  private readonly fd: number;
  private readonly tmp: string;
  private readonly buf = Buffer.allocUnsafe(BUFFERED);
  private used = 0;
  private size = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.tmp = join(dir, `${PACK_TMP}${process.pid}.${randomBytes(6).toString('hex')}`);
    this.fd = openSync(this.tmp, 'wx+', 0o600); // read too: objects not yet sealed are read back (read());
  }

  append(hash: string, data: Uint8Array): void {
    if (this.entries.has(hash)) return;
    // Bytes land in the file in the order appended: what is buffered goes before a large object written directly.
    if (this.used + data.length > this.buf.length || data.length >= this.buf.length / 2) this.drain();
    if (data.length >= this.buf.length / 2) writeAll(this.fd, data);
    else {
      this.buf.set(data, this.used);
      this.used += data.length;
    }
    this.entries.set(hash, { offset: this.size, length: data.length });
    this.size += data.length;
  }

  private drain(): void {
    if (this.used > 0) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
    // Its age is what a collection goes by (pack-gc.ts): a long walk's pack is not taken for an abandoned one.
    const now = new Date();
    futimesSync(this.fd, now, now);
  }

  /**
   * The bytes of an object appended and not yet sealed (not checked against its hash), without sealing
   * the pack: a walk reads such objects back (the .gitignore files it stored), and sealing there made a
   * pack per read.
   */
  read(hash: string): Buffer | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    const inFile = this.size - this.used;
    if (e.offset >= inFile) return Buffer.from(this.buf.subarray(e.offset - inFile, e.offset - inFile + e.length));
    const out = Buffer.allocUnsafe(e.length);
    return out.subarray(0, readFull(this.fd, out, e.offset));
  }

  /** Write what is buffered, rename the pack into place, then write its index: its name, or undefined when empty. */
  seal(): string | undefined {
    try {
      this.drain();
      if (fstatSync(this.fd).size !== this.size) throw new Error(`pack ${this.tmp} is not the size written`);
    } catch (err) {
      this.discard();
      throw err;
    }
    closeSync(this.fd);
    if (this.entries.size === 0) {
      rmSync(this.tmp, { force: true });
      return undefined;
    }
    const pack = `pack-${randomBytes(12).toString('hex')}`;
    const idxTmp = join(this.dir, `${PACK_TMP}${process.pid}.${randomBytes(6).toString('hex')}.idx`);
    try {
      renameSync(this.tmp, join(this.dir, `${pack}.pack`));
      writeFileSync(idxTmp, encodeIndex(this.entries), { flag: 'wx', mode: 0o600 });
      renameSync(idxTmp, join(this.dir, `${pack}.idx`));
    } catch (err) {
      rmSync(idxTmp, { force: true });
      rmSync(join(this.dir, `${pack}.pack`), { force: true });
      rmSync(this.tmp, { force: true });
      throw err;
    }
    return pack;
  }

  /** Drop the pack (a failed write): nothing was made visible. */
  discard(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
    rmSync(this.tmp, { force: true });
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
}
