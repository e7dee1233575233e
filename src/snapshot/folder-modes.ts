/**
 * Folder modes during a restore. A folder the run made read-only (or unreadable), or one the snapshot
 * records as read-only, must not stop the files inside it from being put back: such a folder of ours is
 * opened up for its owner (u+rwx) while the restore writes, and every folder's mode is set at the end,
 * deepest first (a folder's target mode, else the mode it had). Nothing here follows a link: a folder is
 * reached through an O_PATH descriptor opened with O_NOFOLLOW, and its mode is changed through that
 * descriptor's /proc name, which names the folder itself.
 */
import { chmodSync, closeSync, constants, fstatSync, openSync } from 'node:fs';
import { errnoCode } from '../errors.js';
import { PROC_FD, VIA_FD } from './fsat.js';
import type { WalkDir } from './walk-dir.js';

/** Linux's O_PATH: a descriptor that names a folder without needing the right to read it. */
const O_PATH = 0o10000000;
const OWNER_RWX = 0o700;
const MODE_MASK = 0o1777;

/** A folder whose mode matters: its path in the tree ('' is the root) and the folder handle it was reached from. */
export class FolderModes {
  /** Path → the mode it ends with (the snapshot's, or the one it had before it was opened up). */
  private readonly final = new Map<string, number>();
  private readonly uid = process.getuid?.() ?? -1;

  /** The mode `path` must have when the restore ends (set then, not now: its contents come first). */
  want(path: string, mode: number): void {
    this.final.set(path, mode & MODE_MASK);
  }

  /**
   * Make `dir` (at `path`) writable for the restore when it is ours and is not; its mode is put back at the
   * end. Its mode as it is now, not as it was opened: a run can make an open folder read-only meanwhile.
   */
  openUp(dir: WalkDir, path: string): void {
    if (this.uid === 0) return;
    const st = dir.fstat();
    const mode = st.mode & MODE_MASK;
    if (st.uid !== this.uid || (mode & OWNER_RWX) === OWNER_RWX) return;
    dir.chmod(mode | OWNER_RWX);
    if (!this.final.has(path)) this.final.set(path, mode);
  }

  /**
   * `name` inside `parent` could not be opened (EACCES): when it is a folder of ours, give its owner
   * u+rwx so it can be, and remember its mode. True when it was opened up (the caller opens it again).
   */
  openUpChild(parent: WalkDir, name: string, path: string): boolean {
    return this.openUpAt(parent.at(name), path);
  }

  /** The same for the folder named by `at` (its last component is never followed). */
  openUpAt(at: string, path: string): boolean {
    if (!VIA_FD || this.uid === 0) return false;
    let fd: number;
    try {
      fd = openSync(at, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isDirectory() || st.uid !== this.uid) return false;
      chmodSync(`${PROC_FD}/${fd}`, (st.mode & MODE_MASK) | OWNER_RWX);
      if (!this.final.has(path)) this.final.set(path, st.mode & MODE_MASK);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Set every remembered mode, a folder after everything inside it, each reached by `reach` (never
   * through a link; the handle stays the caller's). What cannot be set is returned with the reason.
   */
  settle(reach: (path: string) => WalkDir): Array<{ path: string; why: string }> {
    const failed: Array<{ path: string; why: string }> = [];
    // Reaching a folder can open up one above it (a folder made unreadable): a later round puts that back.
    for (let round = 0; round < 4 && this.final.size > 0; round++) {
      // Reverse code-unit order: a folder after every path below it, and each folder's contents together.
      const paths = [...this.final.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
      for (const path of paths) {
        const mode = this.final.get(path) as number;
        this.final.delete(path);
        try {
          reach(path).chmod(mode);
        } catch (err) {
          failed.push({ path: path || '.', why: `its mode could not be set (${errnoCode(err) ?? 'error'})` });
        }
      }
    }
    return failed;
  }

  /** `path` is gone (a folder the restore removed): nothing to set. */
  forget(path: string): void {
    this.final.delete(path);
  }
}
