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
