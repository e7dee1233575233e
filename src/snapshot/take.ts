/**
 * Take a snapshot: walk the workspace with lstat only (links recorded, never followed; FIFOs, sockets and
 * devices recorded, never opened), honour .gitignore files (nested too) and `snapshots.exclude`, read only
 * the files the previous snapshot of the same workspace cannot vouch for (same size, mtime, inode, ctime),
 * and store new contents once by hash.
 */
import { createHash } from 'node:crypto';
import { closeSync, readSync, Stats } from 'node:fs';
import { MoatError } from '../errors.js';
import { MatchBudget } from './glob.js';
import { isIgnored, parseIgnoreFile, parseRule, type IgnoreFile } from './ignore.js';
import type { SnapshotLimits } from './limits.js';
import { MAX_PATH, byPath, childrenByDir, writeManifest, type Entry, type Listing, type Manifest } from './manifest.js';
import type { ObjectStore } from './objects.js';
import type { ParallelOptions } from './parallel-store.js';
import { WalkDir } from './walk-dir.js';
import { WalkFiles } from './walk-files.js';

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
  /** The previous snapshot's names by folder, when the caller keeps them (else built from `previous` when first needed). */
  previousChildren?: Map<string, string[]>;
  /** The previous snapshot's hash: when the walk finds exactly what it recorded, it is the result (nothing written). */
  previousHash?: string;
  /**
   * Where .gitignore rules come from: by default the files on disk; the post-run snapshot passes the
   * pre-run manifest's, so a run cannot hide what it changed by writing a .gitignore.
   */
  ignoreFrom?: (dir: string) => Promise<string | undefined>;
  now?: () => Date;
  /** The helper thread that stores larger files (parallel-store.ts); false: the walk stores every file itself. */
  parallel?: false | ParallelOptions;
  /** Tests: called with a file's path after lstat saw it, before it is opened. */
  beforeOpen?: (path: string) => void;
}

export interface TakeResult {
  manifest: Manifest;
  hash: string;
  /** Files read (not vouched for by the stat cache), and bytes added to the store. */
  read: number;
  /** Folders whose names were read from disk (the others' listings were reused from the previous snapshot). */
  listed: number;
  added: number;
  /** Files recorded without their content (too large, over the byte budget). */
  unstored: Entry[];
}

/** A .gitignore larger than this is not read as rules (nor applied from a manifest: service.ts). */
export const MAX_IGNORE_FILE = 1 << 20;
const SKIP_KEEP = 100;
/** Timestamps are coarse (a jiffy or so): a file changed this close to the last walk is read again. */
const RACY_MS = 100;
/** Names how listings' rules are hashed (a change of scheme makes every folder listed once again). */
const RULES_SCHEME = 'moat-listing-rules-1';

/** The rules hash inside folder `rel`, from the hash of the rules above it and its own ignore file's text. */
function chainRules(above: string, rel: string, text: string): string {
  return createHash('sha256').update(above).update('\0').update(rel).update('\0').update(text).digest('base64url').slice(0, 22);
}

/** The walk runs synchronously in slices this long, then lets the event loop turn (other start-up work). */
const SLICE_MS = 8;

class Walk {
  readonly entries: Entry[] = [];
  readonly skipped: Array<{ path: string; why: string }> = [];
  skippedCount = 0;
  listed = 0;
  /** A folder was listed again only because it changed around the previous walk: its result is a new manifest. */
  untrusted = false;
  /** The workspace folder's listing state (the manifest's `root`). */
  readonly root: Listing = { mtime: 0 };
  /** What decides the names kept under the root (snapshots.exclude, paths left out): part of every listing's rules hash. */
  readonly rootRules: string;
  private children: Map<string, string[]> | undefined;
  readonly prev: Map<string, Entry>;
  readonly trustBefore: number;
  readonly excludeRules: IgnoreFile;
  readonly excludeAbs: Set<string>;
  /** What matching names against ignore rules may cost this walk (glob.ts). */
  readonly matching = new MatchBudget();
  private sliceStart = performance.now();
  /** Reads, hashes and stores the files the stat cache cannot vouch for. */
  readonly files: WalkFiles;

