/**
 * The snapshot walk of one thread (take.ts runs it on the workspace; its second walker, walk-worker.ts, on
 * the folders handed to it): folders listed and every name looked at with lstat through the folder's
 * descriptor (links recorded, never followed; FIFOs, sockets and devices recorded, never opened),
 * .gitignore files (nested too) and `snapshots.exclude` honoured, and the files the previous snapshot
 * cannot vouch for (same size, mtime, inode, ctime) read and stored (walk-files.ts). The bounds it
 * checks (entries, bytes, matching steps) are shared by the threads of one snapshot (walk-shared.ts).
 */
import { createHash } from 'node:crypto';
import { closeSync, readSync, Stats } from 'node:fs';
import { MoatError } from '../errors.js';
import { MatchBudget } from './glob.js';
import { isIgnored, parseIgnoreFile, parseRule, type IgnoreFile } from './ignore.js';
import type { SnapshotLimits } from './limits.js';
import { MAX_PATH, childrenByDir, type Entry, type Listing, type Manifest } from './manifest.js';
import type { FolderStat, WalkDir } from './walk-dir.js';
import type { WalkFiles } from './walk-files.js';
import type { WalkShared } from './walk-shared.js';

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

/** What a walk of the workspace (or of part of it, in another thread) is told. */
export interface WalkOptions {
  workspace: string;
  limits: SnapshotLimits;
  exclude?: string[];
  excludeAbs?: string[];
  previous?: Manifest;
  previousByPath: Map<string, Entry>;
  previousChildren?: Map<string, string[]>;
  ignoreFrom?: (dir: string) => Promise<string | undefined>;
}

/** A folder to walk: where it is, the ignore rules above it, and its listing state (`self`, set by the walk). */
export interface Folder {
  rel: string;
  stack: IgnoreFile[];
  rules: string;
  depth: number;
  st: FolderStat;
}

/** Where a folder's listing state goes when another thread walked it (applied to its entry once merged). */
export interface ListingFix {
  path: string;
  list?: string;
}

export class Walk {
  readonly entries: Entry[] = [];
  readonly skipped: Array<{ path: string; why: string }> = [];
  skippedCount = 0;
  listed = 0;
  /** A folder was listed again only because it changed around the previous walk: its result is a new manifest. */
  untrusted = false;
  /** The listing states of the folders this walk was handed by another thread (their entries are there). */
  readonly fixes: ListingFix[] = [];
  /** What decides the names kept under the root (snapshots.exclude, paths left out): part of every listing's rules hash. */
  readonly rootRules: string;
  private children: Map<string, string[]> | undefined;
  readonly trustBefore: number;
  readonly excludeRules: IgnoreFile;
  readonly excludeAbs: Set<string>;
  /** What matching names against ignore rules may cost (glob.ts), drawn from the snapshot's shared pool. */
  readonly matching: MatchBudget;
  /**
   * Set by take.ts and the second walker: whether a subfolder (opened) goes to the other thread instead
   * (then it owns the descriptor and closes it); otherwise this walk enters it.
   */
  handOff?: (sub: WalkDir, f: Folder) => boolean;
  /** Files that the stat cache could not vouch for, met so far. */
  toRead = 0;

  constructor(
    readonly o: WalkOptions,
    readonly shared: WalkShared,
    readonly files: WalkFiles,
    /** Lets other work run (and throws when the snapshot was stopped); called between folders. */
    readonly pause: () => Promise<void>,
  ) {
    // A file changed around the time the previous snapshot read it may have changed again unseen (racy stat).
    this.trustBefore = (o.previous?.startedAt ?? 0) - RACY_MS;
    this.excludeRules = { base: '', rules: (o.exclude ?? []).map(parseRule).filter((r) => r !== undefined) };
    this.excludeAbs = new Set(o.excludeAbs ?? []);
    this.rootRules = chainRules(RULES_SCHEME, '', JSON.stringify([o.exclude ?? [], [...this.excludeAbs].sort()]));
    this.matching = new MatchBudget(0, () => shared.takeSteps());
  }

  get prev(): Map<string, Entry> {
    return this.o.previousByPath;
  }

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
    if (this.shared.record() > this.o.limits.maxFiles) this.tooMany();
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

  /** Walk a folder handed over by another thread (this walk closes it); its listing state is kept as a fix. */
  async handed(dir: WalkDir, f: Folder): Promise<void> {
    const self: Listing = { mtime: f.st.mtimeMs };
    try {
      await this.dir(dir, f.rel, f.stack, f.rules, f.depth, f.st, self);
    } finally {
      dir.close();
    }
    this.fixes.push({ path: f.rel, ...(self.list !== undefined ? { list: self.list } : {}) });
  }

  /**
   * Walk the folder `rel` (`st`: what lstat saw of it before it was opened; `self`: its listing state, set
   * here for the next walk). Its names are read from disk unless the previous snapshot listed it with the
   * same inode, ctime and mtime (not changed around that walk) and under the same ignore rules: then its
   * names are the recorded ones (a name created, removed or renamed in a folder changes its mtime and
   * ctime; setting the mtime back changes the ctime). Every name is still looked at with lstat through the
   * folder's descriptor, so a child swapped for a link is seen as the link.
   */
  async dir(dir: WalkDir, rel: string, stack: IgnoreFile[], rules: string, depth: number, st: FolderStat, self: Listing): Promise<void> {
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
        // inode, ctime, size, mtime and mode, and not changed around the previous walk, is the recorded entry
        // (its hash kept, or why it has none).
        if (p?.type === 'file' && p.key === key && p.size === st.size && p.mtime === st.mtimeMs && p.mode === mode && st.ctimeMs < this.trustBefore) {
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
    this.toRead += files.length;
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
      const folder: Folder = { rel: prefix + s.name, stack: here, rules: rulesHere, depth: depth + 1, st: s.st };
      if (this.handOff?.(sub, folder)) continue; // its entry gets its listing state once merged
      try {
        await this.dir(sub, folder.rel, here, rulesHere, depth + 1, s.st, s.entry);
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

export function sameEntry(x: Entry, y: Entry): boolean {
  if (x.path !== y.path || x.type !== y.type || x.mode !== y.mode || x.size !== y.size || x.mtime !== y.mtime) return false;
  return x.hash === y.hash && x.target === y.target && x.why === y.why && x.key === y.key && x.list === y.list;
}
