import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError } from '../../errors.js';

/** One regular file of a tar archive. */
export interface TarEntry {
  /** Relative POSIX path, e.g. "Dockerfile" or "moat-init". */
  name: string;
  data: Buffer;
  /** Permission bits (0o7777 at most). */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

const BLOCK = 512;
const MAX_SIZE = 0o77777777777; // 11 octal digits: 8 GiB - 1

function badName(name: string, why: string): MoatError {
  return new MoatError(`Cannot put ${JSON.stringify(name)} in the build context: ${why}.`, {
    code: 'E_BUILD',
    hint: 'Name context files by relative paths inside the context directory.',
  });
}

/** Split a name into ustar's prefix (155 bytes) and name (100 bytes) fields, at a '/'. */
function splitName(name: string): { prefix: Buffer; base: Buffer } {
  if (name.length === 0 || name.startsWith('/') || name.includes('\0') || name.includes('\\')) throw badName(name, 'not a relative POSIX path');
  if (name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw badName(name, 'empty, "." or ".." path segments');
  const full = Buffer.from(name, 'utf8');
  if (full.length <= 100) return { prefix: Buffer.alloc(0), base: full };
  // The longest prefix that fits and ends just before a '/', leaving at most 100 bytes after it.
  for (let cut = Math.min(155, full.length - 2); cut > 0; cut--) {
    if (full[cut] === 0x2f && full.length - cut - 1 <= 100) return { prefix: full.subarray(0, cut), base: full.subarray(cut + 1) };
  }
  throw badName(name, 'too long for a tar header (ustar: 155-byte folder + 100-byte name)');
}

function octal(buf: Buffer, off: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, off, width, 'ascii');
}

/** The 512-byte ustar header of a regular file. */
export function tarHeader(e: Omit<TarEntry, 'data'> & { size: number }): Buffer {
  const { prefix, base } = splitName(e.name);
  if (!Number.isInteger(e.size) || e.size < 0 || e.size > MAX_SIZE) throw badName(e.name, 'larger than a tar header can say (8 GiB)');
  const h = Buffer.alloc(BLOCK);
  base.copy(h, 0);
  octal(h, 100, 8, e.mode & 0o7777);
  octal(h, 108, 8, 0); // uid: the engine's build context is root's
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, Math.max(0, Math.min(MAX_SIZE, Math.floor(e.mtime))));
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // typeflag: regular file
  h.write('ustar\x0000', 257, 8, 'ascii'); // magic "ustar\0", version "00"
  octal(h, 329, 8, 0); // devmajor
  octal(h, 337, 8, 0); // devminor
  prefix.copy(h, 345);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A whole archive: each file's header, its data padded to 512 bytes, then two zero blocks. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw badName(e.name, 'named twice');
    seen.add(e.name);
    parts.push(tarHeader({ name: e.name, mode: e.mode, mtime: e.mtime, size: e.data.length }), e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/**
 * The build context: the named regular files of `dir`, held in memory (a context is a Dockerfile and a few
 * scripts). Opened without following a final symlink and without blocking, so a link, a folder, a FIFO
 * or a device is refused rather than followed or waited on.
 */
export async function tarContext(dir: string, files: string[]): Promise<Buffer> {
  const entries: TarEntry[] = [];
  for (const name of files) {
    splitName(name); // refuse a bad name before touching the file system
    let fh;
    try {
      fh = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw badName(name, code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be read (${code ?? String(err)})`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw badName(name, 'not a regular file');
      entries.push({ name, data: await fh.readFile(), mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) });
    } finally {
      await fh.close();
    }
  }
  return tarArchive(entries);
}
