import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MoatHome } from '../home/paths.js';
import type { ContainerRuntime } from '../runtime/types.js';
import { ensureImage, type BuildNetwork, type BuildProgress } from '../image/build.js';
import { upstreamOptions } from '../daemon/upstream-options.js';
import { loadGlobalConfig } from '../config/load.js';
import { claimSpare, daemonState, ensureDaemon, goSpare, watchRun } from '../daemon/client.js';
import { BUILD } from '../version.js';
import { createRun, discardContainer, discardRun, markRunning, markStopped, spareEligible, stopContainer, type SpareClaims } from './launch.js';
import { runAttached, type SessionEnd, type SessionIO } from './session.js';
import { finishDespiteInterrupt } from './interrupts.js';
import { containerExtras } from './gateway-extras.js';
import { checkConfigTrust } from './config-trust.js';
import { assertSourcesUnchanged } from '../container/sources.js';
import { changedHostExecutables, hostExecutablesWarning, hostFolderWarning, snapshotFolder, snapshotHostExecutables } from './host-executables.js';
import { checkSensitiveWorkspace } from './sensitive-workspace.js';
import { setIdReport, type SetIdSweep } from '../daemon/setid-sweep.js';
import { RunStore } from '../store/store.js';
import { BUILD_NETWORK_FILE } from '../image/build-trace.js';
import { mark } from '../timing.js';
import { networkReport } from './network-report.js';
import { chooseRunSandbox, engineFacts } from './sandbox-choice.js';
import { checkCpuLimit } from './cpu-limit.js';
import type { RunSpec } from './spec.js';
import type { RunMetadata } from '../store/types.js';
import { changeLine, processStartNs, recordPreSnapshot, startPreSnapshot } from './snapshots.js';
import { moatCacheRoot } from '../cache-dir.js';

export interface ExecuteDeps {
  home: MoatHome;
  runtime: ContainerRuntime;
  env: NodeJS.ProcessEnv;
  io: SessionIO;
  progress: () => Promise<BuildProgress>;
  warn: (msg: string) => void;
  /** A note that is not a warning (what the start waits for); absent: not said. */
  info?: (msg: string) => void;
  /** Asks the user a yes/no question; absent when there is no terminal to ask. */
  confirm?: (question: string, details: string) => Promise<boolean>;
  /** Called once the container is ready, just before an attached run starts (and takes the terminal). */
  beforeStart?: (meta: RunMetadata, image: { built: boolean }) => void;
}

/** `changes`: the line an attached run ends with (what it changed in the workspace: moat diff / moat rollback). */
export type ExecuteResult = { meta: RunMetadata; end: SessionEnd | { kind: 'started' }; changes?: string };

/**
 * One run, start to end: image → container + record → daemon watch → attach → start → wait.
 * Anything failing before the start leaves nothing behind.
 */
