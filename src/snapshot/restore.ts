/**
 * Put a tree back as a manifest describes it, inside one folder and nowhere else: every parent is reached
 * through open folder descriptors with O_NOFOLLOW (a link planted on the way is refused, never followed),
 * names are checked again, files and links are written to a temp name and renamed into place (a link there
 * is replaced, not written through), and modes are set through descriptors. Set-id bits are never restored.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { MoatError, errnoCode } from '../errors.js';
import { sameContent } from './diff.js';
import { FolderModes } from './folder-modes.js';
import { Dir, O_CREATE, O_READ } from './fsat.js';
import { pathProblem, type Entry, type Manifest } from './manifest.js';
import type { ObjectStore } from './objects.js';

export type Action =
  | { op: 'write'; entry: Entry; replace: boolean }
  | { op: 'mkdir'; entry: Entry }
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
      if (!(sameType && sameContent(c, t)))
        creates.push({ op: 'skip', path, why: 'its content was not stored (too large, over the byte budget, or unreadable)' });
      continue;
    }
    if (t.type === 'dir') {
      if (!sameType) creates.push({ op: 'mkdir', entry: t });
      else if ((c.mode & MODE_MASK) !== (t.mode & MODE_MASK)) creates.push({ op: 'chmod', entry: t });
      continue;
    }
    if (!sameType || !sameContent(c, t)) creates.push({ op: 'write', entry: t, replace: sameType });
    else if (t.type === 'file' && (c.mode & MODE_MASK) !== (t.mode & MODE_MASK)) creates.push({ op: 'chmod', entry: t });
  }
  deletes.sort((a, b) => (b as { path: string }).path.length - (a as { path: string }).path.length);
  creates.sort((a, b) => pathOf(a).localeCompare(pathOf(b)));
  return [...deletes, ...creates];
}

export function pathOf(a: Action): string {
  return 'entry' in a ? a.entry.path : a.path;
}

export interface RestoreReport {
  written: number;
  deleted: number;
  modes: number;
  skipped: Array<{ path: string; why: string }>;
}

/** The folder `part` inside `dir` (at `path`); a folder of ours the run made unreadable is opened up first. */
async function subOf(dir: Dir, part: string, path: string, modes: FolderModes): Promise<Dir> {
  try {
    return await dir.sub(part);
  } catch (err) {
    if (errnoCode(err) !== 'EACCES' || !(await modes.openUpChild(dir, part, path))) throw err;
    return dir.sub(part);
  }
}

/**
 * Open the parent folder of `path` under `root`, component by component, never through a link; the
 * parent is made writable for the restore when it is ours and is not (its mode comes back at the end).
 */
async function parentOf(root: Dir, path: string, create: boolean, modes: FolderModes, write = true): Promise<{ dir: Dir; name: string }> {
  const problem = pathProblem(path);
  if (problem) throw new MoatError(`Refusing to restore "${path.slice(0, 200)}": the path ${problem}.`, { code: 'E_REFUSED' });
  const parts = path.split('/');
  const name = parts.pop() as string;
  let dir = root;
  let at = '';
  for (const part of parts) {
    const sub = at === '' ? part : `${at}/${part}`;
    let next: Dir;
    try {
      next = await subOf(dir, part, sub, modes);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' && create) {
        await modes.openUp(dir, at);
        await mkdir(dir.at(part), { mode: 0o755 });
        next = await dir.sub(part);
      } else {
        if (dir !== root) await dir.close();
        if (code === 'ELOOP' || code === 'ENOTDIR') {
          throw new MoatError(`Refusing to restore ${path}: ${dir.shown(part)} is a symbolic link or not a folder, and moat never writes through one.`, {
            code: 'E_REFUSED',
            hint: 'Remove or rename it, then run the rollback again.',
          });
        }
        throw err;
      }
    }
    if (dir !== root) await dir.close();
    dir = next;
    at = sub;
  }
  try {
    if (write) await modes.openUp(dir, at);
  } catch (err) {
    if (dir !== root) await dir.close();
    throw err;
  }
  return { dir, name };
}

