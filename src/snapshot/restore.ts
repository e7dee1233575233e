/**
 * Put a tree back as a manifest describes it, inside one folder and nowhere else: every parent is reached
 * through open folder descriptors with O_NOFOLLOW (a link planted on the way is refused, never followed),
 * names are checked again, a new file is created in place with O_EXCL (never through a link), anything that
 * replaces a file or link is written to a temp name and renamed into place (a link there is replaced, not
 * written through), and modes are set through descriptors. Set-id bits are never restored.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, renameSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { MoatError, errnoCode } from '../errors.js';
import { sameContent } from './diff.js';
import { FolderChain } from './folder-chain.js';
import { FolderModes } from './folder-modes.js';
import { O_CREATE, O_READ } from './fsat.js';
import { pathProblem, type Entry, type Manifest, type NotStored } from './manifest.js';
import type { ObjectStore } from './objects.js';
import { WalkDir } from './walk-dir.js';

/** Why a file was recorded without its content, as a skipped restore says it. */
const UNSTORED_WHY: Record<NotStored, string> = {
  'too-large': 'over snapshots.max_file_size',
  'over-budget': 'past snapshots.max_bytes',
  unreadable: 'it could not be read',
};

export type Action =
  | { op: 'write'; entry: Entry; replace: boolean }
  /** `onTheWay`: a missing folder above the paths given, made only so they can be put back (never a change of its own). */
  | { op: 'mkdir'; entry: Entry; onTheWay?: true }
  | { op: 'delete'; path: string; type: Entry['type'] }
  | { op: 'chmod'; entry: Entry }
  | { op: 'skip'; path: string; why: string };

const MODE_MASK = 0o1777;

/** What turns `current` into `target` for the paths `keep` selects (deletions deepest first, creations parents first). */
export function planRestore(target: Manifest, current: Manifest | undefined, keep: (p: string) => boolean): Action[] {
  const want = new Map(target.entries.filter((e) => keep(e.path)).map((e) => [e.path, e]));
  const have = new Map((current?.entries ?? []).filter((e) => keep(e.path)).map((e) => [e.path, e]));
  const deletes: Action[] = [];
  const creates: Action[] = [];
  for (const [path, c] of have) {
    const t = want.get(path);
    if (!t || t.type !== c.type) deletes.push({ op: 'delete', path, type: c.type });
  }
  for (const [path, t] of want) {
    const c = have.get(path);
    const sameType = c !== undefined && c.type === t.type;
    if (t.type === 'other') {
      if (!sameType) creates.push({ op: 'skip', path, why: 'a FIFO, socket or device is not re-created' });
      continue;
    }
    if (t.type === 'file' && !t.hash) {
      if (!(sameType && sameContent(c, t))) creates.push({ op: 'skip', path, why: `its content was not stored: ${UNSTORED_WHY[t.why ?? 'unreadable']}` });
      continue;
    }
    if (t.type === 'dir') {
      if (!sameType) creates.push({ op: 'mkdir', entry: t });
      else if ((c.mode & MODE_MASK) !== (t.mode & MODE_MASK)) creates.push({ op: 'chmod', entry: t });
      continue;
    }
    // A file there now recorded without content (unreadable, over the budget) is written back: its size and
    // mtime vouch for nothing (a run can rewrite it, put them back and make it unreadable to our snapshot).
    if (!sameType || !sameContent(c, t) || (t.type === 'file' && !c.hash)) creates.push({ op: 'write', entry: t, replace: sameType });
    else if (t.type === 'file' && (c.mode & MODE_MASK) !== (t.mode & MODE_MASK)) creates.push({ op: 'chmod', entry: t });
  }
  creates.push(...missingFolders(target, current, want, creates));
  // Code-unit order keeps each folder's contents together (a restore reuses the folders it opened):
  // deletions in reverse (what is inside a folder before the folder), creations forward (parents first).
  deletes.sort((a, b) => byPath(pathOf(b), pathOf(a)));
  creates.sort((a, b) => byPath(pathOf(a), pathOf(b)));
  return [...deletes, ...creates];
}

const parentPath = (p: string): string => p.slice(0, Math.max(0, p.lastIndexOf('/')));