  constructor(readonly o: TakeOptions) {
    this.prev = o.previousByPath ?? byPath(o.previous);
    // A file changed around the time the previous snapshot read it may have changed again unseen (racy stat).
    this.trustBefore = (o.previous?.startedAt ?? 0) - RACY_MS;
    this.excludeRules = { base: '', rules: (o.exclude ?? []).map(parseRule).filter((r) => r !== undefined) };
    this.excludeAbs = new Set(o.excludeAbs ?? []);
    this.rootRules = chainRules(RULES_SCHEME, '', JSON.stringify([o.exclude ?? [], [...this.excludeAbs].sort()]));
    this.files = new WalkFiles(o, this.pause);
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

  async ignoreText(dir: WalkDir, rel: string, present: boolean): Promise<string | undefined> {
    if (this.o.ignoreFrom) return this.o.ignoreFrom(rel);
    if (!present) return undefined;
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

  /** The names in a folder, read from disk (sorted). */
  list(dir: WalkDir, prefix: string): string[] {
    this.listed++;
    const names = dir.names(
      this.o.limits.maxFiles,
      (name) => this.skip(prefix + name, 'name is not UTF-8'), // cannot be named back faithfully: left out, and said so
      () => this.tooMany(),
    );
    return names.sort();
  }

  /** The names the previous snapshot recorded directly under `rel`. */
  childrenOf(rel: string): readonly string[] {
    this.children ??= this.o.previousChildren ?? childrenByDir(this.o.previous);
    return this.children.get(rel) ?? [];
  }

  /**
   * Walk the folder `rel` (`st`: what lstat saw of it before it was opened; `self`: its listing state, set
   * here for the next walk). Its names are read from disk unless the previous snapshot listed it with the
   * same inode, ctime and mtime (not changed around that walk) and under the same ignore rules: then its
   * names are the recorded ones (a name created, removed or renamed in a folder changes its mtime and
   * ctime; setting the mtime back changes the ctime). Every name is still looked at with lstat through the
   * folder's descriptor, so a child swapped for a link is seen as the link.
   */
  async dir(dir: WalkDir, rel: string, stack: IgnoreFile[], rules: string, depth: number, st: Stats, self: Listing): Promise<void> {
    const prefix = rel === '' ? '' : `${rel}/`;
    const skipsBefore = this.skippedCount;
    const before = this.listingBefore(rel);
    const key = `${st.ino}:${st.ctimeMs}`;
    const same = before?.list !== undefined && before.key === key && before.mtime === st.mtimeMs;
    const trusted = same && st.ctimeMs < this.trustBefore;
    if (same && !trusted) this.untrusted = true;
    let names: readonly string[] | undefined = trusted ? undefined : this.list(dir, prefix);
    const hasIgnoreFile = names ? names.includes('.gitignore') : before?.list?.startsWith('g') === true;
    const text = await this.ignoreText(dir, rel, hasIgnoreFile);
    const here = text === undefined ? stack : [...stack, parseIgnoreFile(rel, text)];
    const rulesHere = text === undefined ? rules : chainRules(rules, rel, text);
    const list = `${hasIgnoreFile ? 'g' : '-'}${rulesHere}`;
    const reused = names === undefined && before?.list === list;
    names ??= reused ? this.childrenOf(rel) : this.list(dir, prefix);
    const files: Array<{ name: string; entry: Entry; st: Stats }> = [];
    const subdirs: Array<{ name: string; st: Stats; entry: Entry; at: number }> = [];
    for (const name of names) {
      const path = prefix + name;
      if (path.length > MAX_PATH) {
        // Longer than a manifest may hold (a run nesting folders to make every later snapshot unreadable).
        this.skip(path.slice(0, 200) + '…', `path longer than ${MAX_PATH} characters`);
        continue;
      }
      const st = dir.lstatOrError(name);
      if (!st) continue; // gone since it was listed
      if (!(st instanceof Stats)) {
        // Never dropped in silence (and the listing is not reused while a name is left out).
        this.skip(path, `could not be looked at (${st.code})`);
        continue;
      }
      const isDir = st.isDirectory();
      // A reused listing holds only names kept under the same rules; one that is now of the other kind
      // (folder / not) is matched again (rules ending in '/' apply to folders only).
      if (!reused || (this.prev.get(path)?.type === 'dir') !== isDir) {
        if (isIgnored(here, path, isDir, this.matching) || isIgnored([this.excludeRules], path, isDir, this.matching)) continue;
      }
      if (this.excludeAbs.size > 0 && this.excludeAbs.has(dir.shown(name))) continue;
      this.count();
      const mode = st.mode & 0o7777;
      if (isDir) {
        const entry: Entry = { path, type: 'dir', mode, size: 0, mtime: st.mtimeMs, key: `${st.ino}:${st.ctimeMs}` };
        this.entries.push(entry);
        if (depth + 1 >= this.o.limits.maxDepth) this.skip(path, `deeper than ${this.o.limits.maxDepth} folders`);
        else subdirs.push({ name, st, entry, at: this.entries.length - 1 });
      } else if (st.isSymbolicLink()) {
        const target = dir.readlink(name);
        if (target !== undefined) this.entries.push({ path, type: 'link', mode, size: st.size, mtime: st.mtimeMs, target });
      } else if (st.isFile()) {
        const key = `${st.ino}:${st.ctimeMs}`;
        const p = this.prev.get(path);
        // The stat cache: only a regular file now (lstat above, no link followed) that was one with the same
        // inode, ctime, size, mtime and mode, and not changed around the previous walk, is the recorded entry:
        // its hash kept, or the reason it has none while that reason still holds (a file left without its
        // content for the budget, or because it could not be read, is tried again; one too large, once the
        // limit is raised).
        if (
          p?.type === 'file' &&
          p.key === key &&
          p.size === st.size &&
          p.mtime === st.mtimeMs &&
          p.mode === mode &&
          st.ctimeMs < this.trustBefore &&
          (p.why === undefined || (p.why === 'too-large' && st.size > this.o.limits.maxFileSize))
        ) {
          this.entries.push(p);
          continue;
        }
        const entry: Entry = { path, type: 'file', mode, size: st.size, mtime: st.mtimeMs, key };
        this.entries.push(entry);
        files.push({ name, entry, st });
      } else {
        this.entries.push({ path, type: 'other', mode, size: 0, mtime: st.mtimeMs });
      }
    }
    // Reusable next time only when no name was left out of it (those are not in the manifest to reuse).
    if (this.skippedCount === skipsBefore) self.list = list;
    for (const f of files) await this.files.file(dir, f.name, f.entry, f.st);
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
        await this.dir(sub, prefix + s.name, here, rulesHere, depth + 1, s.st, s.entry);
      } finally {
        sub.close();
      }
      // Recorded as before (its listing state too): the previous entry stands for it.
      const p = this.prev.get(s.entry.path);
      if (p && sameEntry(p, s.entry)) this.entries[s.at] = p;
    }
  }

