/**
 * The rules for walking and restoring a tree a run could change under us (walk-dir.ts holds the folder
 * handle that follows them). On Linux a child is reached
 * through its parent's open descriptor (`/proc/self/fd/N/name`, resolved by the kernel like openat(2)): a
 * folder swapped for a symbolic link after it was opened cannot redirect what is read or written. Folders
 * and files are opened with O_NOFOLLOW (and O_NONBLOCK, so a FIFO never blocks the open), and what was
 * opened is checked against what lstat saw.
 */
import { constants, existsSync, readlinkSync, readSync } from 'node:fs';

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
