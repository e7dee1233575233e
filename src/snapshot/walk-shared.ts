/**
 * What the walking threads of one snapshot share (take.ts's walk and its second walker, co-walk.ts), in
 * shared memory so that each bound holds for the snapshot as a whole however its folders are split: the
 * entries recorded (snapshots.max_files), the bytes still to be read (snapshots.max_bytes), the steps left
 * for matching names against ignore rules (glob.ts), each walker's "idle" flag (a walker that finds the
 * other idle hands it the next folder instead of walking it), and whether the snapshot has stopped.
 */

/** Int32 slots. */
const RECORDED = 0;
const STEPS = 1;
/** Idle flags: the walk's (take.ts) and the second walker's. */
export const IDLE_MAIN = 2;
export const IDLE_CO = 3;
/** Set when the snapshot stops (it failed): the second walker takes no more steps. */
const STOPPED = 4;
const INTS = 5;
/** A walker takes this many matching steps at a time from the shared pool. */
const STEP_CHUNK = 1 << 20;

export class WalkShared {
  private readonly ints: Int32Array;
  /** [0]: bytes left to read (may go below zero when a file grew while read). */
  private readonly bytes: BigInt64Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.ints = new Int32Array(buffer, 0, INTS);
    this.bytes = new BigInt64Array(buffer, 8 * Math.ceil((4 * INTS) / 8), 1);
  }

  static create(maxBytes: number, matchSteps: number): WalkShared {
    const s = new WalkShared(new SharedArrayBuffer(8 * Math.ceil((4 * INTS) / 8) + 8));
    s.bytes[0] = BigInt(Math.floor(maxBytes));
    s.ints[STEPS] = Math.min(matchSteps, 2 ** 31 - 1);
    return s;
  }

  /** The same counters, in another thread. */
  static from(buffer: SharedArrayBuffer): WalkShared {
    return new WalkShared(buffer);
  }

  /** One more entry recorded; the count after it. */
  record(): number {
    return Atomics.add(this.ints, RECORDED, 1) + 1;
  }

  /** Take `n` bytes from the budget if it holds them. */
  reserve(n: number): boolean {
    const want = BigInt(n);
    for (;;) {
      const left = Atomics.load(this.bytes, 0);
      if (want > left) return false;
      if (Atomics.compareExchange(this.bytes, 0, left, left - want) === left) return true;
    }
  }

  /** Give bytes back (negative: take more, as a file that grew while read does). */
  release(n: number): void {
    Atomics.add(this.bytes, 0, BigInt(n));
  }

  /** Matching steps for this walker: up to a chunk from the pool, 0 once it is spent. */
  takeSteps(): number {
    for (;;) {
      const left = Atomics.load(this.ints, STEPS);
      if (left <= 0) return 0;
      const n = Math.min(left, STEP_CHUNK);
      if (Atomics.compareExchange(this.ints, STEPS, left, left - n) === left) return n;
    }
  }

  stop(): void {
    Atomics.store(this.ints, STOPPED, 1);
  }

  get stopped(): boolean {
    return Atomics.load(this.ints, STOPPED) !== 0;
  }

  setIdle(which: number, idle: boolean): void {
    Atomics.store(this.ints, which, idle ? 1 : 0);
  }

  /** Claim the walker `which` while it is idle (at most one claim per idle spell). */
  claimIdle(which: number): boolean {
    return Atomics.compareExchange(this.ints, which, 1, 0) === 1;
  }
}
