/**
 * The snapshot walk's helper thread (parallel-store.ts starts it): it takes open files from the shared
 * queue (helper-protocol.ts) and reads, hashes and stores each into a pack of its own, answering with what
 * it stored. It never opens a path nor closes a descriptor: the walk opened each file (no link followed,
 * checked against what lstat saw: walk-dir.ts) and closes it once answered for. Once the walk closes the
 * queue and it is empty, the helper seals its pack and says so; told to abort (or failing), it takes
 * nothing more and drops its pack unsealed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errnoCode } from '../errors.js';
import { ABORT, CLOSED, SIGNAL, pop, type FromHelper, type HelperData } from './helper-protocol.js';
import { ObjectStore } from './objects.js';

const data = workerData as HelperData;
const port = parentPort;
if (!port) throw new Error('store-worker.ts runs as a worker thread only');
const q = new Int32Array(data.shared);
const store = new ObjectStore(data.root);
const post = (m: FromHelper): void => port.postMessage(m);
const aborted = (): boolean => Atomics.load(q, ABORT) !== 0;
/** Between a large file's chunks: an abort stops it there (its temp file removed by putFd). */
const pause = (): Promise<void> => (aborted() ? Promise.reject(new Error('aborted')) : Promise.resolve());

async function run(): Promise<void> {
  let scratch: Buffer | undefined;
  let stored = 0;
  for (;;) {
    const seen = Atomics.load(q, SIGNAL);
    if (aborted()) break;
    const next = pop(q);
    if (next) {
      if (data.failAfter !== undefined && stored >= data.failAfter) throw new Error('helper fault (test)');
      scratch ??= Buffer.allocUnsafe(data.scratch);
      const r = await store.putFd(next.fd, data.limit, scratch, pause);
      stored++;
      post({ kind: 'stored', id: next.id, r: r ?? null });
      continue;
    }
    if (Atomics.load(q, CLOSED) !== 0) break;
    Atomics.wait(q, SIGNAL, seen); // until the walk pushes or sets a flag
  }
  if (aborted()) {
    store.discard();
    post({ kind: 'ended', pack: null });
    return;
  }
  // What it relied on instead of storing again is still there (else it fails, and the snapshot with it).
  store.checkRelied();
  post({ kind: 'ended', pack: store.flush() ?? null });
}

post({ kind: 'ready' }); // its modules loaded: from now on a failure is the snapshot's
run().catch((err: unknown) => {
  try {
    store.discard();
  } catch {
    // its temp file is collected later (gc.ts)
  }
  post({ kind: 'failed', message: err instanceof Error ? err.message : String(err), code: errnoCode(err) ?? null });
  post({ kind: 'ended', pack: null });
});
