/**
 * A --rebuild keeps the image's tag and changes its contents: a spare started before it must not serve
 * the next run (which would run the image the user just replaced), and none is made of the old id.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerSpec, planKey, type ContainerPlan } from '../../../src/container/plan.js';
import { madeAfterTwoRuns, testPlan } from './spare-fixtures.js';
import { MoatHome } from '../../../src/home/paths.js';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-spare-img-'));
});
afterEach(async () => rm(base, { recursive: true, force: true }));

async function planOf(home: MoatHome, imageId: string): Promise<ContainerPlan> {
  const ws = join(base, 'ws');
  await mkdir(ws, { recursive: true });
  return testPlan(home, ws, { imageId });
}

describe('spares and a rebuilt image', () => {
  it('the same tag with another image id is another key', async () => {
    const home = new MoatHome(join(base, 'home'));
    expect(planKey(await planOf(home, 'sha256:aaa'))).not.toBe(planKey(await planOf(home, 'sha256:bbb')));
  });

  it('makes no spare of a plan whose tag names another image now', async () => {
    const home = new MoatHome(join(base, 'home'));
    const plan = await planOf(home, 'sha256:aaa');
    const { created, log } = await madeAfterTwoRuns(home, plan, {
      inspectImage: () => Promise.resolve({ id: 'sha256:bbb', tags: ['moat-image:test'], labels: {}, size: 0, env: [] }),
    });
    expect(created).toBe(0);
    expect(log.join('\n')).toMatch(/rebuilt/);
  });

  it("a spare is created from the plan's image id (the tag may name another image by then); a run's own container keeps the tag", async () => {
    const home = new MoatHome(join(base, 'home'));
    const plan = await planOf(home, 'sha256:aaa');
    const run = { id: 'run_000000000001', name: 'x', runDir: join(base, 'r') };
    expect(containerSpec(plan, run).image).toBe('sha256:aaa');
    expect(containerSpec(plan, { ...run, command: ['sh'] }).image).toBe('moat-image:test');
  });
});
