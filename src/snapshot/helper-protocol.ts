/**
 * What the snapshot walk (parallel-store.ts) and its helper thread (store-worker.ts) share: a queue of open
 * file descriptors in shared memory (the walk pushes, the helper pops, and the walk pops too once it has
 * walked, so the last files are stored by both threads), flags, and the messages the helper answers with.
 */

/** What the helper is started with. */
export interface HelperData {
  root: string;
  limit: number;
  scratch: number;
  /** The queue (Int32 over a SharedArrayBuffer, laid out below). */
  shared: SharedArrayBuffer;
  /** Tests: the helper fails on its (n+1)th file. */
  failAfter?: number;
}

export type FromHelper =
  | { kind: 'ready' }
  | { kind: 'stored'; id: number; r: { hash: string; size: number; added: number } | null }
  | { kind: 'ended'; pack: string | null }
  | { kind: 'failed'; message: string; code: string | null };

/** Set to 1 when the walk aborts: the helper takes nothing more and drops its pack. */
export const ABORT = 0;
/** Set to 1 when the walk has handed over its last file: the helper seals its pack once the queue is empty. */
export const CLOSED = 1;
/** Bumped on every push and flag change: what a waiting helper waits on. */
export const SIGNAL = 2;
const HEAD = 3;
const TAIL = 4;
const SLOTS = 5;
/** At most this many descriptors are queued at once (each open until stored). */
export const QUEUE_FILES = 256;

export function newQueue(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * (SLOTS + 2 * QUEUE_FILES)));
}

/** Wake the helper (after a push or a flag set). */
export function signal(q: Int32Array): void {
  Atomics.add(q, SIGNAL, 1);
  Atomics.notify(q, SIGNAL);
}

/** Queue file `id` (open as `fd`); false when the queue is full. One thread only pushes (the walk). */
export function push(q: Int32Array, id: number, fd: number): boolean {
  const tail = Atomics.load(q, TAIL);
  if (tail - Atomics.load(q, HEAD) >= QUEUE_FILES) return false;
  const at = SLOTS + 2 * (tail % QUEUE_FILES);
  Atomics.store(q, at, id);
  Atomics.store(q, at + 1, fd);
  Atomics.store(q, TAIL, tail + 1);
  signal(q);
  return true;
}

/**
 * Take the oldest queued file, if any (either thread): its slot is read, then claimed by moving the head
 * on from where it was read (a slot is written again only once the head has passed it, so a claimed
 * slot's contents are the ones read).
 */
export function pop(q: Int32Array): { id: number; fd: number } | undefined {
  for (;;) {
    const head = Atomics.load(q, HEAD);
    if (head === Atomics.load(q, TAIL)) return undefined;
    const at = SLOTS + 2 * (head % QUEUE_FILES);
    const id = Atomics.load(q, at);
    const fd = Atomics.load(q, at + 1);
    if (Atomics.compareExchange(q, HEAD, head, head + 1) === head) return { id, fd };
  }
}
