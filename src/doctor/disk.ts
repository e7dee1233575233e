/**
 * Disk use of the moat home (and its runs), and the free space on its file system. The walk never
 * follows a symbolic link (run folders hold files a container wrote) and stops after a bounded number
 * of entries.
 */
import { lstat, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { plural } from './format.js';
import { bytes } from '../term/units.js';
import { ok, warn, type Check } from './types.js';

const MAX_ENTRIES = 200_000;
const LOW_FREE = 2 * 1024 ** 3;

export interface Usage {
  bytes: number;
  entries: number;
  complete: boolean;
}

/** Bytes on disk below `root` (allocated blocks), without following links; at most `limit` entries. */
export async function diskUse(root: string, limit = MAX_ENTRIES): Promise<Usage> {
  const u: Usage = { bytes: 0, entries: 0, complete: true };
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop() as string;
    if (u.entries >= limit) {
      u.complete = false;
      break;
    }
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    u.entries++;
    u.bytes += st.blocks !== undefined ? st.blocks * 512 : st.size;
    if (!st.isDirectory()) continue;
    let names: string[];
    try {
      names = await readdir(p);
    } catch {
      continue; // unreadable: counted as the directory itself
    }
    for (const n of names) stack.push(join(p, n));
  }
  return u;
}

async function runCount(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((n) => n.startsWith('run_')).length;
  } catch {
    return 0;
  }
}

export const diskCheck: Check = {
  name: 'disk',
  timeoutMs: 30_000,
  onTimeout: { detail: 'measuring the moat home took too long', fix: 'moat clean (removes stopped runs)', status: 'warn' },
  async run(ctx) {
    const [all, runs, count] = await Promise.all([diskUse(ctx.home.root), diskUse(ctx.home.runsDir), runCount(ctx.home.runsDir)]);
    const atLeast = (x: Usage): string => `${x.complete ? '' : 'at least '}${bytes(x.bytes)}`;
    let free: number | undefined;
    try {
      const s = await statfs(all.entries > 0 ? ctx.home.root : '/');
      free = s.bavail * s.bsize;
    } catch {
      free = undefined;
    }
    const detail = `${ctx.home.root}: ${atLeast(all)}, of which runs ${atLeast(runs)} (${plural(count, 'run')})${free !== undefined ? `; ${bytes(free)} free` : ''}`;
    if (free !== undefined && free < LOW_FREE) return warn('disk', `${detail}: low on space`, 'moat clean (removes stopped runs), and free space on that disk');
    return ok('disk', detail);
  },
};