/**
 * The folders on the way to what is put back that the paths given do not select (`lib` for 'lib/**', `src`
 * for 'src/a.ts'): made with the mode the snapshot records when they are missing, left as they are when
 * they are there. Only looked for above a path whose parent is not itself selected, so a whole-tree
 * restore pays nothing for it.
 */
function missingFolders(target: Manifest, current: Manifest | undefined, want: Map<string, Entry>, creates: Action[]): Action[] {
  let folders: Map<string, Entry> | undefined;
  let present: Set<string> | undefined;
  const seen = new Set<string>();
  const out: Action[] = [];
  for (const a of creates) {
    if (a.op !== 'write' && a.op !== 'mkdir') continue;
    for (let p = parentPath(a.entry.path); p !== '' && !want.has(p) && !seen.has(p); p = parentPath(p)) {
      seen.add(p);
      folders ??= new Map(target.entries.filter((e) => e.type === 'dir').map((e) => [e.path, e]));
      present ??= new Set((current?.entries ?? []).map((e) => e.path));
      const folder = folders.get(p);
      if (folder && !present.has(p)) out.push({ op: 'mkdir', entry: folder, onTheWay: true });
    }
  }
  return out;
}

export function pathOf(a: Action): string {
  return 'entry' in a ? a.entry.path : a.path;
}

const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface RestoreReport {
  written: number;
  deleted: number;
  modes: number;
  skipped: Array<{ path: string; why: string }>;
}

/** The folder that holds `path` (its path, and reached through `chain`, never through a link), and the name inside it. */
function parentOf(chain: FolderChain, path: string, create: boolean): { folder: string; dir: WalkDir; name: string } {
  const problem = pathProblem(path);
  if (problem) throw new MoatError(`Refusing to restore "${path.slice(0, 200)}": the path ${problem}.`, { code: 'E_REFUSED' });
  const folder = parentPath(path);
  return { folder, dir: chain.folder(folder, create, path), name: path.slice(path.lastIndexOf('/') + 1) };
}

const tmpName = (): string => `.moat-restore-${randomBytes(6).toString('hex')}`;

/** How many actions run between two yields to the event loop (so a signal or a timer is not held up). */
const BATCH = 256;

export async function applyRestore(rootPath: string, store: ObjectStore, actions: Action[]): Promise<RestoreReport> {
  const report: RestoreReport = { written: 0, deleted: 0, modes: 0, skipped: [] };
  const modes = new FolderModes();
  let root: WalkDir;
  try {
    root = WalkDir.open(rootPath);
  } catch (err) {
    // A workspace folder the run made unreadable (ours): opened up, its mode put back at the end.
    if (errnoCode(err) !== 'EACCES' || !modes.openUpAt(rootPath, '')) throw err;
    root = WalkDir.open(rootPath);
  }
  const chain = new FolderChain(root, modes);
  try {
    for (const [i, a] of actions.entries()) {
      if (i % BATCH === BATCH - 1) await new Promise((r) => setImmediate(r));
      if (a.op === 'skip') {
        report.skipped.push({ path: a.path, why: a.why });
        continue;
      }
      try {
        try {
          apply(a, chain, modes, store, report);
        } catch (err) {
          // A folder held open was removed meanwhile (rm -rf, then made again): reached afresh, once.
          if (errnoCode(err) !== 'ENOENT' || !chain.reset()) throw err;
          apply(a, chain, modes, store, report);
        }
      } catch (err) {
        throw stoppedAt(pathOf(a), err);
      }
    }
  } finally {
    // Every folder's mode, a folder after its contents: the snapshot's, or the one it had before it was opened up.
    report.skipped.push(...modes.settle((p) => chain.folder(p, false, p)));
    chain.close();
    root.close();
  }
  return report;
}

const WHY: Record<string, string> = {
  EISDIR: 'a folder is in the way',
  ENOTEMPTY: 'a folder that holds other files is in the way',
  ENOTDIR: 'a file is where a folder should be',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  ENOENT: 'a folder on its way is gone',
};

