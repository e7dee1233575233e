/** What the spare pool's tests share: a plan of a workspace, and ended runs that leave it. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SPARE_PLAN_FILE, type ContainerPlan } from '../../../src/container/plan.js';
import { sourceIdentities } from '../../../src/container/sources.js';
import type { SparePool } from '../../../src/daemon/spares.js';
import type { MoatHome } from '../../../src/home/paths.js';
import type { ContainerRuntime } from '../../../src/runtime/types.js';

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

/**
 * Two ended runs of `plan` handed to a pool whose engine only counts the creates it is asked for (and
 * refuses them); `engine` adds or replaces its methods. The pool is closed after.
 */
export async function madeAfterTwoRuns(home: MoatHome, plan: ContainerPlan, engine: Record<string, unknown> = {}): Promise<{ created: number; log: string[] }> {
  let created = 0;
  const runtime = {
    create: () => {
      created++;
      return Promise.reject(new Error('no engine in this test'));
    },
    remove: () => Promise.resolve(),
    start: () => Promise.resolve(),
    list: () => Promise.resolve([]),
    inspectImage: () => Promise.resolve(undefined),
    ...engine,
  } as unknown as ContainerRuntime;
  const log: string[] = [];
  const { SparePool } = await import('../../../src/daemon/spares.js');
  const pool = new SparePool(home, runtime, (m) => log.push(m));
  for (const id of ['run_000000000001', 'run_000000000002']) await endRun(pool, home, id, plan);
  await pool.close();
  return { created, log };
}
