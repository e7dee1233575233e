/**
 * The snapshot walk's second walker (co-walk.ts starts it): it walks the folders handed to it with the
 * same rules as the walk (walk.ts), reading and storing the files it meets into a pack of its own, and
 * hands a subfolder back whenever the walk is idle. It never opens the workspace by path: every folder
 * reaches it open (co-walk-protocol.ts), and it closes each. Told to close, it checks what it relied on,
 * seals its pack and sends what it recorded; told to abort (or once the snapshot stopped), it walks no
 * more, drops its pack and says it ended.
 */
import { closeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  handable,
  handedFolder,
  receivedFolder,
  sendError,
  type CoWalkData,
  type FromCoWalker,
  type HandedFolder,
  type ToCoWalker,
} from './co-walk-protocol.js';
import type { IgnoreFile } from './ignore.js';
import { byPath, readManifest, type Manifest } from './manifest.js';
import { ObjectStore } from './objects.js';
import { Walk } from './walk.js';
import { WalkFiles } from './walk-files.js';
import { IDLE_CO, IDLE_MAIN, WalkShared } from './walk-shared.js';

const data = workerData as CoWalkData;
if (!parentPort) throw new Error('walk-worker.ts runs as a worker thread only');
const port = parentPort;
const shared = WalkShared.from(data.shared);
const store = new ObjectStore(data.storeRoot);
const post = (m: FromCoWalker): void => port.postMessage(m);

class Stopped extends Error {}
/** Between files and folders: once the snapshot stopped, this walker stops where it is. */
const pause = (): Promise<void> => (shared.stopped ? Promise.reject(new Stopped('stopped')) : Promise.resolve());

const files = new WalkFiles({ store, limits: data.limits, parallel: false }, pause, shared);
const parsed = new Map<string, IgnoreFile[]>();
let walk: Walk | undefined;
let failed = false;
let folders = 0;

async function setUp(): Promise<void> {
  let previous: Manifest | undefined;
  try {
    previous = data.previousHash ? await readManifest(store, data.previousHash) : undefined;
  } catch {
    post({ kind: 'ready' });
    return; // the walk has it and walks alone: this walker never says it is idle
  }
  const ignore = data.ignoreFiles ? new Map(data.ignoreFiles) : undefined;
  const w = new Walk(
    {
      workspace: data.workspace,
      limits: data.limits,
      ...(data.exclude ? { exclude: data.exclude } : {}),
      ...(data.excludeAbs ? { excludeAbs: data.excludeAbs } : {}),
      ...(previous ? { previous } : {}),
      previousByPath: byPath(previous),
      ...(ignore
        ? {
            ignoreFrom: async (dir: string) => {
              const hash = ignore.get(dir);
              return hash ? (await store.read(hash)).toString('utf8') : undefined;
            },
          }
        : {}),
    },
    shared,
    files,
    pause,
  );
  w.handOff = (sub, f) => {
    if (!handable(f) || !shared.claimIdle(IDLE_MAIN)) return false;
    post({ kind: 'folder', folder: handedFolder(sub, f) });
    return true;
  };
  walk = w;
  shared.setIdle(IDLE_CO, true);
  post({ kind: 'ready' });
}

async function folder(h: HandedFolder): Promise<void> {
  if (!walk || failed || shared.stopped) {
    closeSync(h.fd);
    post({ kind: 'done' });
    return;
  }
  const { dir, folder: f } = receivedFolder(h, parsed);
  try {
    if (data.failAfter !== undefined && folders >= data.failAfter) {
      dir.close();
      throw new Error('snapshot walker fault (test)');
    }
    folders++;
    await walk.handed(dir, f);
  } catch (err) {
    if (!(err instanceof Stopped)) {
      failed = true;
      post({ kind: 'failed', error: sendError(err) });
    }
  }
  post({ kind: 'done' });
  if (!failed && !shared.stopped) shared.setIdle(IDLE_CO, true);
}

function close(): void {
  const w = walk;
  try {
    if (!w) {
      post({ kind: 'result', result: { entries: [], skipped: [], skippedCount: 0, listed: 0, untrusted: false, read: 0, added: 0, fixes: [], folders } });
      return;
    }
    // What it relied on instead of storing again is still there, and its pack sealed before any manifest names it.
    store.checkRelied();
    store.flush();
    post({
      kind: 'result',
      result: {
        entries: w.entries,
        skipped: w.skipped,
        skippedCount: w.skippedCount,
        listed: w.listed,
        untrusted: w.untrusted,
        read: files.read,
        added: files.added,
        fixes: w.fixes,
        folders,
      },
    });
  } catch (err) {
    store.discard();
    post({ kind: 'failed', error: sendError(err) });
    post({ kind: 'ended' });
  }
}

function abort(): void {
  try {
    store.discard();
  } catch {
    // its temp file is collected later (gc.ts)
  }
  post({ kind: 'ended' });
}

// One message at a time, in order (a folder's walk awaits between files).
const queue: ToCoWalker[] = [];
let running: Promise<void> | undefined;
const ready = setUp();
async function run(): Promise<void> {
  await ready;
  for (let m = queue.shift(); m; m = queue.shift()) {
    if (m.kind === 'folder') await folder(m.folder);
    else {
      if (m.kind === 'close' && !failed) close();
      else abort();
      port.close();
      return;
    }
  }
  running = undefined;
}
port.on('message', (m: ToCoWalker) => {
  queue.push(m);
  running ??= run();
});
