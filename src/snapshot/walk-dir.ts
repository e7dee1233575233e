/**
 * The folder handle of the snapshot walk and of a restore: the descriptor-relative rules of fsat.ts (a
 * child is reached through its parent's open descriptor, folders and files opened with O_NOFOLLOW |
 * O_NONBLOCK, what was opened checked against what lstat saw), with synchronous calls. Both run them in
 * batches and yield to the event loop between batches: one promise and one thread-pool hop per file cost
 * more than the system calls themselves.
 */
import { closeSync, fchmodSync, fstatSync, lstatSync, openSync, opendirSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ChangedWhileRead, O_DIR, O_READ, PROC_FD, VIA_FD } from './fsat.js';

/** A folder whose own size (its entries' record, on every common file system) is below this is listed in one call. */
const LIST_AT_ONCE = 256 * 1024;

export class WalkDir {
  private constructor(
    private readonly fd: number,
    readonly path: string,
    /** The folder itself, as its descriptor says. */
    readonly stat: Stats,
  ) {}

  /** Open a folder that must be a folder itself (not a link to one). */
  static open(path: string): WalkDir {
    const fd = openSync(path, O_DIR);
    return new WalkDir(fd, path, fstatSync(fd));
  }

  at(name: string): string {
    return VIA_FD ? `${PROC_FD}/${this.fd}/${name}` : join(this.path, name);
  }

  /** A path to show a person (never used to reach the file). */
  shown(name: string): string {
    return join(this.path, name);
  }

  /**
   * The names in this folder as read (bytes decoded as UTF-8; `bad` gets those that are not), at most
   * `max` of them before `tooMany` is called (it throws): a folder of a million entries is not listed whole.
   * A small folder (its own size, from its descriptor) is listed in one call, a large one in
   * batches (so its listing is bounded by `max` however many entries it holds).
   */
  names(max: number, bad: (name: string) => void, tooMany: () => never): string[] {
    const badNames: string[] = [];
    let names: string[];
    try {
      names = this.listed(max, (n) => badNames.push(n), tooMany);
    } catch (err) {
      // A batched listing on a file system whose listings give no type (ext2 without `filetype`, XFS with
      // `ftype=0`, some FUSE ones): Node looks at each name with lstat as it reads a batch, and a name removed
      // meanwhile fails the listing (the rest of that batch lost with it). Listed again in one call, which
      // looks at no name: unbounded by `max` until it returns, as only such a file system under such a race needs.
      if ((err as NodeJS.ErrnoException).syscall !== 'lstat') throw err;
      badNames.length = 0;
      names = [];
      const raw = readdirSync(this.at('.'), { encoding: 'buffer' });
      if (raw.length > max) tooMany();
      for (const r of raw) {
        const name = r.toString('utf8');
        if (Buffer.from(name, 'utf8').equals(r)) names.push(name);
        else badNames.push(name);
      }
    }
    for (const n of badNames) bad(n);
    return names;
  }

  private listed(max: number, bad: (name: string) => void, tooMany: () => never): string[] {
    if (this.stat.size < LIST_AT_ONCE) {
      // Decoded in the call; a name that is not UTF-8 decodes with U+FFFD: only then are the bytes looked at.
      const names = readdirSync(this.at('.'), { encoding: 'utf8' });
      if (names.length > max) tooMany();
      if (!names.some((n) => n.includes('\uFFFD'))) return names;
    }
    const out: string[] = [];
    // Names as bytes (Node types only name the string encodings for opendir).
    const d = opendirSync(this.at('.'), { encoding: 'buffer' as BufferEncoding, bufferSize: 256 });
    let seen = 0;
    try {
      for (let e = d.readSync(); e !== null; e = d.readSync()) {
        // Every name counts, those left out too: a folder of names that are not UTF-8 is not read without end.
        if (++seen > max) tooMany();
        const raw = e.name as unknown as Buffer;
        const name = raw.toString('utf8');
        if (!Buffer.from(name, 'utf8').equals(raw)) {
          bad(name);
          continue;
        }
        out.push(name);
      }
    } finally {
      d.closeSync();
    }
    return out;
  }

  /** lstat of a child; undefined when it is gone (or cannot be looked at). */
  lstat(name: string): Stats | undefined {
    try {
      return lstatSync(this.at(name), { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  }

  /** As lstat, but a name that is there and cannot be looked at (EACCES, EIO…) is its error code, not "gone". */
  lstatOrError(name: string): Stats | undefined | { code: string } {
    try {
      return lstatSync(this.at(name), { throwIfNoEntry: false });
    } catch (err) {
      return { code: (err as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }

  readlink(name: string): string | undefined {
    try {
      return readlinkSync(this.at(name));
    } catch {
      return undefined;
    }
  }

  /** The child folder `name`, opened without following a link; `expect` is what lstat saw, when it looked. */
  sub(name: string, expect?: Stats): WalkDir {
    const fd = openSync(this.at(name), O_DIR);
    const st = fstatSync(fd);
    if (expect && (st.ino !== expect.ino || st.dev !== expect.dev)) {
      closeSync(fd);
      throw new ChangedWhileRead(`${this.shown(name)} changed while it was read`);
    }
    return new WalkDir(fd, join(this.path, name), st);
  }

  /** A regular file opened for reading without following a link; undefined when it is no longer what lstat saw. */
  openFile(name: string, expect: Stats): number | undefined {
    let fd: number;
    try {
      fd = openSync(this.at(name), O_READ);
    } catch {
      return undefined;
    }
    const st = fstatSync(fd);
    if (!st.isFile() || st.ino !== expect.ino || st.dev !== expect.dev) {
      closeSync(fd);
      return undefined;
    }
    return fd;
  }

  /** The folder as it is now (`stat` is what it was when opened: a restore keeps folders open, and a run can chmod them meanwhile). */
  fstat(): Stats {
    return fstatSync(this.fd);
  }

  /** Change this folder's own mode (through its descriptor: never a link's target). */
  chmod(mode: number): void {
    fchmodSync(this.fd, mode);
  }

  close(): void {
    closeSync(this.fd);
  }
}
