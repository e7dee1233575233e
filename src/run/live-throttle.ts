/**
 * Bounds how many live lines a run can make moat print: a burst of `burst` lines, then `perSecond` a
 * second. A line over the bound is not printed but counted; once there is room again one line says how
 * many were held ("and N more …"), and later lines are printed again. A run that refuses a new host
 * every millisecond makes about one line a second, not one per host.
 */
export class LiveThrottle {
  private tokens: number;
  private last: number;
  private held = 0;

  constructor(private readonly opts: { burst: number; perSecond: number; more: (n: number) => string; now?: () => number }) {
    this.tokens = opts.burst;
    this.last = this.now();
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((t - this.last) / 1000) * this.opts.perSecond);
    this.last = t;
  }

  /** The lines to print now for one more line (none when it is held). */
  offer(line: string): string[] {
    const out = this.tick();
    if (this.held > 0 || this.tokens < 1) {
      this.held++;
      return out;
    }
    this.tokens--;
    return [...out, line];
  }

  /** Call now and then: the "and N more" line once there is room for it. */
  tick(): string[] {
    this.refill();
    if (this.held === 0 || this.tokens < 1) return [];
    this.tokens--;
    const n = this.held;
    this.held = 0;
    return [this.opts.more(n)];
  }
}
