import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MoatError } from '../errors.js';
import { withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import type { ContainerRuntime, Mount } from '../runtime/types.js';
import { encodeArgvFile, encodeEnvFile, userEnvironment } from '../container/env.js';
import { SPARE_PLAN_FILE, containerSpec, planKey, prepareRunDir, runMounts, type ContainerPlan, type HomeFile } from '../container/plan.js';
import { sourceIdentities } from '../container/sources.js';
import type { SpareView } from '../daemon/spares.js';
import { newRunId, newRunName } from '../store/names.js';
import type { RunSpec } from './spec.js';
import { RunStore } from '../store/store.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';
import { DEFAULT_LOG_LIMIT } from '../store/log-file.js';
import type { SandboxChoice } from '../runtime/sandbox.js';
import { portEnv } from '../gateway/routes.js';
import { routingPort } from '../config/routing.js';
import type { ResolvedSecret } from '../credentials/secrets/types.js';

export interface Launched {
  meta: RunMetadata;
  containerId: string;
  /** The container is a claimed spare, started and waiting: the run begins with goSpare, not a start. */
  spare?: true;
}

/** What the gateway and credentials add to a container: environment, mounts, files for the user's home. */
export interface ContainerExtras {
  env: Record<string, string>;
  /** Extra mounts (the gateway's CA); the gateway's own folder is the run's (container/plan.ts). */
  mounts: Mount[];
  /** Files the init step copies into the user's home (paths relative to it). */
  homeFiles: HomeFile[];
  /** The run's resolved `secrets:`, handed to the daemon encrypted (never in the container but as placeholders). */
  secrets?: ResolvedSecret[];
  /** The host ssh-agent the run's SSH grants sign with (recorded for the daemon). */
  sshAgentSocket?: string;
}

/** The image a run starts from: its tag and its ENV (which reaches the run's user, not moat-init). */
export interface RunImage {
  tag: string;
  /** The image's id: a spare of an image rebuilt since under the same tag is not this run's. */
  id?: string;
  env: string[];
}

/** A spare the daemon handed over (daemon/spares.ts): started, waiting, its plan's key equal to the run's. */
export type ClaimedSpare = SpareView;

/** How a run gets a spare of its plan's key, if the daemon holds one; and drops one it cannot use. Given only to runs spareEligible allows. */
export interface SpareClaims {
  claim: (key: string) => Promise<ClaimedSpare | undefined>;
  discard: (spare: ClaimedSpare) => Promise<void>;
}

/**
 * Whether a run can start in a spare: not without MOAT_SPARES=0, and not with services (their relays start
 * before the go, each waiting for a tunnel the daemon opens only for a run).
 */
export function spareEligible(spec: RunSpec, env: NodeJS.ProcessEnv): boolean {
  return env.MOAT_SPARES !== '0' && !spec.ports;
}

/**
 * The run's container plan (container/plan.ts): its engine spec but for the run's id, name, command and
 * environment.
 */
export async function planRun(home: MoatHome, spec: RunSpec, image: RunImage, extras: ContainerExtras, sandbox: SandboxChoice): Promise<ContainerPlan> {
  const owner = await stat(spec.workspace);
  const port = Number(extras.env.MOAT_PROXY_PORT);
  const mounts: Mount[] = [{ source: spec.workspace, target: '/workspace', readOnly: false }, ...spec.mounts];
  // Every bind source is identified and checked, not only moat.yaml's (realSources): an agent's transcript
  // and plugin folders are mounts too, and a spare mounts them as early as the rest (daemon/spares.ts).
  const sourcePaths = [...new Set([...(spec.realSources ?? []), ...mounts.map((m) => m.source)])];
  return {
    home: home.root,
    workspace: spec.workspace,
    image: image.tag,
    ...(image.id ? { imageId: image.id } : {}),
    owner: { uid: owner.uid, gid: owner.gid },
    ...(Number.isInteger(port) && port > 0 ? { proxyPort: port } : {}),
    ...(spec.ports ? { servicePorts: Object.values(spec.ports) } : {}),
    mounts,
    extraMounts: extras.mounts,
    hidden: spec.hiddenPaths ?? [],
    homeFiles: extras.homeFiles,
    tty: spec.interactive,
    openStdin: spec.interactive || (!spec.detach && !process.stdin.isTTY),
    ...(spec.memoryBytes ? { memoryBytes: spec.memoryBytes } : {}),
    ...(spec.nanoCpus ? { nanoCpus: spec.nanoCpus } : {}),
    pidsLimit: spec.pidsLimit,
    logLimitBytes: spec.logLimitBytes ?? DEFAULT_LOG_LIMIT,
    ...(sandbox.engineRuntime ? { engineRuntime: sandbox.engineRuntime } : {}),
    sources: await sourceIdentities(sourcePaths),
    files: await sourceIdentities(extras.mounts.map((m) => m.source)),
  };
}

/**
 * Create the run: its container (labelled, `--network none`, workspace at /workspace, running as the
 * workspace owner) and its record. Either both exist afterwards or neither does. With `spares`, a spare
 * of the same plan the daemon holds is taken instead of a new container.
 */
export async function createRun(
  home: MoatHome,
  runtime: ContainerRuntime,
  spec: RunSpec,
  image: RunImage,
  extras: ContainerExtras,
  sandbox: SandboxChoice = { sandbox: 'runc' },
  spares?: SpareClaims,
): Promise<Launched> {
  const store = new RunStore(home);
  const plan = await planRun(home, spec, image, extras, sandbox);
  const key = planKey(plan);
  // A named run and a rebuilt image (same tag, other contents) take no spare.
  const claiming = spares && !spec.name && !spec.rebuild ? spares.claim(key).catch(() => undefined) : Promise.resolve(undefined);
  let consumed = false;
  return withLock(join(home.locksDir, 'names'), async (): Promise<Launched> => {
    const live = (await store.list()).filter((r) => LIVE_STATES.has(r.state));
    const taken = new Set(live.map((r) => r.name));
    if (spec.name && taken.has(spec.name)) {
      throw new MoatError(`A live run is already named "${spec.name}".`, {
        code: 'E_CONFLICT',
        hint: `Pick another name with -n, or stop it first: moat stop ${spec.name}`,
      });
    }
    let spare = await claiming;
    consumed = true; // from here on, a failure removes the spare itself
    // Its name taken meanwhile, or its folder gone (a new daemon swept it, `moat proxy restart`): the run
    // creates its own container instead.
    const usable = async (s: ClaimedSpare): Promise<boolean> =>
      !taken.has(s.name) &&
      (await stat(join(store.dir(s.id), 'stage')).then(
        (st) => st.isDirectory(),
        () => false,
      ));
    if (spare && !(await usable(spare))) {
      await spares?.discard(spare);
      spare = undefined;
    }
    const id = spare?.id ?? newRunId();
    const name = spare?.name ?? spec.name ?? newRunName(taken);
    const runDir = store.dir(id);
    // The run's environment is data for moat-init to apply after it drops to the run's user; the
    // privileged start itself sees only fixed values (container/env.ts).
    const envFile = encodeEnvFile(
      userEnvironment(image.env, [
        spec.env,
        extras.env,
        {
          MOAT_RUN_ID: id,
          MOAT_RUN_NAME: name,
          HOSTNAME: name,
          ...(spec.ports ? portEnv(name, spec.ports, await routingPort(home.globalConfig)) : {}),
          ...(spec.interactive ? { TERM: process.env.TERM && process.env.TERM !== 'dumb' ? process.env.TERM : 'xterm-256color' } : {}),
        },
      ]),
    );
    let containerId: string;
    try {
      if (spare) {
        // The spare's folders were made from this very plan; what the run adds is its command and environment.
        await writeFile(join(runDir, 'stage', 'env'), envFile, { mode: 0o600 });
        await writeFile(join(runDir, 'stage', 'argv'), encodeArgvFile(spec.command), { mode: 0o600 });
        containerId = spare.containerId;
      } else {
        await prepareRunDir(runDir, plan);
        await writeFile(join(runDir, 'stage', 'env'), envFile, { mode: 0o600 });
        containerId = await runtime.create(containerSpec(plan, { id, name, runDir, command: spec.command }));
      }
      // The daemon makes a spare of this plan when the run has ended (daemon/spares.ts).
      if (spares) await writeFile(join(runDir, SPARE_PLAN_FILE), JSON.stringify(plan), { mode: 0o600 });
    } catch (err) {
      if (spare) await spares?.discard(spare);
      await store.remove(id).catch(() => undefined);
      throw err;
    }
    const meta: RunMetadata = {
      id,
      name,
      workspace: spec.workspace,
      command: spec.command,
      ...(spec.commandLine !== undefined ? { commandLine: spec.commandLine } : {}),
      image: image.tag,
      grants: spec.grants,
      network: spec.network,
      interactive: spec.interactive,
      keep: spec.keep,
      logLimit: plan.logLimitBytes,
      ...(spec.traceBodies ? { traceBodies: true } : {}),
      ...(extras.sshAgentSocket ? { sshAgentSocket: extras.sshAgentSocket } : {}),
      ...(spec.agent ? { agent: spec.agent } : {}),
      sandbox: sandbox.sandbox,
      ...(spec.ports ? { ports: spec.ports } : {}),
      state: 'created',
      containerId,
      writable: [
        ...new Set(
          runMounts(plan, runDir)
            .filter((m) => !m.readOnly)
            .map((m) => m.source),
        ),
      ],
      createdAt: new Date().toISOString(),
      home: home.root,
    };
    try {
      await store.create(meta);
    } catch (err) {
      await runtime.remove(containerId, true).catch(() => undefined);
      await store.remove(id).catch(() => undefined);
      throw err;
    }
    return spare ? { meta, containerId, spare: true } : { meta, containerId };
  }).catch(async (err: unknown) => {
    // Failed before the claim was looked at (the names' lock held too long by another CLI, the store
    // unreadable): a spare claimed meanwhile is let go now, not after the claim's 30 minutes (it would keep
    // the daemon up all that time).
    const unused = consumed ? undefined : await claiming;
    if (unused) await spares?.discard(unused);
    throw err;
  });
}

/**
 * Stop a run's container: an interactive one first gets the hang-up a closed terminal gives (shells
 * ignore SIGTERM), then SIGTERM, then SIGKILL after `timeout` seconds.
 */
export async function stopContainer(runtime: ContainerRuntime, containerId: string, interactive: boolean, timeout = 10): Promise<void> {
  if (interactive) {
    await runtime.kill(containerId, 'SIGHUP');
    for (let i = 0; i < 20; i++) {
      const c = await runtime.inspect(containerId);
      if (!c || c.status !== 'running') return;
      await sleep(50);
    }
  }
  await runtime.stop(containerId, timeout);
}

/** Undo a run that never got going (start failed): container and record both go. */
export async function discardRun(home: MoatHome, runtime: ContainerRuntime, l: Launched): Promise<void> {
  await discardContainer(home, runtime, l.meta.id, l.containerId);
}

/** A container and the run folder of `id` both go (a run that never got going, a spare it cannot use). */
export async function discardContainer(home: MoatHome, runtime: ContainerRuntime, id: string, containerId: string): Promise<void> {
  await runtime.remove(containerId, true).catch(() => undefined);
  await new RunStore(home).remove(id).catch(() => undefined);
}

export async function markRunning(home: MoatHome, id: string): Promise<void> {
  await new RunStore(home).update(id, (m) =>
    m.state === 'created' || m.state === 'starting' ? { ...m, state: 'running', startedAt: new Date().toISOString() } : undefined,
  );
}

export async function markStopped(home: MoatHome, id: string, exitCode: number): Promise<void> {
  await new RunStore(home).update(id, (m) =>
    LIVE_STATES.has(m.state) ? { ...m, state: 'stopped', exitCode, stoppedAt: new Date().toISOString() } : undefined,
  );
}
