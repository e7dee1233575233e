import { constants } from 'node:fs';
import { lstat, open, readFile, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import { withLock } from '../home/fs.js';
import { errnoCode } from '../errors.js';
import { processAlive } from '../process-alive.js';

/**
 * One daemon per home: the daemon holds `daemon/daemon.pid` (created O_EXCL, holding its pid) for its whole
 * life, and only the holder binds or removes the control socket. Whatever is found there is hostile input:
 * garbage, a dead pid, the pid of some other process, a symlink or a folder is a stale lock, replaced
 * without following it.
 */
export interface DaemonLockInfo {
  pid: number;
  startedAt: string;
}

export function daemonLockPath(home: MoatHome): string {
  return join(home.daemonDir, 'daemon.pid');
}

/** True when `pid` runs moat's daemon for this home (on Linux, by its command line and MOAT_HOME). */
async function isDaemonOf(pid: number, home: MoatHome): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 1 || !processAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    // No procfs (macOS): a live pid is taken at its word.
    return (
      errnoCode(err) === 'ENOENT' &&
      !(await lstat('/proc/self').then(
        () => true,
        () => false,
      ))
    );
  }
  if (!cmdline.split('\0').includes('__daemon')) return false;
  try {
    const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    return env.includes(`MOAT_HOME=${home.root}`);
  } catch {
    return true; // a moat daemon whose environment we cannot read: do not take its home away
  }
}

/** The live daemon named by the lock, if the lock is sound and its holder runs; never follows a symlink. */
export async function daemonLockHolder(home: MoatHome): Promise<DaemonLockInfo | undefined> {
  const path = daemonLockPath(home);
  let text: string;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return undefined;
      text = (await fh.read(Buffer.alloc(256), 0, 256, 0)).buffer.toString('utf8').replace(/\0+$/, '');
    } finally {
      await fh.close();
    }
  } catch {
    return undefined; // missing, a symlink (ELOOP), unreadable: no holder
  }
  let info: Partial<DaemonLockInfo>;
  try {
    info = JSON.parse(text) as Partial<DaemonLockInfo>;
  } catch {
    return undefined;
  }
  if (typeof info !== 'object' || info === null || typeof info.pid !== 'number') return undefined;
  if (!(await isDaemonOf(info.pid, home))) return undefined;
  return { pid: info.pid, startedAt: typeof info.startedAt === 'string' ? info.startedAt : '' };
}

/**
 * Take the home's daemon lock for this process. Returns the live holder instead when another daemon has it.
 * A stale lock is removed under a short cross-process mutex, so two starting daemons cannot both take it.
 */
export async function takeDaemonLock(home: MoatHome): Promise<{ release: () => Promise<void> } | { heldBy: DaemonLockInfo }> {
  const path = daemonLockPath(home);
  const mine: DaemonLockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  return withLock(path, async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600); // O_EXCL: fails on any existing name, a symlink included
        await fh.writeFile(JSON.stringify(mine));
        await fh.close();
        return { release: () => releaseDaemonLock(home) };
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const holder = await daemonLockHolder(home);
      if (holder && holder.pid !== process.pid) return { heldBy: holder };
      await rm(path, { recursive: true, force: true }); // stale: garbage, dead or foreign pid, symlink, folder
    }
    throw new Error(`cannot take the daemon lock ${path}`);
  });
}

/** Remove the lock if (and only if) it still names this process. */
export async function releaseDaemonLock(home: MoatHome): Promise<void> {
  const path = daemonLockPath(home);
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let text: string;
    try {
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
    if ((JSON.parse(text) as { pid?: unknown }).pid === process.pid) await rm(path, { force: true });
  } catch {
    /* not ours, or gone */
  }
}

/**
 * Is anything listening on the control socket? A daemon stopped with SIGSTOP, or busy, still accepts the
 * connection (the kernel queues it) but does not answer: that is 'listening', never a socket to remove.
 */
export function probeSocket(path: string, timeoutMs = 1000): Promise<'listening' | 'absent'> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    const done = (r: 'listening' | 'absent'): void => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done('listening'), timeoutMs); // a full backlog: someone is there
    s.once('connect', () => done('listening'));
    s.once('error', (err) => done(errnoCode(err) === 'EAGAIN' ? 'listening' : 'absent'));
  });
}
