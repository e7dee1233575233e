/**
 * Take a snapshot: walk the workspace (walk.ts: lstat only, links recorded and never followed, .gitignore
 * files and `snapshots.exclude` honoured, only the files the previous snapshot cannot vouch for read),
 * with a second walker on another core once there is much to read (co-walk.ts), store new contents once
 * by hash, and write the manifest once every content it names is sealed in the store.
 */
import { CoWalker, type CoWalkOptions } from './co-walk.js';
import { receivedFolder } from './co-walk-protocol.js';
import { MATCH_STEPS } from './glob.js';
import type { IgnoreFile } from './ignore.js';
import type { SnapshotLimits } from './limits.js';
import { byPath, writeManifest, type Entry, type Listing, type Manifest } from './manifest.js';
import type { ObjectStore } from './objects.js';
import type { ParallelOptions } from './parallel-store.js';
import { MAX_IGNORE_FILE, Walk, sameEntry, type ListingFix } from './walk.js';
import { WalkDir } from './walk-dir.js';
import { WalkFiles } from './walk-files.js';
import { WalkShared } from './walk-shared.js';

export { MAX_IGNORE_FILE };

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
  /** The same, as data: folder → the hash of its .gitignore in the store (what a second walker can use too). */
  ignoreFiles?: Map<string, string>;
  now?: () => Date;
  /** The helper thread that stores larger files (parallel-store.ts); false: the walk stores every file itself. */
  parallel?: false | ParallelOptions;
  /** The second walker's settings (co-walk.ts); false: one walking thread. */
  coWalk?: false | CoWalkOptions;
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
  /** Folders the second walker was handed (0: it did not walk), and folders it handed back to the walk. */
  coWalked: number;
  handedBack: number;
}

/** The walk runs synchronously in slices this long, then lets the event loop turn (other start-up work). */
const SLICE_MS = 8;

/** The second walker, when this snapshot may have one (its inputs can go to another thread). */
function coWalkerFor(o: TakeOptions, shared: WalkShared): CoWalker | undefined {
  if (o.coWalk === false || o.parallel === false || o.ignoreFrom || o.beforeOpen || (o.previous && !o.previousHash)) return undefined;
  return new CoWalker(
    shared,
    {
      workspace: o.workspace,
      storeRoot: o.store.root,
      limits: o.limits,
      ...(o.exclude ? { exclude: o.exclude } : {}),
      ...(o.excludeAbs ? { excludeAbs: o.excludeAbs } : {}),
      ...(o.previous && o.previousHash ? { previousHash: o.previousHash } : {}),
      ...(o.ignoreFiles ? { ignoreFiles: [...o.ignoreFiles] } : {}),
    },
    o.coWalk ?? {},
  );
}

