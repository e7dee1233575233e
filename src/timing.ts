/** MOAT_TIMING=1 prints how long each phase of a command took (stderr), for profiling start-up. */
const enabled = process.env.MOAT_TIMING === '1';
const t0 = performance.now();

export function mark(label: string): void {
  if (enabled) process.stderr.write(`[timing] ${(performance.now() - t0).toFixed(1).padStart(7)} ms  ${label}\n`);
}
