/**
 * Folder handles for walking and restoring a tree a run could change under us. On Linux a child is reached
 * through its parent's open descriptor (`/proc/self/fd/N/name`, resolved by the kernel like openat(2)): a
 * folder swapped for a symbolic link after it was opened cannot redirect what is read or written. Folders
 * and files are opened with O_NOFOLLOW (and O_NONBLOCK, so a FIFO never blocks the open), and what was
 * opened is checked against what lstat saw.
 */
import { constants, existsSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export const VIA_FD = process.platform === 'linux' && existsSync('/proc/self/fd');

/**
 * This process's descriptors in /proc: by its number when /proc/self names that number (the /proc mounted
 * is this process's PID namespace's), which saves the kernel a symbolic link per lookup; else /proc/self.
 */
function procFd(): string {
  try {
    if (readlinkSync('/proc/self') === String(process.pid)) return `/proc/${process.pid}/fd`;
  } catch {
    // no /proc/self link: the generic name below
  }
  return '/proc/self/fd';
}
export const PROC_FD = VIA_FD ? procFd() : '/proc/self/fd';

/** A folder swapped (for another, or a link) between the lstat that saw it and the open that reached it. */
export class ChangedWhileRead extends Error {
  readonly code = 'ECHANGED';
}

export const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const O_CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class Dir {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly stat: Stats,
  ) {}

  /** Open a folder that must be a folder itself (not a link to one). */
  static async open(path: string): Promise<Dir> {
    const fh = await open(path, O_DIR);
    return new Dir(fh, path, await fh.stat());
  }

  /** The path that names `name` inside this folder, resolved through the open descriptor where possible. */
  at(name: string): string {
    return VIA_FD ? `${PROC_FD}/${this.fh.fd}/${name}` : join(this.path, name);
  }

  /** A path to show a person (never used to reach the file). */
  shown(name: string): string {
    return join(this.path, name);
  }

  /** The child folder `name`, opened without following a link; `expect` is what lstat saw. */
  async sub(name: string, expect?: Stats): Promise<Dir> {
    const fh = await open(this.at(name), O_DIR);
    const st = await fh.stat();
    if (expect && (st.ino !== expect.ino || st.dev !== expect.dev)) {
      await fh.close();
      throw new ChangedWhileRead(`${this.shown(name)} changed while it was read`);
    }
    return new Dir(fh, join(this.path, name), st);
  }

  lstat(name: string): Promise<Stats> {
    return lstat(this.at(name));
  }

  /** Change this folder's own mode (through its descriptor: never a link's target). */
  chmod(mode: number): Promise<void> {
    return this.fh.chmod(mode);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Open a regular file for reading without following a link; null when it is no longer what lstat saw. */
export async function openFileAt(dir: Dir, name: string, expect: Stats): Promise<FileHandle | null> {
  let fh: FileHandle;
  try {
    fh = await open(dir.at(name), O_READ);
  } catch {
    return null;
  }
  const st = await fh.stat();
  if (!st.isFile() || st.ino !== expect.ino || st.dev !== expect.dev) {
    await fh.close();
    return null;
  }
  return fh;
}

/** Read from `position` until `buf` is full or the file ends; the bytes read. */
export function readFull(fd: number, buf: Buffer, position: number): number {
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n, position + n);
    if (r === 0) break;
    n += r;
  }
  return n;
}
