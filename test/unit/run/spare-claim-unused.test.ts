/**
 * A run that claimed a spare and failed before it looked at it (the names' lock or the store failing first)
 * lets the spare go at once: left to the claim's 30-minute bound, it kept a container waiting and the
 * daemon from idling out all that time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { createRun, type ClaimedSpare } from '../../../src/run/launch.js';
import type { RunSpec } from '../../../src/run/spec.js';
import type { ContainerRuntime } from '../../../src/runtime/types.js';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-claim-unused-'));
});
afterEach(async () => rm(base, { recursive: true, force: true }));

/** A detached run of `ws` offered one spare; what it discarded is kept in `discarded`. */
function createWithSpare(home: MoatHome, ws: string, runtime: ContainerRuntime, discarded: ClaimedSpare[]): ReturnType<typeof createRun> {
  const spec = {
    workspace: ws,
    command: ['true'],
    env: {},
    mounts: [],
    realSources: [ws],
    interactive: false,
    detach: true,
    grants: [],
    pidsLimit: 512,
  } as unknown as RunSpec;
  return createRun(
    home,
    runtime,
    spec,
    { tag: 'moat-image:test', env: [] },
    { env: {}, mounts: [], homeFiles: [] },
    { sandbox: 'runc' },
    {
      claim: () => Promise.resolve(SPARE),
      discard: (s) => {
        discarded.push(s);
        return Promise.resolve();
      },
    },
  );
}

const SPARE: ClaimedSpare = { id: 'run_000000000001', name: 'x', containerId: 'c1' };

describe('a claimed spare the run cannot use', () => {
  it('is discarded when the names lock cannot be had', async () => {
    const home = new MoatHome(join(base, 'home'));
    const ws = join(base, 'ws');
    await mkdir(ws, { recursive: true });
    await mkdir(home.root, { recursive: true });
    await writeFile(home.locksDir, 'not a folder'); // the lock cannot be taken
    const discarded: ClaimedSpare[] = [];
    await expect(createWithSpare(home, ws, {} as ContainerRuntime, discarded)).rejects.toThrow();
    expect(discarded).toEqual([SPARE]);
  });

  it('is discarded, and the run creates its own container, when its folder is gone (swept by a new daemon)', async () => {
    const home = new MoatHome(join(base, 'home'));
    const ws = join(base, 'ws');
    await mkdir(ws, { recursive: true });
    const discarded: ClaimedSpare[] = [];
    const created: string[] = [];
    const runtime = {
      create: (c: { name: string }) => {
        created.push(c.name);
        return Promise.resolve('c2');
      },
    } as unknown as ContainerRuntime;
    const launched = await createWithSpare(home, ws, runtime, discarded);
    expect(discarded).toEqual([SPARE]);
    expect(launched.spare).toBeUndefined();
    expect(launched.containerId).toBe('c2');
    expect(launched.meta.id).not.toBe(SPARE.id);
    expect(created).toHaveLength(1);
  });
});
