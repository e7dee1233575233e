/**
 * The snapshot walk's second core: a helper thread (store-worker.ts) that reads, hashes and stores the larger
 * files (MIN_SIZE and more) into its own pack while the walk goes on listing, looking at and storing the small
 * ones. The walk opens every file itself (no link followed, the descriptor checked against what lstat saw),
 * queues the open descriptor (helper-protocol.ts), and closes it once the helper answers for it (or is gone):
 * the helper never opens a path nor closes a descriptor. When the queue is full the walk stores the file
 * itself; once it has walked, it takes files from the queue too, so the two threads finish together.
 *
 * The helper starts only once a walk has met START_BYTES of such files (a re-snapshot that reads little never
 * pays for a thread), one per snapshot, and is gone when the snapshot ends (ended, failed or aborted): neither
 * the CLI nor the daemon is kept up by it. Its pack is sealed before finish() returns (the manifest is written
 * after); an aborted or failed snapshot's helper drops its pack unsealed (its temp file is collected by gc.ts).
 * A helper that cannot start (its file missing) leaves the walk to store everything itself.
 */
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SystemLikeError } from '../errors.js';
import { ABORT, CLOSED, newQueue, pop, push, signal, type FromHelper, type HelperData } from './helper-protocol.js';

/** A file smaller than this is stored by the walk itself (queueing it costs about what storing it does). */
const MIN_SIZE = 64 << 10;
/** The helper starts once the walk has met this many bytes of files of MIN_SIZE or more. */
const START_BYTES = 8 << 20;

export interface ParallelOptions {
  minSize?: number;
  startBytes?: number;
  /** Tests: the helper fails on its (n+1)th file. */
  failAfter?: number;
  /** Tests: the walk leaves all it queued to the helper (it takes none back once it has walked). */
  leaveQueued?: boolean;
  /** Tests: the helper's module (one that cannot load: the walk stores everything itself). */
  entry?: URL;
}

export type Stored = { hash: string; size: number; added: number } | undefined;

export class StoreHelper {
  private worker?: Worker;
  private readonly q = newQueue();
  private readonly pending = new Map<number, { fd: number; done: (r: Stored) => void }>();
  private nextId = 0;
  private seen = 0;
  private failure?: Error;
  /** The helper could not start: the walk takes back what it queued. */
  private broken = false;
  private ended?: Promise<void>;
  private readonly minSize: number;
  private readonly startBytes: number;

  constructor(
    private readonly root: string,
    private readonly limit: number,
    private readonly scratch: number,
    private readonly o: ParallelOptions = {},
  ) {
    this.minSize = o.minSize ?? MIN_SIZE;
    this.startBytes = o.startBytes ?? START_BYTES;
  }

  /** Files handed to the helper thread so far (tests). */
  get handed(): number {
    return this.nextId;
  }

  /**
   * Whether the file open as `fd` (lstat saw `size` bytes) is queued for the helper: then the caller neither
   * reads nor closes it, and `done` gets what was stored (by the helper, or by finish()). Throws when the
   * helper failed.
   */
  take(fd: number, size: number, done: (r: Stored) => void): boolean {
    if (this.failure) throw this.failure;
    if (size < this.minSize || this.broken) return false;
    if (!this.worker) {
      this.seen += size;
      if (this.seen < this.startBytes) return false;
      this.start();
    }
    const id = this.nextId;
    if (!push(this.q, id, fd)) return false;
    this.nextId++;
    this.pending.set(id, { fd, done });
    return true;
  }

  /**
   * The walk is done: store what is still queued alongside the helper (`store`: the walk's own way), wait
   * for the helper to seal its pack, and stop it. Throws when the helper failed.
   */
  async finish(store: (fd: number) => Promise<Stored>): Promise<void> {
    if (!this.worker) return;
    try {
      Atomics.store(this.q, CLOSED, 1);
      signal(this.q);
      if (!this.o.leaveQueued) await this.drain(store);
      await this.ended;
      if (this.broken) await this.drain(store); // no helper took them
      if (this.failure) throw this.failure;
      if (this.pending.size > 0) throw new Error('the snapshot helper ended with files not stored');
    } finally {
      await this.stop();
    }
  }

  /** Store what is still queued, in the walk's thread (until the helper fails). */
  private async drain(store: (fd: number) => Promise<Stored>): Promise<void> {
    for (let next = pop(this.q); next && !this.failure; next = pop(this.q)) {
      const p = this.pending.get(next.id);
      if (!p) continue;
      this.pending.delete(next.id);
      try {
        p.done(await store(p.fd));
      } finally {
        closeSync(p.fd);
      }
    }
  }

  /** Stop the helper (the walk failed): what it read is dropped, its pack never sealed. Never throws. */
  async abort(): Promise<void> {
    if (!this.worker) return;
    Atomics.store(this.q, ABORT, 1);
    signal(this.q);
    await this.ended;
    await this.stop();
  }

  private async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    // The thread is gone: what it did not answer for is closed here.
    for (const p of this.pending.values()) closeSync(p.fd);
    this.pending.clear();
  }

  private start(): void {
    // Compiled (dist/, bundled or not: the bundle keeps each module's URL) the helper is a .js beside this
    // module; from the sources (tests, benchmarks), the .ts through tsx.
    const data: HelperData = { root: this.root, limit: this.limit, scratch: this.scratch, shared: this.q.buffer as SharedArrayBuffer };
    if (this.o.failAfter !== undefined) data.failAfter = this.o.failAfter;
    const w = this.o.entry
      ? new Worker(this.o.entry, { workerData: data })
      : import.meta.url.endsWith('.ts')
        ? fromSources(data)
        : new Worker(new URL('./store-worker.js', import.meta.url), { workerData: data });
    this.worker = w;
    let ready = false;
    let ended = false;
    let resolve: () => void = () => undefined;
    this.ended = new Promise<void>((r) => (resolve = r));
    const onEnded = (): void => {
      ended = true;
      resolve();
    };
    w.on('message', (m: FromHelper) => {
      if (m.kind === 'ready') ready = true;
      else if (m.kind === 'stored') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        closeSync(p.fd);
        p.done(m.r ?? undefined);
      } else if (m.kind === 'failed') {
        // As the walk's own read would have thrown it (its message and system error code).
        this.failure ??= m.code ? new SystemLikeError(m.message, m.code) : new Error(m.message);
      } else onEnded();
    });
    const gone = (err: Error): void => {
      if (ended) return; // it said it ended: its thread is let go
      // Never started (its module missing): the walk stores what it queued itself (finish()).
      if (!ready) this.broken = true;
      else this.failure ??= err;
      onEnded();
    };
    w.on('error', gone);
    w.on('exit', () => gone(new Error('the snapshot helper thread stopped')));
  }
}

/** The helper from the TypeScript sources (tests, benchmarks): tsx registered in its thread first. */
function fromSources(data: HelperData): Worker {
  // (require.resolve finds its CommonJS build; the ES module build is beside it.)
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./store-worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true, workerData: data });
}
