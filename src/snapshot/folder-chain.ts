/**
 * The folders on the way to where a restore is writing, kept open and reused by the next path that
 * shares them: a restore's plan lists each folder's contents together, so a folder is opened once per
 * restore rather than once per file below it. Each one is reached from its parent's open descriptor
 * without following a link (walk-dir.ts); a link or a file planted where a folder should be is refused.
 */
import { mkdirSync } from 'node:fs';
import { MoatError, errnoCode } from '../errors.js';
import type { FolderModes } from './folder-modes.js';
import type { WalkDir } from './walk-dir.js';

export class FolderChain {
  /** The open folders from the root ('' at [0], the caller's) down to the last one reached. */
  private readonly chain: Array<{ path: string; dir: WalkDir }>;

  constructor(
    root: WalkDir,
    private readonly modes: FolderModes,
  ) {
    this.chain = [{ path: '', dir: root }];
  }

  /**
   * The folder at `path` ('' is the root), opened from the deepest open folder on its way; missing
   * folders are made when `create`. `forPath` is the path being restored, for the error that refuses it.
   */
  folder(path: string, create: boolean, forPath: string): WalkDir {
    const parts = path === '' ? [] : path.split('/');
    // Keep the open folders that are on the way (the longest prefix), close the rest.
    let kept = 1;
    let at = '';
    for (const part of parts) {
      const next = at === '' ? part : `${at}/${part}`;
      if (this.chain[kept]?.path !== next) break;
      at = next;
      kept++;
    }
    this.closeFrom(kept);
    let dir = (this.chain[kept - 1] as { dir: WalkDir }).dir;
    for (const part of parts.slice(kept - 1)) {
      const sub = at === '' ? part : `${at}/${part}`;
      dir = this.step(dir, at, part, sub, create, forPath);
      this.chain.push({ path: sub, dir });
      at = sub;
    }
    return dir;
  }

  /** The folder at `path` was removed: it, and whatever is open below it, is closed. */
  removed(path: string): void {
    const i = this.chain.findIndex((c) => c.path === path);
    if (i > 0) this.closeFrom(i);
  }

  /** Close every folder but the root (the caller's). */
  close(): void {
    this.closeFrom(1);
  }

  /** Forget the open folders (the next path is reached from the root again); false when none was open. */
  reset(): boolean {
    const held = this.chain.length > 1;
    this.closeFrom(1);
    return held;
  }

  private closeFrom(i: number): void {
    while (this.chain.length > i) (this.chain.pop() as { dir: WalkDir }).dir.close();
  }

  /** `part` inside `dir` (at `at`), opened, or made when missing and `create`. */
  private step(dir: WalkDir, at: string, part: string, sub: string, create: boolean, forPath: string): WalkDir {
    try {
      return this.open(dir, part, sub);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' && create) {
        this.modes.openUp(dir, at);
        mkdirSync(dir.at(part), { mode: 0o755 });
        return dir.sub(part);
      }
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        throw new MoatError(`Refusing to restore ${forPath}: ${dir.shown(part)} is a symbolic link or not a folder, and moat never writes through one.`, {
          code: 'E_REFUSED',
          hint: 'Remove or rename it, then run the rollback again.',
        });
      }
      throw err;
    }
  }

  /** The folder `part` inside `dir` (at `sub`); a folder of ours the run made unreadable is opened up first. */
  private open(dir: WalkDir, part: string, sub: string): WalkDir {
    try {
      return dir.sub(part);
    } catch (err) {
      if (errnoCode(err) !== 'EACCES' || !this.modes.openUpChild(dir, part, sub)) throw err;
      return dir.sub(part);
    }
  }
}
