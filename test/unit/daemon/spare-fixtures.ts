/** What the spare pool's tests share: a plan of a workspace, and ended runs that leave it. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SPARE_PLAN_FILE, type ContainerPlan } from '../../../src/container/plan.js';
import { sourceIdentities } from '../../../src/container/sources.js';
import type { SparePool } from '../../../src/daemon/spares.js';
import type { MoatHome } from '../../../src/home/paths.js';

/** A plan of `ws` (its folder must exist) in `home`; `sources` default to the workspace alone. */
export async function testPlan(home: MoatHome, ws: string, extra: Partial<ContainerPlan> = {}, sources: string[] = [ws]): Promise<ContainerPlan> {
  return {
    home: home.root,
    workspace: ws,
    image: 'moat-image:test',
    owner: { uid: 1000, gid: 1000 },
    mounts: [{ source: ws, target: '/workspace', readOnly: false }],
    extraMounts: [],
    hidden: [],
    homeFiles: [],
    tty: false,
    openStdin: false,
    pidsLimit: 512,
    logLimitBytes: 1 << 20,
    sources: await sourceIdentities(sources),
    files: [],
    ...extra,
  };
}

/** A run of `plan` that has ended (its folder holds the plan), handed to the pool. */
export async function endRun(pool: SparePool, home: MoatHome, id: string, plan: ContainerPlan): Promise<void> {
  await mkdir(home.runDir(id), { recursive: true });
  await writeFile(join(home.runDir(id), SPARE_PLAN_FILE), JSON.stringify(plan));
  await pool.afterRun(id);
}
