/**
 * Attack: a run (or a run beside it) swaps a mount source inside the workspace for a link to a host folder
 * while the daemon makes a spare of the plan, and swaps it back before the next run plans. That run's key
 * (real paths, device and inode) then matches the spare, whose container mounted the link's target; its
 * own check before the go cannot see what was mounted. Found for real against the engine: a run whose
 * moat.yaml mounts ./data read the host folder the link named. A source a run can swap gets no spare.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { swappableSources } from '../../../src/container/sources.js';
import { madeAfterTwoRuns, testPlan } from './spare-fixtures.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { RunMetadata } from '../../../src/store/types.js';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-spare-src-'));
});
afterEach(async () => rm(base, { recursive: true, force: true }));

describe('swappableSources', () => {
  it('names a source strictly below a writable folder, not the folder itself nor one beside it', () => {
    const ws = '/w/proj';
    expect(swappableSources([ws, '/w/proj/data', '/w/projX', '/w/other', '/w/proj/a/b'], [ws])).toEqual(['/w/proj/data', '/w/proj/a/b']);
    expect(swappableSources([ws, '/cache/x'], [ws, '/cache'])).toEqual(['/cache/x']);
    expect(swappableSources([ws], [ws])).toEqual([]);
  });
});

describe('hostile: a spare of a plan whose mount source a run can swap', () => {
  async function poolAfterTwoRuns(
    mounts: (ws: string) => Array<{ source: string; target: string; readOnly: boolean }>,
  ): Promise<{ created: number; log: string[] }> {
    const home = new MoatHome(join(base, 'home'));
    const ws = join(base, 'ws');
    await mkdir(join(ws, 'data'), { recursive: true });
    await mkdir(join(base, 'outside'));
    const extra = mounts(ws);
    const sources = [ws, ...extra.map((m) => m.source)];
    const plan = await testPlan(home, ws, { mounts: [{ source: ws, target: '/workspace', readOnly: false }, ...extra] }, sources);
    return madeAfterTwoRuns(home, plan);
  }

  it('makes no spare when a source lies inside the writable workspace', async () => {
    const r = await poolAfterTwoRuns((ws) => [{ source: join(ws, 'data'), target: '/data', readOnly: true }]);
    expect(r.created).toBe(0);
    expect(r.log.join('\n')).toMatch(/lies in a folder a run can write/);
  });

  it('still tries to make one when every source is out of the runs’ reach (the test: the engine is asked)', async () => {
    const r = await poolAfterTwoRuns(() => [{ source: join(base, 'outside'), target: '/data', readOnly: true }]);
    expect(r.created).toBe(1);
  });
});

describe('hostile: a live run recorded without its writable folders (an older CLI)', () => {
  it('still counts its workspace: a source below it gets no spare', async () => {
    const home = new MoatHome(join(base, 'home'));
    const ws = join(base, 'ws');
    const data = join(base, 'shared', 'data');
    await mkdir(ws, { recursive: true });
    await mkdir(data, { recursive: true });
    // A run whose workspace is the parent of this plan's read-only source, recorded with no `writable`.
    const { RunStore } = await import('../../../src/store/store.js');
    await new RunStore(home).create({
      id: 'run_00000000000a',
      name: 'other',
      workspace: join(base, 'shared'),
      command: ['sh'],
      image: 'moat-image:test',
      grants: [],
      state: 'running',
      containerId: 'x',
      createdAt: new Date().toISOString(),
    } as unknown as RunMetadata);
    const plan = await testPlan(
      home,
      ws,
      {
        mounts: [
          { source: ws, target: '/workspace', readOnly: false },
          { source: data, target: '/data', readOnly: true },
        ],
      },
      [ws, data],
    );
    const { created, log } = await madeAfterTwoRuns(home, plan);
    expect(created).toBe(0);
    expect(log.join('\n')).toMatch(/lies in a folder a run can write/);
  });
});
