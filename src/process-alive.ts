import { readFileSync, readlinkSync } from 'node:fs';
import { errnoCode } from './errors.js';

/**
 * Whether a process with this pid exists on this machine (one we may not signal counts: EPERM). Only a
 * positive whole pid is asked: kill(0) and kill(-1) would signal a process group or every process.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** This process's pid namespace (`pid:[4026531836]`), or undefined where /proc cannot say: a pid means the same process only within one. */
export function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` has ended: gone, or a zombie its parent has not reaped yet, which processAlive still
 * counts (Linux's /proc; elsewhere kill 0).
 */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch (err) {
    return errnoCode(err) === 'ENOENT' || !processAlive(pid);
  }
}
