/**
 * Reflink clones (btrfs, XFS with reflink=1, bcachefs): a cloned file shares its blocks with the original
 * until either side changes, so a large file is stored, or restored, without writing its bytes or taking
 * space. Linux only, through this process's descriptors in /proc (fsat.ts): `PROC_FD/N` is a magic link to
 * the open file itself, so reopening it reaches the inode already opened (and checked) and never follows a
 * path a run could change. Where no clone can be made (another file system, or none with reflinks) the
 * callers copy the bytes, and this store stops trying.
 *
 * libuv's copyfile, which does the clone: it opens the source read-only and the destination with
 * O_WRONLY|O_CREAT (O_EXCL only when asked), truncates the destination, sets the source's mode on it, then
 * asks for the clone (FICLONE); on failure it unlinks the destination's name, which for a /proc descriptor
 * link fails and removes nothing. Callers therefore pass an open, empty file of their own as the
 * destination and set its mode afterwards.
 */
import { constants, copyFileSync } from 'node:fs';
import { errnoCode } from '../errors.js';
import { PROC_FD, VIA_FD } from './fsat.js';

/** Failures that say no clone can be made between these two file systems (not just for this file). */
const UNSUPPORTED = new Set(['EXDEV', 'EOPNOTSUPP', 'ENOTSUP', 'EINVAL', 'ENOTTY', 'ENOSYS']);

export type CopyFile = (src: string, dest: string, mode: number) => void;

export class Cloner {
  /** False from the first clone that could not be made here; never true off Linux's /proc (fsat.ts). */
  private works: boolean;

  /**
   * `copy` is replaced by tests only. MOAT_BENCH_NO_CLONE=1 turns clones off, for measuring them against
   * copies (bench/snapshot-clone.ts); it is not a setting.
   */
  constructor(private readonly copy: CopyFile = copyFileSync) {
    this.works = VIA_FD && process.env.MOAT_BENCH_NO_CLONE !== '1';
  }

  get enabled(): boolean {
    return this.works;
  }

  /**
   * Make the open, empty file `out` a clone of the open file `from` (both reached through /proc, never by
   * a path): true when done, false when not (`out` may have been truncated; when reflinks cannot work
   * here, no clone is tried again). Either way `out` may have taken `from`'s mode, set-id bits included:
   * libuv sets it before it tries the clone, so the caller sets the mode it wants in both cases.
   */
  into(from: number, out: number): boolean {
    if (!this.works) return false;
    try {
      this.copy(`${PROC_FD}/${from}`, `${PROC_FD}/${out}`, constants.COPYFILE_FICLONE_FORCE);
      return true;
    } catch (err) {
      if (UNSUPPORTED.has(errnoCode(err) ?? '')) this.works = false;
      return false;
    }
  }
}