  /** The previous snapshot's listing state of folder `rel` (undefined when it recorded none). */
  listingBefore(rel: string): Listing | undefined {
    if (rel === '') return this.o.previous?.root;
    const e = this.prev.get(rel);
    return e?.type === 'dir' ? e : undefined;
  }
}

export async function takeSnapshot(o: TakeOptions): Promise<TakeResult> {
  const started = Date.now();
  const w = new Walk(o);
  const root = WalkDir.open(o.workspace);
  let walked = false;
  try {
    w.root.key = `${root.stat.ino}:${root.stat.ctimeMs}`;
    w.root.mtime = root.stat.mtimeMs;
    await w.dir(root, '', [], w.rootRules, 0, root.stat, w.root);
    await w.files.finish(); // the helper's files stored, its pack sealed
    walked = true;
  } finally {
    root.close();
    if (!walked) await w.files.abort(); // its pack dropped unsealed
    // The walk's new objects sealed into their pack before any manifest names them (also when it failed).
    o.store.flush();
  }
  // Nothing it relied on instead of storing again was removed meanwhile (else its manifest would name
  // contents no store holds).
  o.store.checkRelied();
  w.entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: Manifest = {
    version: 1,
    workspace: o.workspace,
    createdAt: (o.now?.() ?? new Date()).toISOString(),
    startedAt: started,
    entries: w.entries,
    skipped: w.skipped,
    skippedCount: w.skippedCount,
    root: w.root,
  };
  const unstored = w.entries.filter((e) => e.why !== undefined);
  // An unchanged workspace (every file vouched for by the stat cache, every entry as recorded): the
  // previous manifest is this snapshot too, so nothing is encoded or written. Its walk time stays the
  // trust bound of the next snapshot, which is right: nothing was read since. (Touched: young again, so a
  // collection running meanwhile leaves it alone, as it would a manifest just written.)
  if (o.previous && o.previousHash && w.files.read === 0 && !w.untrusted && sameTree(o.previous, manifest) && o.store.touch(o.previousHash)) {
    return { manifest: { ...o.previous, createdAt: manifest.createdAt }, hash: o.previousHash, read: 0, listed: w.listed, added: 0, unstored };
  }
  const hash = await writeManifest(o.store, manifest);
  return { manifest, hash, read: w.files.read, listed: w.listed, added: w.files.added, unstored };
}

/** Whether two manifests (entries sorted alike) record the same tree, entry by entry, and skipped the same. */
function sameTree(a: Manifest, b: Manifest): boolean {
  if (a.entries.length !== b.entries.length || a.skippedCount !== b.skippedCount) return false;
  for (let i = 0; i < a.entries.length; i++) {
    const x = a.entries[i] as Entry;
    const y = b.entries[i] as Entry;
    if (x !== y && !sameEntry(x, y)) return false;
  }
  if (a.root?.key !== b.root?.key || a.root?.mtime !== b.root?.mtime || a.root?.list !== b.root?.list) return false;
  return JSON.stringify(a.skipped) === JSON.stringify(b.skipped);
}

function sameEntry(x: Entry, y: Entry): boolean {
  if (x.path !== y.path || x.type !== y.type || x.mode !== y.mode || x.size !== y.size || x.mtime !== y.mtime) return false;
  return x.hash === y.hash && x.target === y.target && x.why === y.why && x.key === y.key && x.list === y.list;
}
