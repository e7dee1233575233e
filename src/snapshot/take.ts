/**
 * Take a snapshot: walk the workspace with lstat only (links recorded, never followed; FIFOs, sockets and
 * devices recorded, never opened), honour .gitignore files (nested too) and `snapshots.exclude`, read only
 * the files the previous snapshot of the same workspace cannot vouch for (same size, mtime, inode, ctime),
 * and store new contents once by hash.
 */
import { closeSync, readSync, type Stats } from 'node:fs';
import { MoatError } from '../errors.js';
import { MatchBudget } from './glob.js';
import { isIgnored, parseIgnoreFile, parseRule, type IgnoreFile } from './ignore.js';
import type { SnapshotLimits } from './limits.js';
import { MAX_PATH, byPath, writeManifest, type Entry, type Manifest } from './manifest.js';
import type { ObjectStore } from './objects.js';
import { WalkDir } from './walk-dir.js';

export interface TakeOptions {
  workspace: string;
  store: ObjectStore;
  limits: SnapshotLimits;
  /** snapshots.exclude: gitignore-style patterns from the workspace root. */
  exclude?: string[];
  /** Absolute paths never recorded (moat's own home, when it sits in the workspace). */
  excludeAbs?: string[];
  /** The previous snapshot of this workspace: its entries vouch for files unchanged since. */
  previous?: Manifest;
  /** The previous snapshot's entries by path, when the caller keeps them (else built from `previous`). */
  previousByPath?: Map<string, Entry>;
  /** The previous snapshot's hash: when the walk finds exactly what it recorded, it is the result (nothing written). */
  previousHash?: string;
  /**
   * Where .gitignore rules come from: by default the files on disk; the post-run snapshot passes the
   * pre-run manifest's, so a run cannot hide what it changed by writing a .gitignore.
   */
  ignoreFrom?: (dir: string) => Promise<string | undefined>;
  now?: () => Date;
}

export interface TakeResult {
  manifest: Manifest;
  hash: string;
  /** Files read (not vouched for by the stat cache), and bytes added to the store. */
  read: number;
  added: number;
  /** Files recorded without their content (too large, over the byte budget). */
  unstored: Entry[];
}

const MAX_IGNORE_FILE = 1 << 20;
const SKIP_KEEP = 100;
/** Timestamps are coarse (a jiffy or so): a file changed this close to the last walk is read again. */
const RACY_MS = 100;
/** Files up to this size are read, hashed and stored in one go; larger ones stream in chunks this big. */
const SCRATCH = 8 << 20;
/** The walk runs synchronously in slices this long, then lets the event loop turn (other start-up work). */
const SLICE_MS = 8;

class Walk {
  readonly entries: Entry[] = [];
  readonly skipped: Array<{ path: string; why: string }> = [];
  skippedCount = 0;
  read = 0;
  added = 0;
  budget: number;
  readonly prev: Map<string, Entry>;
  readonly trustBefore: number;
  readonly excludeRules: IgnoreFile;
  readonly excludeAbs: Set<string>;
  /** What matching names against ignore rules may cost this walk (glob.ts). */
  readonly matching = new MatchBudget();
  private scratchBuf: Buffer | undefined;
  private sliceStart = performance.now();

  constructor(readonly o: TakeOptions) {
    this.budget = o.limits.maxBytes;
    this.prev = o.previousByPath ?? byPath(o.previous);
    // A file changed around the time the previous snapshot read it may have changed again unseen (racy stat).
    this.trustBefore = (o.previous?.startedAt ?? 0) - RACY_MS;
    this.excludeRules = { base: '', rules: (o.exclude ?? []).map(parseRule).filter((r) => r !== undefined) };
    this.excludeAbs = new Set(o.excludeAbs ?? []);
  }

  private get scratch(): Buffer {
    this.scratchBuf ??= Buffer.allocUnsafe(SCRATCH);
    return this.scratchBuf;
  }

  /** Let the event loop turn when this slice of synchronous work has run long enough. */
  readonly pause = async (): Promise<void> => {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
    await new Promise<void>((r) => setImmediate(r));
    this.sliceStart = performance.now();
  };

  skip(path: string, why: string): void {
    this.skippedCount++;
    if (this.skipped.length < SKIP_KEEP) this.skipped.push({ path, why });
  }

  tooMany(): never {
    throw new MoatError(`The workspace holds more than ${this.o.limits.maxFiles} files and folders, the most a snapshot records.`, {
      code: 'E_REFUSED',
      hint: 'Exclude generated folders (snapshots.exclude in moat.yaml, or .gitignore), or raise snapshots.max_files.',
    });
  }

  count(): void {
    if (this.entries.length >= this.o.limits.maxFiles) this.tooMany();
  }

