import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import { atomicWriteJson, readJsonIfExists, withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import { LIVE_STATES, type RunMetadata } from './types.js';
import { RUN_ID_RE } from './names.js';

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

  async list(): Promise<RunMetadata[]> {
    let ids: string[];
    try {
      ids = (await readdir(this.home.runsDir)).filter((d) => RUN_ID_RE.test(d));
    } catch {
      return [];
    }
    const metas = await Promise.all(ids.map((id) => this.read(id)));
    return metas.filter((m): m is RunMetadata => m !== undefined).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
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
