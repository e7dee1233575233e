/**
 * After a run: no set-user-id or set-group-id file stays in what it could write (the workspace and its
 * writable mounts). Docker has no `nosuid` for bind mounts, and `no-new-privileges` only protects the
 * container itself: on the host, a file the run made set-id (`chmod 4755` needs no capability on a file
 * one owns) runs with its owner's identity for whoever starts it. moat cannot stop the chmod, so the
 * daemon strips the bits when the run ends and reports them. The walk never follows symlinks, checks each
 * file again through a handle opened without following one (the same inode, still under the root), and
 * stops after MAX_ENTRIES.
 */
import { constants, lstatSync, opendirSync } from 'node:fs';
import { chmod, lstat, open, readlink, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';

const MAX_ENTRIES = 200_000;
const SET_ID = 0o6000;
/** How long the walk runs before it lets the event loop turn (ms). */
const SLICE_MS = 8;
/** O_PATH: a handle naming the inode without opening it for reading (Linux). */
const O_PATH = 0o10000000;

export interface SetIdSweep {
  /** Files whose set-id bits were removed. */
  stripped: string[];
  /** Set-id files moat could not change (another owner), and device nodes (never made by a run). */
  remaining: string[];
  /** The walk stopped at MAX_ENTRIES. */
  truncated: boolean;
}

/** Remove the set-id bits of `path`, which lstat saw as a set-id regular file with this dev:ino. */
async function strip(path: string, root: string, dev: number, ino: number): Promise<boolean> {
  const fh = await open(path, O_PATH | constants.O_NOFOLLOW);
  try {
    const s = await fh.stat();
    if (!s.isFile() || s.dev !== dev || s.ino !== ino) return false;
    const where = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!where.startsWith(root + sep)) return false;
    await chmod(`/proc/self/fd/${fh.fd}`, s.mode & 0o777 & ~SET_ID);
    return true;
  } finally {
    await fh.close();
  }
}

export async function sweepSetId(roots: string[], maxEntries = MAX_ENTRIES): Promise<SetIdSweep> {
  const out: SetIdSweep = { stripped: [], remaining: [], truncated: false };
  let seen = 0;
  // Synchronous listings and lstats, a slice of the event loop at a time (the daemon serves gateways
  // meanwhile): a promise and a thread-pool hop per file cost ten times the system call itself.
  let slice = performance.now();
  const breathe = async (): Promise<void> => {
    if (performance.now() - slice < SLICE_MS) return;
    await new Promise<void>((r) => setImmediate(r));
    slice = performance.now();
  };
  const check = async (p: string, root: string): Promise<void> => {
    let s;
    try {
      s = lstatSync(p, { throwIfNoEntry: false });
    } catch {
      return;
    }
    if (s?.isFile() && (s.mode & SET_ID) !== 0) {
      // A second name elsewhere would be changed too: reported, never touched.
      const done = s.nlink === 1 && (await strip(p, root, s.dev, s.ino).catch(() => false));
      (done ? out.stripped : out.remaining).push(p);
    }
  };
  const walk = async (dir: string, root: string): Promise<void> => {
    // Read a name at a time (a folder of millions never sits in memory whole), up to the bound.
    let handle;
    try {
      handle = opendirSync(dir);
    } catch {
      return;
    }
    const folders: string[] = [];
    try {
      for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
        if (seen >= maxEntries) {
          out.truncated = true;
          break;
        }
        seen++;
        // Only regular files need their mode; the entry type comes with the listing.
        if (e.isFile()) await check(join(dir, e.name), root);
        else if (e.isCharacterDevice() || e.isBlockDevice()) out.remaining.push(join(dir, e.name));
        else if (e.isDirectory()) folders.push(join(dir, e.name));
        await breathe();
      }
    } catch {
      // A folder that went away or cannot be read further: what was read is checked.
    } finally {
      handle.closeSync();
    }
    for (const f of folders) if (!out.truncated) await walk(f, root);
  };
  for (const r of roots) {
    let root: string;
    try {
      root = await realpath(r);
      const s = await lstat(root);
      if (s.isFile() && (s.mode & SET_ID) !== 0) {
        // A writable file mount.
        const done = s.nlink === 1 && (await strip(root, dirname(root), s.dev, s.ino).catch(() => false));
        (done ? out.stripped : out.remaining).push(root);
      }
      if (!s.isDirectory()) continue;
    } catch {
      continue;
    }
    await walk(root, root);
  }
  return out;
}

/** The user-facing report, or undefined when there is nothing to say. */
export function setIdReport(s: SetIdSweep): string | undefined {
  const parts: string[] = [];
  const list = (l: string[]): string => (l.length > 4 ? `${l.slice(0, 4).join(', ')} and ${l.length - 4} more` : l.join(', '));
  if (s.stripped.length > 0) parts.push(`The run left set-user-id or set-group-id files, whose bits moat removed: ${list(s.stripped)}.`);
  if (s.remaining.length > 0)
    parts.push(
      `Set-id files or device nodes moat could not fix are in what the run could write: ${list(s.remaining)}; remove them (rm) before anyone runs them.`,
    );
  if (s.truncated) parts.push(`moat checked only the first ${MAX_ENTRIES} entries of what the run could write for set-id files.`);
  return parts.length > 0 ? parts.join(' ') : undefined;
}