  async ignoreText(dir: WalkDir, rel: string, names: string[]): Promise<string | undefined> {
    if (this.o.ignoreFrom) return this.o.ignoreFrom(rel);
    if (!names.includes('.gitignore')) return undefined;
    const st = dir.lstat('.gitignore');
    if (!st?.isFile() || st.size > MAX_IGNORE_FILE) return undefined;
    const fd = dir.openFile('.gitignore', st);
    if (fd === undefined) return undefined;
    try {
      const buf = Buffer.alloc(Math.min(st.size, MAX_IGNORE_FILE));
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }

  async dir(dir: WalkDir, rel: string, stack: IgnoreFile[], depth: number): Promise<void> {
    const prefix = rel === '' ? '' : `${rel}/`;
    const names = dir.names(
      this.o.limits.maxFiles,
      (name) => this.skip(prefix + name, 'name is not UTF-8'), // cannot be named back faithfully: left out, and said so
      () => this.tooMany(),
    );
    names.sort();
    const text = await this.ignoreText(dir, rel, names);
    const here = text === undefined ? stack : [...stack, parseIgnoreFile(rel, text)];
    const files: Array<{ name: string; entry: Entry; st: Stats }> = [];
    const subdirs: Array<{ name: string; st: Stats }> = [];
    for (const name of names) {
      const path = prefix + name;
      if (path.length > MAX_PATH) {
        // Longer than a manifest may hold (a run nesting folders to make every later snapshot unreadable).
        this.skip(path.slice(0, 200) + '…', `path longer than ${MAX_PATH} characters`);
        continue;
      }
      const st = dir.lstat(name);
      if (!st) continue; // gone since it was listed
      const isDir = st.isDirectory();
      if (isIgnored(here, path, isDir, this.matching) || isIgnored([this.excludeRules], path, isDir, this.matching)) continue;
      if (this.excludeAbs.size > 0 && this.excludeAbs.has(dir.shown(name))) continue;
      this.count();
      const base = { path, mode: st.mode & 0o7777, size: st.size, mtime: st.mtimeMs };
      if (isDir) {
        this.entries.push({ ...base, type: 'dir', size: 0 });
        if (depth + 1 >= this.o.limits.maxDepth) this.skip(path, `deeper than ${this.o.limits.maxDepth} folders`);
        else subdirs.push({ name, st });
      } else if (st.isSymbolicLink()) {
        const target = dir.readlink(name);
        if (target !== undefined) this.entries.push({ ...base, type: 'link', target });
      } else if (st.isFile()) {
        const entry: Entry = { ...base, type: 'file', key: `${st.ino}:${st.ctimeMs}` };
        this.entries.push(entry);
        files.push({ name, entry, st });
      } else {
        this.entries.push({ ...base, type: 'other', size: 0 });
      }
    }
    for (const f of files) await this.file(dir, f.name, f.entry, f.st);
    for (const s of subdirs) {
      await this.pause();
      let sub: WalkDir;
      try {
        sub = dir.sub(s.name, s.st);
      } catch {
        this.skip(prefix + s.name, 'changed while read');
        continue;
      }
      try {
        await this.dir(sub, prefix + s.name, here, depth + 1);
      } finally {
        sub.close();
      }
    }
  }

  async file(dir: WalkDir, name: string, e: Entry, st: Stats): Promise<void> {
    const p = this.prev.get(e.path);
    // The stat cache: only a regular file now (lstat above, no link followed) that was one with the same
    // inode, ctime, size and mtime, and not changed around the previous walk, keeps its recorded hash.
    if (p && p.type === 'file' && p.key === e.key && p.size === e.size && p.mtime === e.mtime && st.ctimeMs < this.trustBefore) {
      if (p.hash) e.hash = p.hash;
      if (p.why) e.why = p.why;
      return;
    }
    if (st.size > this.o.limits.maxFileSize) {
      e.why = 'too-large';
      return;
    }
    if (st.size > this.budget) {
      e.why = 'over-budget';
      return;
    }
    this.budget -= st.size; // reserved before reading
    const fd = dir.openFile(name, st);
    if (fd === undefined) {
      e.why = 'over-budget';
      return;
    }
    try {
      await this.pause();
      const r = await this.o.store.putFd(fd, this.o.limits.maxFileSize, this.scratch, this.pause);
      this.read++;
      if (!r) {
        e.why = 'too-large';
        return;
      }
      this.budget += st.size - r.size;
      this.added += r.added;
      e.hash = r.hash;
      e.size = r.size;
    } finally {
      closeSync(fd);
    }
  }
}

export async function takeSnapshot(o: TakeOptions): Promise<TakeResult> {
  const started = Date.now();
  const w = new Walk(o);
  const root = WalkDir.open(o.workspace);
  try {
    await w.dir(root, '', [], 0);
  } finally {
    root.close();
  }
  w.entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: Manifest = {
    version: 1,
    workspace: o.workspace,
    createdAt: (o.now?.() ?? new Date()).toISOString(),
    startedAt: started,
    entries: w.entries,
    skipped: w.skipped,
    skippedCount: w.skippedCount,
  };
  const unstored = w.entries.filter((e) => e.why !== undefined);
  // An unchanged workspace (every file vouched for by the stat cache, every entry as recorded): the
  // previous manifest is this snapshot too, so nothing is encoded or written. Its walk time stays the
  // trust bound of the next snapshot, which is right: nothing was read since. (Touched: young again, so a
  // collection running meanwhile leaves it alone, as it would a manifest just written.)
  if (o.previous && o.previousHash && w.read === 0 && sameTree(o.previous, manifest) && o.store.touch(o.previousHash)) {
    return { manifest: { ...o.previous, createdAt: manifest.createdAt }, hash: o.previousHash, read: 0, added: 0, unstored };
  }
  const hash = await writeManifest(o.store, manifest);
  return { manifest, hash, read: w.read, added: w.added, unstored };
}

/** Whether two manifests (entries sorted alike) record the same tree, entry by entry, and skipped the same. */
function sameTree(a: Manifest, b: Manifest): boolean {
  if (a.entries.length !== b.entries.length || a.skippedCount !== b.skippedCount) return false;
  for (let i = 0; i < a.entries.length; i++) {
    const x = a.entries[i] as Entry;
    const y = b.entries[i] as Entry;
    if (x.path !== y.path || x.type !== y.type || x.mode !== y.mode || x.size !== y.size || x.mtime !== y.mtime) return false;
    if (x.hash !== y.hash || x.target !== y.target || x.why !== y.why || x.key !== y.key) return false;
  }
  return JSON.stringify(a.skipped) === JSON.stringify(b.skipped);
}
