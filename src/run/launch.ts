import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MoatError } from '../errors.js';
import { withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import type { ContainerRuntime, Mount } from '../runtime/types.js';
import { LABEL_HOME, LABEL_MANAGED, LABEL_NAME, LABEL_RUN_ID } from '../runtime/types.js';
import { encodeEnvFile, initEntrypoint, privilegedEnv, userEnvironment } from './container-env.js';
import { newRunId, newRunName } from '../store/names.js';
import type { RunSpec } from './spec.js';
import { RunStore } from '../store/store.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';
import { DEFAULT_LOG_LIMIT } from '../store/log-file.js';
import type { SandboxChoice } from '../runtime/sandbox.js';
import { portEnv } from '../gateway/routes.js';
import { routingPort } from '../config/routing.js';
import type { ResolvedSecret } from '../credentials/secrets/types.js';

/** Capabilities the init step needs (user setup, staging files); the user's process gets none. */
const INIT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETUID', 'SETGID', 'SETPCAP'];

export interface Launched {
  meta: RunMetadata;
  containerId: string;
}

/**
 * Create the run: its container (labelled, `--network none`, workspace at /workspace, running as the
 * workspace owner) and its record. Either both exist afterwards or neither does.
 */
/** What the gateway and credentials add to a container: environment, mounts, files for the user's home. */
export interface ContainerExtras {
  env: Record<string, string>;
  /** Extra mounts given the run's directory (the gateway transport lives there). */
  mounts: (runDir: string) => Mount[];
  /** Files the init step copies into the user's home (paths relative to it). */
  homeFiles: Array<{ path: string; content: string; mode: number }>;
  /** The run's resolved `secrets:`, handed to the daemon encrypted (never in the container but as placeholders). */
  secrets?: ResolvedSecret[];
  /** The host ssh-agent the run's SSH grants sign with (recorded for the daemon). */
  sshAgentSocket?: string;
}

/** The image a run starts from: its tag and its ENV (which reaches the run's user, not moat-init). */
export interface RunImage {
  tag: string;
  env: string[];
}

export async function createRun(
  home: MoatHome,
  runtime: ContainerRuntime,
  spec: RunSpec,
  image: RunImage,
  extras: ContainerExtras,
  sandbox: SandboxChoice = { sandbox: 'runc' },
): Promise<Launched> {
  const store = new RunStore(home);
  const owner = await stat(spec.workspace);
  return withLock(join(home.locksDir, 'names'), async () => {
    const live = (await store.list()).filter((r) => LIVE_STATES.has(r.state));
    const taken = new Set(live.map((r) => r.name));
    if (spec.name && taken.has(spec.name)) {
      throw new MoatError(`A live run is already named "${spec.name}".`, {
        code: 'E_CONFLICT',
        hint: `Pick another name with -n, or stop it first: moat stop ${spec.name}`,
      });
    }
    const id = newRunId();
    const name = spec.name ?? newRunName(taken);
    const runDir = store.dir(id);
    // The run's environment is data for moat-init to apply after it drops to the run's user; the
    // privileged start itself sees only fixed values (container-env.ts).
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
    await mkdir(join(runDir, 'net'), { recursive: true, mode: 0o700 });
    const stage = join(runDir, 'stage');
    for (const f of extras.homeFiles) {
      const dest = join(stage, 'home', f.path);
      if (!dest.startsWith(join(stage, 'home') + '/')) throw new MoatError(`Refusing to stage ${f.path} outside the home directory.`, { code: 'E_REFUSED' });
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      await writeFile(dest, f.content, { mode: f.mode });
    }
    await mkdir(stage, { recursive: true, mode: 0o700 });
    const hidden = spec.hiddenPaths ?? [];
    if (hidden.length > 0) await mkdir(join(runDir, 'empty'), { mode: 0o555 });
    await writeFile(join(stage, 'env'), envFile, { mode: 0o600 });
    const port = Number(extras.env.MOAT_PROXY_PORT);
    const mounts: Mount[] = [
      { source: spec.workspace, target: '/workspace', readOnly: false },
      ...spec.mounts,
      ...extras.mounts(runDir),
      { source: stage, target: '/moat/stage', readOnly: true },
      ...hidden.map((target) => ({ source: join(runDir, 'empty'), target, readOnly: true })),
    ];
    let containerId: string;
    try {
      containerId = await runtime.create({
        name: `moat-${name}-${id.slice(4, 10)}`,
        hostname: name,
        image: image.tag,
        cmd: spec.command,
        entrypoint: initEntrypoint({
          uid: owner.uid,
          gid: owner.gid,
          ...(Number.isInteger(port) && port > 0 ? { proxyPort: port } : {}),
          ...(spec.ports ? { servicePorts: Object.values(spec.ports) } : {}),
        }),
        env: privilegedEnv(),
        workingDir: '/workspace',
        labels: { [LABEL_MANAGED]: 'true', [LABEL_RUN_ID]: id, [LABEL_HOME]: home.root, [LABEL_NAME]: name },
        mounts,
        tty: spec.interactive,
        openStdin: spec.interactive || (!spec.detach && !process.stdin.isTTY),
        network: 'none',
        capAdd: INIT_CAPS,
        ...(spec.memoryBytes ? { memoryBytes: spec.memoryBytes } : {}),
        ...(spec.nanoCpus ? { nanoCpus: spec.nanoCpus } : {}),
        pidsLimit: spec.pidsLimit,
        logLimitBytes: spec.logLimitBytes ?? DEFAULT_LOG_LIMIT,
        ...(sandbox.engineRuntime ? { runtime: sandbox.engineRuntime } : {}),
      });
    } catch (err) {
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
      logLimit: spec.logLimitBytes ?? DEFAULT_LOG_LIMIT,
      ...(spec.traceBodies ? { traceBodies: true } : {}),
      ...(extras.sshAgentSocket ? { sshAgentSocket: extras.sshAgentSocket } : {}),
      ...(spec.agent ? { agent: spec.agent } : {}),
      sandbox: sandbox.sandbox,
      ...(spec.ports ? { ports: spec.ports } : {}),
      state: 'created',
      containerId,
      writable: [...new Set(mounts.filter((m) => !m.readOnly).map((m) => m.source))],
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
    return { meta, containerId };
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
  await runtime.remove(l.containerId, true).catch(() => undefined);
  await new RunStore(home).remove(l.meta.id).catch(() => undefined);
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
