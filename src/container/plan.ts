/**
 * A run's container as data: everything its engine spec holds except what only the run itself decides
 * (its id and name, its command, its environment). The CLI makes the plan and creates the container from
 * it; the daemon makes a spare from the plan of a run that ended (daemon/spares.ts), and a later run with
 * the same plan (same `key`) claims that spare instead of creating and starting a container of its own.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MoatError } from '../errors.js';
import type { ContainerSpec, Mount } from '../runtime/types.js';
import { LABEL_HOME, LABEL_MANAGED, LABEL_NAME, LABEL_RUN_ID } from '../runtime/types.js';
import { initEntrypoint, privilegedEnv } from './env.js';
import type { SourceIdentity } from './sources.js';
import { CONTAINER_NET_DIR } from '../gateway/transport.js';

/** Capabilities the init step needs (user setup, staging files); the user's process gets none. */
const INIT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETUID', 'SETGID', 'SETPCAP'];

/** The file beside a run's record from which the daemon makes a spare once the run has ended. */
export const SPARE_PLAN_FILE = 'spare-plan.json';

/** A spare waits with this label (and keeps it once claimed): daemon/spares.ts removes unclaimed ones. */
export const LABEL_SPARE = 'moat.spare';

/** A file for the container user's home (path relative to it), written by moat-init. Never a real secret. */
export interface HomeFile {
  path: string;
  content: string;
  mode: number;
}

export interface ContainerPlan {
  home: string;
  workspace: string;
  image: string;
  /** The id the tag named when the run was planned (a --rebuild keeps the tag): a spare is made of it only. */
  imageId?: string;
  owner: { uid: number; gid: number };
  proxyPort?: number;
  servicePorts?: number[];
  /** The workspace's own mount and moat.yaml's. */
  mounts: Mount[];
  /** The gateway's and grants' mounts (the CA certificate), after the gateway's folder. */
  extraMounts: Mount[];
  /** Container paths covered by an empty read-only folder of the run's. */
  hidden: string[];
  /** Files moat-init copies into the user's home (placeholders, agent settings: never a real secret). */
  homeFiles: HomeFile[];
  tty: boolean;
  openStdin: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit: number;
  logLimitBytes: number;
  engineRuntime?: string;
  /** The real paths checked again just before a start (mount-sources.ts), with what they were when planned. */
  sources: SourceIdentity[];
  /** The files mounted beside them (the gateway's CA), as they were: a CA made anew means another plan. */
  files: SourceIdentity[];
}

/** The engine spec of a run (or of a spare: no command yet, moat-init waits for it). */
export function containerSpec(plan: ContainerPlan, run: { id: string; name: string; runDir: string; command?: string[] }): ContainerSpec {
  const spare = run.command === undefined;
  return {
    name: `moat-${run.name}-${run.id.slice(4, 10)}`,
    hostname: run.name,
    // A spare is made of the image the plan names by id: a --rebuild between the daemon's look at the tag
    // and the create cannot slip another image in under the same key.
    image: spare && plan.imageId ? plan.imageId : plan.image,
    // A spare's command arrives when it is claimed (/moat/stage/argv); the engine needs one meanwhile.
    cmd: run.command ?? ['moat-spare'],
    entrypoint: initEntrypoint({
      uid: plan.owner.uid,
      gid: plan.owner.gid,
      ...(plan.proxyPort !== undefined ? { proxyPort: plan.proxyPort } : {}),
      ...(plan.servicePorts ? { servicePorts: plan.servicePorts } : {}),
      ...(spare ? { spare: true } : {}),
    }),
    env: privilegedEnv(),
    workingDir: '/workspace',
    labels: {
      [LABEL_MANAGED]: 'true',
      [LABEL_RUN_ID]: run.id,
      [LABEL_HOME]: plan.home,
      [LABEL_NAME]: run.name,
      ...(spare ? { [LABEL_SPARE]: '1' } : {}),
    },
    mounts: runMounts(plan, run.runDir),
    tty: plan.tty,
    openStdin: plan.openStdin,
    network: 'none',
    capAdd: INIT_CAPS,
    ...(plan.memoryBytes ? { memoryBytes: plan.memoryBytes } : {}),
    ...(plan.nanoCpus ? { nanoCpus: plan.nanoCpus } : {}),
    pidsLimit: plan.pidsLimit,
    logLimitBytes: plan.logLimitBytes,
    ...(plan.engineRuntime ? { runtime: plan.engineRuntime } : {}),
  };
}

/** Every mount of the run: the plan's, the gateway's folder, the staged files, the hidden paths. */
export function runMounts(plan: ContainerPlan, runDir: string): Mount[] {
  return [
    ...plan.mounts,
    // Read-only: connecting to a unix socket needs no write access to the mount, and the container must
    // not create, move or replace anything where the (possibly root) daemon creates and removes its socket.
    { source: join(runDir, 'net'), target: CONTAINER_NET_DIR, readOnly: true },
    ...plan.extraMounts,
    { source: join(runDir, 'stage'), target: '/moat/stage', readOnly: true },
    ...plan.hidden.map((target) => ({ source: join(runDir, 'empty'), target, readOnly: true })),
  ];
}

/** The plan's key: equal plans (made the same way, field by field) give equal keys. */
export function planKey(plan: ContainerPlan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('hex');
}

/** The run's folders a container mounts: the gateway's, the staged files (home files), the empty one. */
export async function prepareRunDir(runDir: string, plan: ContainerPlan): Promise<void> {
  await mkdir(join(runDir, 'net'), { recursive: true, mode: 0o700 });
  const stage = join(runDir, 'stage');
  for (const f of plan.homeFiles) {
    const dest = join(stage, 'home', f.path);
    if (!dest.startsWith(join(stage, 'home') + '/')) throw new MoatError(`Refusing to stage ${f.path} outside the home directory.`, { code: 'E_REFUSED' });
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await writeFile(dest, f.content, { mode: f.mode });
  }
  await mkdir(stage, { recursive: true, mode: 0o700 });
  if (plan.hidden.length > 0) await mkdir(join(runDir, 'empty'), { mode: 0o555 });
}
