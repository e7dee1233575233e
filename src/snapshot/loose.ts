/**
 * The bytes of large (loose) objects moving in and out of the store (objects.ts): a workspace file into the
 * store's temp file, an object into a restored file. Each is a clone where the file system can (clone.ts),
 * else the bytes are streamed. Either way the hash is taken of the store's own copy: a run changing the
 * workspace file meanwhile cannot make an object's bytes differ from its name.
 */
import { createHash } from 'node:crypto';
import { fchmodSync, fstatSync, ftruncateSync, writeSync } from 'node:fs';
import type { Cloner } from './clone.js';
import { readFull } from './fsat.js';

export interface Hashed {
  hash: string;
  size: number;
}

/**
 * Fill `out` (a new temp file of the store, open for reading and writing) with what the open file `fd`
 * holds, its first `first` bytes already in `scratch`: its hash and size, undefined when it holds more
 * than `limit` bytes. `pause` is awaited between chunks.
 */
export async function fillTemp(
  cloner: Cloner,
  fd: number,
  out: number,
  first: number,
  limit: number,
  scratch: Buffer,
  pause: () => Promise<void>,
): Promise<Hashed | undefined> {
  if (cloner.enabled && fstatSync(fd).size > limit) return undefined; // grown past the limit: never cloned
  const cloned = cloner.into(fd, out);
  // libuv gives `out` the workspace file's mode (set-id bits too) before it tries to clone, so a clone
  // that failed leaves that mode as surely as one that worked.
  fchmodSync(out, 0o600);
  if (cloned) return hashFd(out, limit, scratch, pause);
  ftruncateSync(out, 0); // a clone that failed half-way leaves nothing behind
  return streamTo(fd, out, first, limit, scratch, pause);
}

/**
 * Put the loose object open as `fd` into the open, empty file `out`: its size. Where it can be cloned it
 * is checked first (`bad` thrown before anything is written), else streamed and checked as it goes
 * (`bad` thrown after writing). The mode of `out` is left to the caller.
 */
export function copyOut(cloner: Cloner, fd: number, out: number, hash: string, buf: Buffer, bad: () => Error): number {
  if (cloner.enabled) {
    const r = hashFdSync(fd, buf);
    if (r.hash !== hash) throw bad();
    if (cloner.into(fd, out) && fstatSync(out).size === r.size) return r.size;
    ftruncateSync(out, 0); // a clone that failed half-way leaves nothing behind
  }
  const h = createHash('sha256');
  let size = 0;
  for (;;) {
    const n = readFull(fd, buf, size);
    if (n === 0) break;
    const chunk = buf.subarray(0, n);
    h.update(chunk);
    writeAll(out, chunk);
    size += n;
  }
  if (h.digest('hex') !== hash) throw bad();
  return size;
}

/** Write all of `data` at the file's offset. */
export function writeAll(fd: number, data: Buffer): void {
  for (let n = 0; n < data.length;) n += writeSync(fd, data, n, data.length - n);
}

/** What the open file `fd` holds from its start, hashed; undefined past `limit` bytes. */
async function hashFd(fd: number, limit: number, scratch: Buffer, pause: () => Promise<void>): Promise<Hashed | undefined> {
  if (fstatSync(fd).size > limit) return undefined;
  const h = createHash('sha256');
  let size = 0;
  for (;;) {
    const n = readFull(fd, scratch, size);
    size += n;
    if (size > limit) return undefined;
    h.update(scratch.subarray(0, n));
    if (n < scratch.length) break;
    await pause();
  }
  return { hash: h.digest('hex'), size };
}

/** hashFd with no limit (a restore checking its own store's object). */
function hashFdSync(fd: number, buf: Buffer): Hashed {
  const h = createHash('sha256');
  let size = 0;
  for (;;) {
    const n = readFull(fd, buf, size);
    size += n;
    h.update(buf.subarray(0, n));
    if (n < buf.length) return { hash: h.digest('hex'), size };
  }
}

/** Stream the open file `fd` into `out` from its start, its first `first` bytes already in `scratch`. */
async function streamTo(fd: number, out: number, first: number, limit: number, scratch: Buffer, pause: () => Promise<void>): Promise<Hashed | undefined> {
  const h = createHash('sha256');
  let n = first;
  let size = 0;
  for (;;) {
    size += n;
    if (size > limit) return undefined;
    const chunk = scratch.subarray(0, n);
    h.update(chunk);
    writeAll(out, chunk);
    if (n < scratch.length) break;
    await pause();
    n = readFull(fd, scratch, size);
    if (n === 0) break;
  }
  return { hash: h.digest('hex'), size };
}