export async function executeRun(deps: ExecuteDeps, spec: RunSpec): Promise<ExecuteResult> {
  const { home, runtime } = deps;
  // A workspace holding keys or moat's own state is refused before anything else (sensitive-workspace.ts).
  spec.hiddenPaths = await checkSensitiveWorkspace({
    workspace: spec.workspace,
    moatHome: home.root,
    allow: spec.allowSensitiveWorkspace ?? false,
    cacheRoot: moatCacheRoot(deps.env),
    ...(deps.env.HOME ? { userHome: deps.env.HOME } : {}),
  });
  // Before anything starts: moat.yaml's host-reaching settings are the ones approved for this workspace.
  // A walk the daemon began before a question was answered would miss what the user changed meanwhile:
  // after one, only a walk begun from now on is the pre-run snapshot.
  let asked = false;
  const confirm = deps.confirm;
  if (spec.configGuard) {
    await checkConfigTrust(home, spec.workspace, spec.configGuard, {
      approve: spec.approveConfig ?? false,
      ...(confirm ? { confirm: (q: string, d: string) => ((asked = true), confirm(q, d)) } : {}),
    });
  }
  // One look at the daemon serves all three: it is up (the usual case), it knows the engine's runtimes,
  // and it takes the pre-run snapshot.
  const look = daemonState(home);
  // The engine's ping (is it there at all?) is asked now and awaited below, after the local preparations.
  const pinged = runtime.ping();
  pinged.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  // The pre-run snapshot is taken while the engine, image and daemon get ready (recorded before the start).
  const preSnapshot = startPreSnapshot(
    home,
    spec.workspace,
    spec.snapshots,
    look.then((s) => s.kind === 'up' && s.health.version === BUILD),
    asked ? process.hrtime.bigint() : processStartNs(),
  );
  const daemon = ensureDaemon(home, deps.env, undefined, look);
  daemon.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  // The engine's runtimes: the daemon's list of this engine, else GET /info (tens of ms) meanwhile; an
  // unreachable engine is said by the ping below first. An explicit gVisor the engine cannot give fails
  // the run before any build.
  const known = look.then((s) => (s.kind === 'up' && s.health.version === BUILD ? s.health.engine : undefined));
  const facts = engineFacts(runtime, known);
  const sandboxChoice = facts.then((f) => chooseRunSandbox(home, f, spec.sandbox, deps.warn));
  sandboxChoice.catch(() => undefined); // awaited below
  // What host tools would execute from the workspace, to name what the run changed (attached runs).
  const executables = spec.detach ? undefined : await snapshotHostExecutables(spec.workspace);
  const folders = spec.detach ? [] : await Promise.all((spec.hostReadFolders ?? []).map(async (f) => ({ ...f, before: await snapshotFolder(f.dir) })));
  mark('prepared');
  await pinged;
  mark('engine ping');
  const sandbox = await sandboxChoice;
  await checkCpuLimit(spec.nanoCpus, spec.cpusSource, (await facts).cpus);
  const extras = await containerExtras(home, spec, deps.env, deps.warn);
  mark('grants and gateway env');
  const buildNetwork = async (): Promise<BuildNetwork> => {
    const global = await loadGlobalConfig(home.globalConfig);
    // Only a build reads the host's CAs (node:tls, loaded here rather than at every start).
    const { hostExtraCAs } = await import('../image/host-ca.js');
    const extraCAs = await hostExtraCAs({ env: deps.env, configured: global.build?.ca_certs });
    return {
      caDir: home.caDir,
      allowHosts: [...spec.imageHosts, ...(global.build?.allow_hosts ?? [])],
      upstream: upstreamOptions(deps.env, global, extraCAs),
    };
  };
  const image = await ensureImage({
    runtime,
    recipe: { baseImage: spec.baseImage, extra: spec.imageExtra },
    homeRoot: home.root,
    buildsDir: home.buildsDir,
    network: buildNetwork,
    rebuild: spec.rebuild,
    progress: deps.progress,
  });

  mark('image');
  await daemon;
  // A long first build can outlast the daemon's idle time: make sure it still runs (a cheap health check).
  if (image.built) await ensureDaemon(home, deps.env);
  mark('daemon');
  // A container the daemon started ahead for a run like this one (daemon/spares.ts) is taken when it has one.
  const spares: SpareClaims | undefined = spareEligible(spec, deps.env)
    ? {
        claim: (key) => claimSpare(home, key),
        discard: (s) => discardContainer(home, runtime, s.id, s.containerId),
      }
    : undefined;
  const launched = await createRun(home, runtime, spec, { tag: image.tag, ...(image.id ? { id: image.id } : {}), env: image.env }, extras, sandbox, spares);
  const { meta, containerId } = launched;
  mark('container created');
  if (image.logFile) await copyFile(image.logFile, join(home.runDir(meta.id), 'build.log')).catch(() => undefined);
  // The build's requests join the run's trace and audit when the daemon takes the run over (below).
  if (image.traceFile) await copyFile(image.traceFile, join(home.runDir(meta.id), BUILD_NETWORK_FILE)).catch(() => undefined);

  let streams;
  try {
    // Encrypted, beside the run (outside its mounts): the daemon substitutes them (run-file.ts).
    // Attached (before the start, so no output is lost) while the daemon takes the run over.
    const attaching = spec.detach ? Promise.resolve(undefined) : runtime.attach(containerId, spec.interactive);
    const registering = (async () => {
      if (extras.secrets) await (await import('../credentials/secrets/run-file.js')).writeRunSecrets(home, meta.id, extras.secrets, deps.env);
      // The daemon audits the pre-run snapshot when it takes the run over: recorded first.
      await recordPreSnapshot(home, meta.id, spec.snapshots, preSnapshot, deps.warn, deps.info ? { say: deps.info } : undefined);
      mark('pre-run snapshot');
      // The daemon takes the run over before it starts: its gateway must listen before the first request.
      await watchRun(home, meta.id, deps.env);
      mark('gateway registered');
    })();
    const [attached, registered] = await Promise.allSettled([attaching, registering]);
    if (registered.status === 'rejected') {
      if (attached.status === 'fulfilled') attached.value?.stream.destroy();
      throw registered.reason;
    }
    if (attached.status === 'rejected') throw attached.reason;
    streams = attached.value;
  } catch (err) {
    await discardRun(home, runtime, launched);
    throw err;
  }
  let bookkeeping: Promise<void> = Promise.resolve();
  const start = async (): Promise<void> => {
    try {
      // The engine mounts at start: the approved real paths must still be real (no link swapped in since).
      await assertSourcesUnchanged(spec.realSources ?? []);
      // A claimed spare was started (and mounted) before: its plan's key holds what each source was then.
      if (launched.spare) await goSpare(home, meta.id);
      else await runtime.start(containerId);
      mark('started');
    } catch (err) {
      await discardRun(home, runtime, launched);
      throw err;
    }
    bookkeeping = markRunning(home, meta.id);
    if (spec.detach) await bookkeeping;
  };

  if (!streams) {
    await start();
    return { meta, end: { kind: 'started' } };
  }
  deps.beforeStart?.(meta, { built: image.built });
  // What the network refuses, live (not over a full-screen run), and one summary at the end.
  const network = networkReport(home, meta.id, { live: !spec.interactive, stderr: deps.io.stderr, env: deps.env });
  let end: SessionEnd;
  try {
    end = await runAttached({
      runtime,
      containerId,
      streams,
      tty: spec.interactive,
      ...(launched.spare ? { sizeFirst: true } : {}),
      forwardStdin: !spec.interactive && !deps.io.stdin.isTTY,
      io: deps.io,
      start,
      onStop: () => stopContainer(runtime, containerId, spec.interactive),
    });
  } catch (err) {
    await network.stop();
    throw err;
  }
  // A Ctrl-C meant for the agent that lands after it quit must not drop the warnings below (from the
  // moment the session hands the terminal back).
  const releaseInterrupt =
    end.kind === 'exited'
      ? finishDespiteInterrupt(() => deps.warn('The run has ended; moat is finishing its checks. Press Ctrl-C again to skip them.'))
      : () => undefined;
  try {
    await network.stop();
    await bookkeeping;
    mark('exited');
    if (end.kind !== 'exited') return { meta, end };
    // The end's checks look at different things (the record, the workspace, the daemon's sweep and
    // snapshot): all at once, said in this order.
    const exitCode = end.exitCode;
    const [, executablesWarning, setId, folderWarnings, changes] = await Promise.all([
      markStopped(home, meta.id, exitCode),
      executables ? snapshotHostExecutables(spec.workspace).then((after) => hostExecutablesWarning(changedHostExecutables(executables, after))) : undefined,
      sweptSetId(home, meta.id).then(setIdReport),
      Promise.all(folders.map(async (f) => hostFolderWarning(f.label, changedHostExecutables(f.before, await snapshotFolder(f.dir))))),
      spec.snapshots ? changeLine(home, meta.id, meta.name).catch(() => undefined) : undefined,
    ]);
    mark('end checks');
    network.summarize();
    for (const warning of [executablesWarning, setId, ...folderWarnings]) if (warning) deps.warn(warning);
    return changes ? { meta, end, changes } : { meta, end };
  } finally {
    releaseInterrupt();
  }
}

/** What the daemon's set-id sweep found when the run ended (it sweeps right after the exit; bounded wait). */
async function sweptSetId(home: MoatHome, id: string, timeoutMs = 15_000): Promise<SetIdSweep> {
  const store = new RunStore(home);
  const started = Date.now();
  for (;;) {
    const sweep = (await store.read(id))?.setIdSweep;
    const waited = Date.now() - started;
    if (sweep || waited > timeoutMs) return sweep ?? { stripped: [], remaining: [], truncated: false };
    // Usually there within tens of ms of the exit: looked for often at first (a small file read), then less.
    await sleep(waited < 300 ? 5 : waited < 2_000 ? 20 : 200);
  }
}
