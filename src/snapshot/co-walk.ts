/**
 * The snapshot walk's second walker, as the walk (take.ts) drives it: a thread (walk-worker.ts) that walks
 * whole folders with the same rules (walk.ts), so that a first snapshot lists, looks at and reads its
 * files on two cores. It starts once the walk has met `startFiles` files to read (an unchanged workspace
 * never starts it). Whichever walker finds the other idle hands it the next subfolder instead of entering
 * it (walk-shared.ts); the walk, once done with its own, walks what the second walker handed back until
 * neither holds a folder. The second walker stores what it reads into its own pack, sealed before its
 * result is sent; its entries are merged into the walk's (take.ts).
 *
 * A folder goes over open (co-walk-protocol.ts): the receiver owns its descriptor. When the snapshot
 * fails, the second walker is stopped (the shared flag, then a message) and waited for, so that every
 * descriptor it holds is closed before the snapshot's error reaches its caller.
 */
import { closeSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import {
  handable,
  handedFolder,
  receivedError,
  type CoWalkData,
  type CoWalkResult,
  type FromCoWalker,
  type HandedFolder,
  type ToCoWalker,
} from './co-walk-protocol.js';
import type { Folder } from './walk.js';
import type { WalkDir } from './walk-dir.js';
import { IDLE_CO, IDLE_MAIN, type WalkShared } from './walk-shared.js';
import { snapshotWorker } from './worker-entry.js';

/** Files to read met by the walk before the second walker starts. */
const START_FILES = 500;
/** How long a stopped second walker is waited for before its thread is ended regardless. */
const STOP_WAIT_MS = 10_000;

export interface CoWalkOptions {
  startFiles?: number;
  /** Tests: with startFiles 0, the walk waits for the second walker to be ready before it begins. */
  awaitReady?: boolean;
  /** Tests: the second walker fails on its (n+1)th folder. */
  failAfter?: number;
  /** Tests: its module (one that cannot load: the walk walks everything itself). */
  entry?: URL;
}

export class CoWalker {
  private worker?: Worker;
  private failure?: Error;
  /** Folders handed to the second walker that it has not finished. */
  private outstanding = 0;
  /** Folders it handed back, not walked yet (their descriptors are this thread's to close). */
  private readonly inbox: HandedFolder[] = [];
  private result?: CoWalkResult;
  private ended = false;
  private stopping = false;
  private wake: () => void = () => undefined;
  private isReady: () => void = () => undefined;
  /** Settled once the second walker is ready (or gone). */
  readonly ready = new Promise<void>((r) => (this.isReady = r));
  readonly startFiles: number;

  constructor(
    private readonly shared: WalkShared,
    private readonly data: Omit<CoWalkData, 'shared'>,
    private readonly o: CoWalkOptions = {},
  ) {
    this.startFiles = o.startFiles ?? START_FILES;
  }

  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Start the second walker (it says it is idle once ready). A thread that cannot start leaves the walk alone. */
  start(): void {
    const data: CoWalkData = { ...this.data, shared: this.shared.buffer as SharedArrayBuffer };
    if (this.o.failAfter !== undefined) data.failAfter = this.o.failAfter;
    const w = snapshotWorker('walk-worker', data, this.o.entry, true);
    this.worker = w;
    w.on('message', (m: FromCoWalker) => {
      if (m.kind === 'ready') this.isReady();
      else if (m.kind === 'folder') {
        if (this.stopping) closeSync(m.folder.fd);
        else this.inbox.push(m.folder);
      } else if (m.kind === 'done') this.outstanding--;
      else if (m.kind === 'failed') this.failure ??= receivedError(m.error);
      else if (m.kind === 'result') {
        this.result = m.result;
        this.ended = true;
      } else this.ended = true;
      this.wake();
    });
    w.on('error', (err) => {
      // Before it was ready it handed nothing and took nothing: the walk goes on alone.
      if (this.outstanding > 0 || this.result) this.failure ??= err;
      this.gone();
    });
    w.on('exit', () => {
      if (!this.ended && this.outstanding > 0) this.failure ??= new Error('the snapshot walker thread stopped');
      this.gone();
    });
  }

  private gone(): void {
    this.isReady();
    this.ended = true;
    this.outstanding = 0;
    this.wake();
  }

  /** Throws what the second walker failed with, if it did. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Hand `sub` to the second walker if it is idle (it then owns the descriptor). */
  offer(sub: WalkDir, f: Folder): boolean {
    this.check();
    if (!this.worker || this.ended || !handable(f) || !this.shared.claimIdle(IDLE_CO)) return false;
    this.post({ kind: 'folder', folder: handedFolder(sub, f) });
    this.outstanding++;
    return true;
  }

  /**
   * The walk is done with its own folders: walk what the second walker hands back (`walk` closes each)
   * until it holds none, then seal its pack and take its result. Throws when it failed.
   */
  async finish(walk: (h: HandedFolder) => Promise<void>): Promise<CoWalkResult | undefined> {
    if (!this.worker) return undefined;
    for (;;) {
      this.check();
      const next = this.inbox.shift();
      if (next) {
        await walk(next);
        continue;
      }
      if (this.outstanding <= 0 || this.ended) break;
      this.shared.setIdle(IDLE_MAIN, true);
      await this.next();
      this.shared.setIdle(IDLE_MAIN, false);
    }
    if (!this.ended) this.post({ kind: 'close' });
    while (!this.ended) await this.next();
    this.check();
    await this.end();
    return this.result;
  }

  /** The snapshot failed: the second walker stops, drops its pack and closes what it holds. Never throws. */
  async abort(): Promise<void> {
    if (!this.worker) return;
    this.stopping = true;
    this.shared.stop();
    if (!this.ended) this.post({ kind: 'abort' });
    const deadline = setTimeout(() => this.gone(), STOP_WAIT_MS);
    while (!this.ended) await this.next();
    clearTimeout(deadline);
    await this.end();
  }

  private async end(): Promise<void> {
    for (const h of this.inbox.splice(0)) closeSync(h.fd);
    const w = this.worker;
    if (w) await w.terminate();
  }

  private post(m: ToCoWalker): void {
    this.worker?.postMessage(m);
  }

  private next(): Promise<void> {
    return new Promise<void>((r) => (this.wake = r));
  }
}
