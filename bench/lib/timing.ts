/**
 * Timing helpers of the file-system benches (bench:snapshot, bench:rollback): wall and CPU time (user +
 * sys) of a call in this process or of a shell command with its children, and the load average to print
 * beside them (on a shared machine wall time is mostly the others' load).
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';

export interface Timed {
  wall: number;
  cpu: number;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
export const ms = (x: number): string => `${x.toFixed(0)} ms`;
export const fmt = (t: Timed): string => `${t.wall.toFixed(0)} ms (CPU ${t.cpu.toFixed(0)} ms)`;
export const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** Wall and CPU time (user + sys, every thread of this process) of a call. */
export async function time(f: () => unknown): Promise<Timed> {
  const c = process.cpuUsage();
  const t = performance.now();
  await f();
  const u = process.cpuUsage(c);
  return { wall: performance.now() - t, cpu: (u.user + u.system) / 1000 };
}

/** Wall and CPU time (user + sys, with its children) of a shell command; throws when it fails. Its stderr goes to `stderrFile` when given. */
export function timeShell(script: string, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}, stderrFile?: string): Timed {
  const t0 = process.hrtime.bigint();
  const inner = stderrFile ? `${script} 2>'${stderrFile}'` : script;
  const out = execFileSync('bash', ['-c', `TIMEFORMAT='%3U %3S'; { time { ${inner} ; } >/dev/null 2>&1 ; } 2>&1`], o)
    .toString()
    .trim()
    .split(/\s+/);
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  return { wall, cpu: (Number(out.at(-2)) + Number(out.at(-1))) * 1000 };
}
