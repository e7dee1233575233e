/**
 * CPU time by thread of this process during a call (Linux: /proc/self/task/<tid>/stat, in clock ticks of
 * 10 ms), sampled every few ms so a thread that ends during the call (a worker) is still counted: this
 * thread, the other threads that ran JavaScript or I/O (workers), and Node's own (V8's GC and compiler
 * helpers, libuv's pool), told apart by name where the kernel has one. Benchmarks only.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ThreadCpu {
  /** The calling thread's CPU (ms). */
  self: number;
  /** The two busiest other threads that started during the call (the snapshot's helper first of all), busiest first (0 when absent). */
  workers: [number, number];
  /** Every other thread together (V8's platform threads, libuv's pool). */
  rest: number;
  /** The whole process (process.cpuUsage), wall time. */
  process: number;
  wall: number;
}

function ticks(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(tid, Number(f[11]) + Number(f[12]));
    } catch {
      // ended meanwhile: its last sample stands
    }
  }
  return out;
}

/** Run `f`, sampling every thread's CPU meanwhile; undefined figures where /proc is not there. */
export async function byThread(f: () => Promise<unknown>): Promise<ThreadCpu | undefined> {
  const before = ticks();
  if (before.size === 0) {
    await f();
    return undefined;
  }
  const last = new Map(before);
  const c = process.cpuUsage();
  const t = performance.now();
  const sample = (): void => {
    for (const [tid, t] of ticks()) last.set(tid, t);
  };
  const timer = setInterval(sample, 4);
  try {
    await f();
  } finally {
    clearInterval(timer);
    sample();
  }
  const u = process.cpuUsage(c);
  const wall = performance.now() - t;
  const self = String(process.pid);
  const spent = [...last].map(([tid, t]) => ({ tid, ms: (t - (before.get(tid) ?? 0)) * 10, fresh: !before.has(tid) }));
  const mine = spent.find((x) => x.tid === self)?.ms ?? 0;
  const fresh = spent
    .filter((x) => x.fresh)
    .map((x) => x.ms)
    .sort((a, b) => b - a);
  const workers: [number, number] = [fresh[0] ?? 0, fresh[1] ?? 0];
  const rest = spent.filter((x) => x.tid !== self).reduce((n, x) => n + x.ms, 0) - workers[0] - workers[1];
  return { self: mine, workers, rest, process: Math.round((u.user + u.system) / 1000), wall: Math.round(wall) };
}
