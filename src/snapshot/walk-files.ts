/**
 * Storing the files a snapshot walk reads (take.ts): the size limits and the byte budget checked before a
 * file is opened, the file opened by the walk (no link followed, the descriptor checked against what lstat
 * saw), then read, hashed and stored by the walk itself or handed to the helper thread (parallel-store.ts).
 * Either way its entry gets the same hash, size or reason it has none.
 */
import { closeSync, type Stats } from 'node:fs';
import type { SnapshotLimits } from './limits.js';
import type { Entry } from './manifest.js';
import type { ObjectStore } from './objects.js';
import { StoreHelper, type ParallelOptions, type Stored } from './parallel-store.js';
import type { WalkDir } from './walk-dir.js';

/** Files up to this size are read, hashed and stored in one go; larger ones stream in chunks this big. */
const SCRATCH = 8 << 20;

export interface WalkFilesOptions {
  store: ObjectStore;
  limits: SnapshotLimits;
  /** The helper thread's settings; false: the walk stores every file itself. */
  parallel?: false | ParallelOptions;
  /** Tests: called with a file's path after lstat saw it, before it is opened. */
  beforeOpen?: (path: string) => void;
}

export class WalkFiles {
  /** Files read (not vouched for by the stat cache), and bytes added to the store. */
  read = 0;
  added = 0;
  /** Bytes this walk may still read. */
  private budget: number;
  private scratchBuf: Buffer | undefined;
  readonly helper: StoreHelper | undefined;

  constructor(
    private readonly o: WalkFilesOptions,
    private readonly pause: () => Promise<void>,
  ) {
    this.budget = o.limits.maxBytes;
    this.helper = o.parallel === false ? undefined : new StoreHelper(o.store.root, o.limits.maxFileSize, SCRATCH, o.parallel);
  }

  private get scratch(): Buffer {
    this.scratchBuf ??= Buffer.allocUnsafe(SCRATCH);
    return this.scratchBuf;
  }

  /** Store an open file on this thread (the helper's way: read, hashed, stored; undefined past the limit). */
  private storeHere(fd: number): Promise<Stored> {
    return this.o.store.putFd(fd, this.o.limits.maxFileSize, this.scratch, this.pause);
  }

  /** Record a file the stat cache cannot vouch for: read, hashed and stored (or why not). */
  async file(dir: WalkDir, name: string, e: Entry, st: Stats): Promise<void> {
    if (st.size > this.o.limits.maxFileSize) {
      e.why = 'too-large';
      return;
    }
    if (st.size > this.budget) {
      e.why = 'over-budget';
      return;
    }
    this.budget -= st.size; // reserved before reading
    this.o.beforeOpen?.(e.path);
    const fd = dir.openFile(name, st);
    if (fd === undefined) {
      // Swapped since lstat saw it, or not readable: nothing was read, so its bytes go back to the budget
      // (else a run could spend the budget on files no one can read, leaving later files without content).
      this.budget += st.size;
      e.why = 'unreadable';
      return;
    }
    let handed = false;
    try {
      handed = this.helper?.take(fd, st.size, (r) => this.stored(e, st.size, r)) === true;
      if (!handed) this.stored(e, st.size, await this.storeHere(fd));
    } finally {
      if (!handed) closeSync(fd);
    }
    // The helper's answers (each closes a descriptor handed over) arrive while the event loop turns.
    await this.pause();
  }

  /** What was stored of a file (`reserved`: the bytes its lstat size took from the budget). */
  private stored(e: Entry, reserved: number, r: Stored): void {
    this.read++;
    if (!r) {
      e.why = 'too-large'; // it grew past the limit while read
      return;
    }
    this.budget += reserved - r.size;
    this.added += r.added;
    e.hash = r.hash;
    e.size = r.size;
  }

  /** Every file handed to the helper stored, its pack sealed (before any manifest names them). */
  async finish(): Promise<void> {
    await this.helper?.finish((fd) => this.storeHere(fd));
  }

  /** The walk failed: the helper stopped, what it read dropped. */
  async abort(): Promise<void> {
    await this.helper?.abort();
  }
}