/** The folder at `path` ('' is the root itself), to set its mode. */
async function folderAt(root: Dir, path: string, modes: FolderModes): Promise<Dir> {
  if (path === '') return root;
  const { dir, name } = await parentOf(root, path, false, modes, false);
  try {
    return await subOf(dir, name, path, modes);
  } finally {
    if (dir !== root) await dir.close();
  }
}

const tmpName = (): string => `.moat-restore-${randomBytes(6).toString('hex')}`;

export async function applyRestore(rootPath: string, store: ObjectStore, actions: Action[]): Promise<RestoreReport> {
  const report: RestoreReport = { written: 0, deleted: 0, modes: 0, skipped: [] };
  const modes = new FolderModes();
  const root = await Dir.open(rootPath).catch(async (err: unknown) => {
    // A workspace folder the run made unreadable (ours): opened up, its mode put back at the end.
    if (errnoCode(err) !== 'EACCES' || !(await modes.openUpAt(rootPath, ''))) throw err;
    return Dir.open(rootPath);
  });
  try {
    for (const a of actions) {
      if (a.op === 'skip') {
        report.skipped.push({ path: a.path, why: a.why });
        continue;
      }
      const path = pathOf(a);
      const { dir, name } = await parentOf(root, path, a.op !== 'delete', modes);
      try {
        switch (a.op) {
          case 'delete': {
            const st = await dir.lstat(name).catch(() => undefined);
            if (!st) break;
            if (st.isDirectory()) {
              // Only what the snapshot knew is removed: a folder holding other (ignored) files stays.
              const gone = await rmdir(dir.at(name)).then(
                () => true,
                () => false,
              );
              if (gone) {
                report.deleted++;
                modes.forget(path);
              } else report.skipped.push({ path, why: 'the folder still holds files the snapshot does not record' });
            } else {
              await unlink(dir.at(name));
              report.deleted++;
            }
            break;
          }
          case 'mkdir': {
            await mkdir(dir.at(name), { mode: 0o700 }).catch((err: unknown) => {
              if (errnoCode(err) !== 'EEXIST') throw err;
            });
            // Its mode is set at the end (a read-only folder must not stop its own files being written).
            modes.want(path, a.entry.mode);
            report.written++;
            break;
          }
          case 'chmod': {
            if (a.entry.type === 'dir') {
              modes.want(path, a.entry.mode);
            } else {
              const fh = await open(dir.at(name), O_READ);
              try {
                if (!(await fh.stat()).isFile()) throw new MoatError(`Refusing to change the mode of ${path}: it is no longer a file.`, { code: 'E_REFUSED' });
                await fh.chmod(a.entry.mode & MODE_MASK);
              } finally {
                await fh.close();
              }
            }
            report.modes++;
            break;
          }
          case 'write': {
            const tmp = tmpName();
            try {
              if (a.entry.type === 'link') {
                await symlink(a.entry.target ?? '', dir.at(tmp));
              } else {
                const fh = await open(dir.at(tmp), O_CREATE, 0o600);
                try {
                  await store.copyTo(a.entry.hash as string, fh);
                  await fh.chmod(a.entry.mode & MODE_MASK);
                } finally {
                  await fh.close();
                }
              }
              // A folder in the way (a type change) was removed by its delete action; rename replaces a file or link itself.
              await rename(dir.at(tmp), dir.at(name));
            } catch (err) {
              await unlink(dir.at(tmp)).catch(() => undefined);
              throw err;
            }
            report.written++;
            break;
          }
        }
      } finally {
        if (dir !== root) await dir.close();
      }
    }
  } finally {
    // Every folder's mode, deepest first: the snapshot's, or the one it had before it was opened up.
    report.skipped.push(...(await modes.settle((p) => folderAt(root, p, modes)).catch(() => [])));
    await root.close();
  }
  return report;
}