export async function takeSnapshot(o: TakeOptions): Promise<TakeResult> {
  const started = Date.now();
  const shared = WalkShared.create(o.limits.maxBytes, MATCH_STEPS);
  const co = coWalkerFor(o, shared);
  let sliceStart = performance.now();
  /** Let the event loop turn when this slice of synchronous work has run long enough. */
  const pause = async (): Promise<void> => {
    co?.check();
    if (performance.now() - sliceStart < SLICE_MS) return;
    await new Promise<void>((r) => setImmediate(r));
    sliceStart = performance.now();
  };
  const files = new WalkFiles(o, pause, shared);
  const ignoreFiles = o.ignoreFiles;
  const w = new Walk(
    {
      workspace: o.workspace,
      limits: o.limits,
      ...(o.exclude ? { exclude: o.exclude } : {}),
      ...(o.excludeAbs ? { excludeAbs: o.excludeAbs } : {}),
      ...(o.previous ? { previous: o.previous } : {}),
      previousByPath: o.previousByPath ?? byPath(o.previous),
      ...(o.previousChildren ? { previousChildren: o.previousChildren } : {}),
      ...(o.ignoreFrom
        ? { ignoreFrom: o.ignoreFrom }
        : ignoreFiles
          ? {
              ignoreFrom: async (dir: string) => {
                const hash = ignoreFiles.get(dir);
                return hash ? (await o.store.read(hash)).toString('utf8') : undefined;
              },
            }
          : {}),
    },
    shared,
    files,
    pause,
  );
  if (co) {
    w.handOff = (sub, f) => {
      if (co.started) return co.offer(sub, f);
      if (w.toRead >= co.startFiles) co.start();
      return false;
    };
  }
  const root: Listing = { mtime: 0 };
  const rootDir = WalkDir.open(o.workspace);
  const parsed = new Map<string, IgnoreFile[]>();
  let walked = false;
  let second: Awaited<ReturnType<CoWalker['finish']>>;
  try {
    root.key = `${rootDir.stat.ino}:${rootDir.stat.ctimeMs}`;
    root.mtime = rootDir.stat.mtimeMs;
    if (co?.startFiles === 0) co.start();
    if (co && o.coWalk && o.coWalk.awaitReady) await co.ready;
    await w.dir(rootDir, '', [], w.rootRules, 0, rootDir.stat, root);
    // The folders the second walker handed back walked, it done, its pack sealed.
    second = await co?.finish((h) => {
      const { dir, folder } = receivedFolder(h, parsed);
      return w.handed(dir, folder);
    });
    await files.finish(); // the helper's files stored, its pack sealed
    walked = true;
  } finally {
    rootDir.close();
    if (!walked) {
      shared.stop();
      await co?.abort(); // its descriptors closed, its pack dropped
      await files.abort(); // the helper's pack dropped unsealed
    }
    // The walk's new objects sealed into their pack before any manifest names them (also when it failed).
    o.store.flush();
  }
  // Nothing it relied on instead of storing again was removed meanwhile (else its manifest would name
  // contents no store holds).
  o.store.checkRelied();
  const entries = second ? merged(w, second.entries, [...w.fixes, ...second.fixes]) : w.entries;
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const skipped = second ? [...w.skipped, ...second.skipped].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, 100) : w.skipped;
  const read = files.read + (second?.read ?? 0);
  const manifest: Manifest = {
    version: 1,
    workspace: o.workspace,
    createdAt: (o.now?.() ?? new Date()).toISOString(),
    startedAt: started,
    entries,
    skipped,
    skippedCount: w.skippedCount + (second?.skippedCount ?? 0),
    root,
  };
  const listed = w.listed + (second?.listed ?? 0);
  const coWalked = second?.folders ?? 0;
  const handedBack = w.fixes.length;
  const unstored = entries.filter((e) => e.why !== undefined);
  // An unchanged workspace (every file vouched for by the stat cache, every entry as recorded): the
  // previous manifest is this snapshot too, so nothing is encoded or written. Its walk time stays the
  // trust bound of the next snapshot, which is right: nothing was read since. (Touched: young again, so a
  // collection running meanwhile leaves it alone, as it would a manifest just written.)
  const untrusted = w.untrusted || second?.untrusted === true;
  if (o.previous && o.previousHash && read === 0 && !untrusted && sameTree(o.previous, manifest) && o.store.touch(o.previousHash)) {
    return { manifest: { ...o.previous, createdAt: manifest.createdAt }, hash: o.previousHash, read: 0, listed, added: 0, unstored, coWalked, handedBack };
  }
  const hash = await writeManifest(o.store, manifest);
  return { manifest, hash, read, listed, added: files.added + (second?.added ?? 0), unstored, coWalked, handedBack };
}

/**
 * The walk's entries and the second walker's as one list, each folder walked by the other thread than the
 * one that recorded it given its listing state (then, recorded as before, the previous entry stands for it).
 */
function merged(w: Walk, more: Entry[], fixes: ListingFix[]): Entry[] {
  const entries = w.entries.concat(more);
  const lists = new Map(fixes.map((f) => [f.path, f.list]));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (e.type !== 'dir' || !lists.has(e.path)) continue;
    const list = lists.get(e.path);
    if (list !== undefined) e.list = list;
    const p = w.prev.get(e.path);
    if (p && sameEntry(p, e)) entries[i] = p;
  }
  return entries;
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
