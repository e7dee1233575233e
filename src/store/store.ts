import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import { atomicWriteJson, readJsonIfExists, withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import { LIVE_STATES, type RunMetadata } from './types.js';
import { RUN_ID_RE } from './names.js';

/** Runs read between two turns of the event loop by list() (~2 ms here). */
const LIST_SLICE = 64;

/**
 * A run's metadata, or undefined when it is missing, torn or not a regular file. Opened without blocking:
 * a FIFO in its place must not stall the process (these reads are synchronous).
 */
function readMetadataSync(path: string): RunMetadata | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return undefined;
    return JSON.parse(readFileSync(fd, 'utf8')) as RunMetadata;
  } catch {
    return undefined; // gone, a torn or foreign file: not a run
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** runs/<id>/metadata.json (logs.jsonl: log-file.ts); every write is atomic and under a cross-process lock. */
export class RunStore {
  constructor(readonly home: MoatHome) {}

  dir(id: string): string {
    return this.home.runDir(id);
  }
  metadataFile(id: string): string {
    return join(this.dir(id), 'metadata.json');
  }

  async create(meta: RunMetadata): Promise<void> {
    await mkdir(this.dir(meta.id), { recursive: true, mode: 0o700 });
    await withLock(this.metadataFile(meta.id), () => atomicWriteJson(this.metadataFile(meta.id), meta));
  }

  async read(id: string): Promise<RunMetadata | undefined> {
    try {
      return await readJsonIfExists<RunMetadata>(this.metadataFile(id));
    } catch {
      return undefined; // a torn or foreign file is not a run
    }
  }

  /** Read-modify-write under the run's lock; `fn` returns the new metadata (or undefined to leave it). */
  async update(id: string, fn: (m: RunMetadata) => RunMetadata | undefined): Promise<RunMetadata | undefined> {
    return withLock(this.metadataFile(id), async () => {
      const cur = await this.read(id);
      if (!cur) return undefined;
      const next = fn(cur);
      if (next) await atomicWriteJson(this.metadataFile(id), next);
      return next ?? cur;
    });
  }

  /**
   * Every run, newest first. Read synchronously, a slice at a time: a thread-pool hop per file made this
   * ~7 times slower (~95 ms for 500 runs here, paid at each `moat run`'s start; BENCHMARKS.md), and a
   * slice keeps the daemon that calls it serving its gateways between files.
   */
  async list(): Promise<RunMetadata[]> {
    let ids: string[];
    try {
      ids = (await readdir(this.home.runsDir)).filter((d) => RUN_ID_RE.test(d));
    } catch {
      return [];
    }
    const metas: RunMetadata[] = [];
    for (let i = 0; i < ids.length; i += LIST_SLICE) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      for (const id of ids.slice(i, i + LIST_SLICE)) {
        const meta = readMetadataSync(this.metadataFile(id));
        if (meta) metas.push(meta);
      }
    }
    return metas.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
    await rm(`${this.metadataFile(id)}.lock`, { recursive: true, force: true });
  }

  /**
   * Find a run by id, unique id prefix, or name. Names of live runs win over stopped ones; an ambiguous
   * reference is an error that lists the candidates.
   */
  async resolve(ref: string): Promise<RunMetadata> {
    const runs = await this.list();
    const exact = runs.find((r) => r.id === ref);
    if (exact) return exact;
    const byName = runs.filter((r) => r.name === ref);
    const liveByName = byName.filter((r) => LIVE_STATES.has(r.state));
    if (liveByName.length === 1) return liveByName[0] as RunMetadata;
    if (byName.length === 1) return byName[0] as RunMetadata;
    if (byName.length > 1) {
      throw new MoatError(`The name "${ref}" matches ${byName.length} runs: ${byName.map((r) => r.id).join(', ')}.`, {
        code: 'E_AMBIGUOUS',
        hint: 'Use the run id instead (moat list shows them).',
      });
    }
    const prefix = ref.startsWith('run_') ? ref : `run_${ref}`;
    const byPrefix = runs.filter((r) => r.id.startsWith(prefix));
    if (byPrefix.length === 1) return byPrefix[0] as RunMetadata;
    if (byPrefix.length > 1) {
      throw new MoatError(`"${ref}" is the start of ${byPrefix.length} run ids: ${byPrefix.map((r) => r.id).join(', ')}.`, {
        code: 'E_AMBIGUOUS',
        hint: 'Type more characters of the id.',
      });
    }
    throw new MoatError(`No run matches "${ref}".`, { code: 'E_NOT_FOUND', hint: 'moat list shows the runs of this moat home.' });
  }
}
