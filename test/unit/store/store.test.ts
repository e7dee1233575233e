import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { MoatHome } from '../../../src/home/paths.js';
import { RunStore } from '../../../src/store/store.js';
import { newRunId, newRunName, RUN_ID_RE, RUN_NAME_RE } from '../../../src/store/names.js';
import type { RunMetadata } from '../../../src/store/types.js';

function meta(id: string, name: string, over: Partial<RunMetadata> = {}): RunMetadata {
  return {
    id,
    name,
    workspace: '/w',
    command: ['true'],
    image: 'img',
    grants: [],
    interactive: false,
    keep: false,
    state: 'running',
    createdAt: new Date().toISOString(),
    home: '/h',
    ...over,
  };
}

describe('run ids and names', () => {
  it('ids are run_ + 12 hex and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, newRunId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(RUN_ID_RE);
  });
  it('names are adjective-animal and avoid taken ones', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const n = newRunName(taken);
      expect(n).toMatch(RUN_NAME_RE);
      expect(taken.has(n)).toBe(false);
      taken.add(n);
    }
  });
});

describe('RunStore', () => {
  let dir: string;
  let store: RunStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-store-'));
    store = new RunStore(new MoatHome(dir));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('resolves by id, unique prefix and name, and explains ambiguity', async () => {
    await store.create(meta('run_aaaaaaaaaaaa', 'brave-otter'));
    await store.create(meta('run_aaaabbbbbbbb', 'calm-seal', { state: 'stopped', exitCode: 0 }));
    await store.create(meta('run_cccccccccccc', 'calm-seal', { state: 'stopped', exitCode: 1 }));
    expect((await store.resolve('run_aaaaaaaaaaaa')).name).toBe('brave-otter');
    expect((await store.resolve('aaaaa')).id).toBe('run_aaaaaaaaaaaa');
    expect((await store.resolve('brave-otter')).id).toBe('run_aaaaaaaaaaaa');
    await expect(store.resolve('aaaa')).rejects.toThrow(/start of 2 run ids/);
    await expect(store.resolve('calm-seal')).rejects.toThrow(/matches 2 runs/);
    await expect(store.resolve('nothing')).rejects.toThrow(/No run matches "nothing"/);
  });

  it('prefers the live run when a name is reused', async () => {
    await store.create(meta('run_111111111111', 'quick-yak', { state: 'stopped', exitCode: 0 }));
    await store.create(meta('run_222222222222', 'quick-yak'));
    expect((await store.resolve('quick-yak')).id).toBe('run_222222222222');
  });

  it('keeps metadata intact under concurrent writers in other processes', async () => {
    const id = 'run_abcdefabcdef';
    await store.create(meta(id, 'steady-newt', { exitCode: 0 }));
    const worker = join(dir, 'worker.mjs');
    const { writeFile } = await import('node:fs/promises');
    // Each worker increments exitCode 25 times under the store's lock.
    await writeFile(
      worker,
      `
      const { RunStore } = await import(${JSON.stringify(new URL('../../../src/store/store.ts', import.meta.url).href)});
      const { MoatHome } = await import(${JSON.stringify(new URL('../../../src/home/paths.ts', import.meta.url).href)});
      const s = new RunStore(new MoatHome(process.argv[2]));
      for (let i = 0; i < 25; i++) await s.update(process.argv[3], (m) => ({ ...m, exitCode: m.exitCode + 1 }));
    `,
    );
    await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<void>((resolve, reject) => {
            const p = fork(worker, [dir, id], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
            p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
          }),
      ),
    );
    const final = JSON.parse(await readFile(store.metadataFile(id), 'utf8')) as RunMetadata;
    expect(final.exitCode).toBe(100);
    expect(final.name).toBe('steady-newt');
  }, 60_000);

  it('lists newest first and ignores foreign directories', async () => {
    await store.create(meta('run_000000000001', 'a-a', { createdAt: '2026-01-01T00:00:00.000Z' }));
    await store.create(meta('run_000000000002', 'b-b', { createdAt: '2026-02-01T00:00:00.000Z' }));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'runs', 'not-a-run'), { recursive: true });
    expect((await store.list()).map((r) => r.id)).toEqual(['run_000000000002', 'run_000000000001']);
  });

  it('lists runs past one slice of reads, skipping torn and missing metadata', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    for (let i = 0; i < 150; i++) {
      const id = `run_${i.toString(16).padStart(12, '0')}`;
      await store.create(meta(id, `n-${i}`, { createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
    }
    await writeFile(store.metadataFile('run_000000000005'), '{"id": "run_0000');
    await mkdir(store.dir('run_0000000000ff'), { recursive: true }); // no metadata yet
    const ids = (await store.list()).map((r) => r.id);
    expect(ids).toHaveLength(149);
    expect(ids[0]).toBe('run_000000000095');
    expect(ids.at(-1)).toBe('run_000000000000');
    expect(ids).not.toContain('run_000000000005');
  });

  it("attack: a FIFO or a folder in place of a run's metadata neither stalls nor breaks the listing", async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdir } = await import('node:fs/promises');
    await store.create(meta('run_000000000001', 'a-a'));
    await mkdir(store.dir('run_000000000002'), { recursive: true });
    execFileSync('mkfifo', [store.metadataFile('run_000000000002')]);
    await mkdir(join(store.dir('run_000000000003'), 'metadata.json'), { recursive: true });
    expect((await store.list()).map((r) => r.id)).toEqual(['run_000000000001']);
  });
});