/** A failure as the user reads it: the path in the tree, never the descriptor path it was reached by. */
function stoppedAt(path: string, err: unknown): MoatError {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  const why = code ? (WHY[code] ?? code) : 'an unexpected error';
  return new MoatError(`The restore stopped at ${path}: ${why}${code && WHY[code] ? ` (${code})` : ''}.`, { code: 'E_CONFLICT', cause: err });
}

/** One action, through the open folders of `chain`. */
function apply(a: Exclude<Action, { op: 'skip' }>, chain: FolderChain, modes: FolderModes, store: ObjectStore, report: RestoreReport): void {
  const path = pathOf(a);
  const { folder, dir, name } = parentOf(chain, path, a.op !== 'delete');
  modes.openUp(dir, folder);
  switch (a.op) {
    case 'delete': {
      const st = dir.lstatOrError(name);
      if (!st) return;
      if ('code' in st) {
        // There but not to be looked at (a run made its folder unreadable meanwhile): said, never dropped in silence.
        report.skipped.push({ path, why: `it could not be looked at to be removed (${st.code})` });
        return;
      }
      if (st.isDirectory()) {
        // Only what the snapshot knew is removed: a folder holding other (ignored) files stays.
        chain.removed(path);
        try {
          rmdirSync(dir.at(name));
        } catch {
          report.skipped.push({ path, why: 'the folder still holds files the snapshot does not record' });
          return;
        }
        report.deleted++;
        modes.forget(path);
      } else {
        unlinkSync(dir.at(name));
        report.deleted++;
      }
      return;
    }
    case 'mkdir': {
      try {
        mkdirSync(dir.at(name), { mode: 0o700 });
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
        // A folder on the way that is there after all (made since the plan, or one the snapshot ignored) is left as it is.
        if (a.onTheWay) return;
      }
      // Its mode is set at the end (a read-only folder must not stop its own files being written).
      modes.want(path, a.entry.mode);
      report.written++;
      return;
    }
    case 'chmod': {
      if (a.entry.type === 'dir') {
        modes.want(path, a.entry.mode);
      } else {
        const fd = openSync(dir.at(name), O_READ);
        try {
          if (!fstatSync(fd).isFile()) throw new MoatError(`Refusing to change the mode of ${path}: it is no longer a file.`, { code: 'E_REFUSED' });
          fchmodSync(fd, a.entry.mode & MODE_MASK);
        } finally {
          closeSync(fd);
        }
      }
      report.modes++;
      return;
    }
    case 'write':
      write(dir, name, a.entry, a.replace, store);
      report.written++;
  }
}

/**
 * A file or link put in place. A new name is created there with O_EXCL (never through a link); anything
 * else is written to a temp name and renamed over what is there (a link is replaced, not written through).
 */
function write(dir: WalkDir, name: string, entry: Entry, replace: boolean, store: ObjectStore): void {
  if (entry.type === 'file' && !replace) {
    let fd: number | undefined;
    try {
      fd = openSync(dir.at(name), O_CREATE, 0o600);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      let done = false;
      try {
        fill(fd, entry, store);
        done = true;
      } finally {
        closeSync(fd);
        if (!done) unlinkQuietly(dir.at(name));
      }
      return;
    }
  }
  const tmp = tmpName();
  try {
    if (entry.type === 'link') {
      symlinkSync(entry.target ?? '', dir.at(tmp));
    } else {
      const fd = openSync(dir.at(tmp), O_CREATE, 0o600);
      try {
        fill(fd, entry, store);
      } finally {
        closeSync(fd);
      }
    }
    // A folder in the way (a type change) was removed by its delete action; rename replaces a file or link itself.
    renameSync(dir.at(tmp), dir.at(name));
  } catch (err) {
    unlinkQuietly(dir.at(tmp));
    throw err;
  }
}

function unlinkQuietly(at: string): void {
  try {
    unlinkSync(at);
  } catch {
    // never made, or already renamed
  }
}

/** A new file's content and mode (set-id bits never). */
function fill(fd: number, entry: Entry, store: ObjectStore): void {
  store.copyToSync(entry.hash as string, fd);
  fchmodSync(fd, entry.mode & MODE_MASK);
}
