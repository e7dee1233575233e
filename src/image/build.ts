import { mkdtemp, rm, writeFile, mkdir, readdir, stat } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoatError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/types.js';
import { LABEL_HOME, LABEL_MANAGED } from '../runtime/types.js';
import { ASSETS, renderDockerfile, type ImageRecipe } from './dockerfile.js';
import { imageTag } from './tag.js';
import { buildHint, isEngineNoise, stepOwners } from './build-errors.js';
import { onBuildRefusal } from './build-onbuild.js';
import { cleanupOnSignal, type SignalHooks } from './build-signals.js';
import type { BuildGateway, BuildGatewayOptions } from './build-gateway.js';
import type { BuildRelay } from './build-relay.js';
import type { BuildTrace } from './build-trace.js';
import { sanitizeForTerminal } from '../term/sanitize.js';

// eslint-disable-next-line no-control-regex -- terminal escape sequences
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export interface BuildProgress {
  /** A new build step began ("Step 3/6 : RUN …"). */
  step(text: string, owner: string): void;
  line(text: string): void;
  done(ok: boolean): void;
}

export interface EnsureImageOptions {
  runtime: ContainerRuntime;
  recipe: ImageRecipe;
  homeRoot: string;
  buildsDir: string;
  /** The build's boundary (its gateway's policy and upstream); only asked for when a build happens. */
  network: () => Promise<BuildNetwork>;
  rebuild: boolean;
  /** Made only when a build actually happens. */
  progress: () => Promise<BuildProgress>;
  /** Test hook: the signals that take the build's boundary down before the CLI ends (default: the process). */
  signalHooks?: SignalHooks;
}

/**
 * Builds run inside the same boundary as runs: every step's only way out is a gateway with a strict
 * policy (the recipe's registries and downloads, plus build.allow_hosts), which records each request.
 */
export interface BuildNetwork {
  caDir: string;
  allowHosts: string[];
  upstream: BuildGatewayOptions['upstream'];
}

export interface ImageResult {
  tag: string;
  /** The engine's id of the image the tag names now (a --rebuild keeps the tag, not the id). */
  id?: string;
  built: boolean;
  /** The image's own environment (its `Env`), which a run's container starts from. */
  env: string[];
  logFile?: string;
  /** The build's requests, one canonical JSON line each (build-trace.ts). */
  traceFile?: string;
}

/** Build arguments every client in a step honours: the relay's proxy, and the gateway's CA to trust. */
function boundaryArgs(relay: BuildRelay, gateway: BuildGateway): Record<string, string> {
  const p = relay.proxyUrl;
  return { MOAT_BUILD_CA: gateway.caPem, http_proxy: p, https_proxy: p, HTTP_PROXY: p, HTTPS_PROXY: p, no_proxy: '', NO_PROXY: '' };
}

export function planImage(recipe: ImageRecipe): { tag: string; dockerfile: string } {
  const dockerfile = renderDockerfile(recipe);
  return { tag: imageTag(dockerfile, ASSETS), dockerfile };
}

/** Resolve the image for a recipe: reuse the content-addressed tag when present, build it otherwise. */
export async function ensureImage(opts: EnsureImageOptions): Promise<ImageResult> {
  const { tag, dockerfile } = planImage(opts.recipe);
  // One look serves both: the image is there, and its environment for the run's container.
  const cached = opts.rebuild ? undefined : await opts.runtime.inspectImage(tag);
  if (cached) return { tag, id: cached.id, built: false, env: cached.env };

  const network = await opts.network();
  const progress = await opts.progress();
  // Loaded only when a build happens (the gateway's TLS libraries are heavy for a cached start).
  const [{ startBuildGateway }, { startBuildRelay }, { BuildTrace }] = await Promise.all([
    import('./build-gateway.js'),
    import('./build-relay.js'),
    import('./build-trace.js'),
  ]);
  await mkdir(opts.buildsDir, { recursive: true, mode: 0o700 });
  // One log and trace per build, never shared: two builds of the same tag at once (two terminals) would
  // otherwise write into one file, and a run would take over the other build's requests as its own.
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const base = join(opts.buildsDir, `${tag.replace(/[:/]/g, '_')}.${stamp}-${process.pid}-${randomBytes(3).toString('hex')}`);
  await pruneOldBuildFiles(opts.buildsDir);
  const logFile = `${base}.log`;
  const log = createWriteStream(logFile, { mode: 0o600 });
  const trace = new BuildTrace(`${base}.network.jsonl`);
  const ctx = await mkdtemp(join(tmpdir(), 'moat-build-'));
  const owners = stepOwners(dockerfile);
  const tail: string[] = [];
  let currentStep = '';
  let currentOwner = 'base image';
  // Kept as promises: a signal while one is starting waits for it, to remove it too.
  let gatewayStart: Promise<BuildGateway> | undefined;
  let relayStart: Promise<BuildRelay> | undefined;
  let refusal: MoatError | undefined;
  let down: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (down ??= (async () => {
      await (await relayStart?.catch(() => undefined))?.stop();
      await (await gatewayStart?.catch(() => undefined))?.close();
      await rm(ctx, { recursive: true, force: true });
    })());
  // Ctrl-C mid-build: the relay (the base image's code) and the gateway's directory go before the CLI does.
  const unlisten = cleanupOnSignal(teardown, opts.signalHooks);
  try {
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(ASSETS)) await writeFile(join(ctx, name), content, { mode: 0o755 });
    // The relay runs from the base image, so it must be here before the build (which would pull it).
    if (!(await opts.runtime.imageExists(opts.recipe.baseImage))) {
      progress.line(`pulling ${opts.recipe.baseImage}`);
      refusal = await pullBase(opts.runtime, opts.recipe.baseImage, (l) => log.write(`${l}\n`));
      if (refusal) throw refusal;
    }
    // ONBUILD ADD <url> and COPY --from are fetched by the engine on the host's network, past the relay.
    refusal = onBuildRefusal(opts.recipe.baseImage, (await opts.runtime.inspectImage(opts.recipe.baseImage))?.onBuild ?? []);
    if (refusal) throw refusal;
    gatewayStart = startBuildGateway({
      caDir: network.caDir,
      parentDir: opts.buildsDir,
      allowHosts: network.allowHosts,
      upstream: network.upstream,
      onEvent: (ev) => {
        const line = trace.record(ev);
        if (line === undefined) return;
        log.write(`${line}\n`);
        if (ev.type === 'request' && ev.blocked) progress.line(line);
      },
    });
    const gateway = await gatewayStart;
    if (down) throw new MoatError('The image build was interrupted.', { code: 'E_BUILD', exitCode: 130 });
    relayStart = startBuildRelay({ runtime: opts.runtime, image: opts.recipe.baseImage, socketDir: gateway.socketDir, homeRoot: opts.homeRoot });
    const relay = await relayStart;
    await opts.runtime.build({
      contextDir: ctx,
      files: ['Dockerfile', ...Object.keys(ASSETS)],
      tag,
      labels: { [LABEL_MANAGED]: 'true', [LABEL_HOME]: opts.homeRoot },
      buildArgs: boundaryArgs(relay, gateway),
      noCache: opts.rebuild,
      networkMode: relay.networkMode,
      onOutput: (raw) => {
        // The engine colours a step's stderr; the log and the terminal get plain text.
        const line = raw.replace(ANSI, '');
        log.write(`${line}\n`);
        const step = /^Step (\d+)\/\d+ : (.*)$/.exec(line);
        if (step) {
          currentStep = line;
          currentOwner = owners[Number(step[1]) - 1] ?? currentOwner;
          tail.length = 0;
          progress.step(line, currentOwner);
        } else if (!isEngineNoise(line)) {
          tail.push(line);
          if (tail.length > 40) tail.shift();
          progress.line(line);
        }
      },
    });
    progress.done(true);
    const made = await opts.runtime.inspectImage(tag);
    return { tag, ...(made ? { id: made.id } : {}), built: true, env: made?.env ?? [], logFile, traceFile: trace.file };
  } catch (err) {
    progress.done(false);
    if (err === refusal) throw err;
    // An engine that is away or refuses a request outside the build itself: not a build failure (the
    // build's own failures are E_BUILD, told by the runtime).
    if (err instanceof MoatError && (err.code === 'E_ENGINE' || err.code === 'E_ENGINE_UNREACHABLE')) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    tail.push(detail);
    log.write(`${detail}\n`);
    const last = tail
      .slice(-12)
      .map((l) => `  | ${l}`)
      .join('\n');
    throw new MoatError(`The image build failed at ${currentStep ? `"${currentStep.slice(0, 100)}"` : 'its first step'} (${currentOwner}).\n${last}`, {
      code: 'E_BUILD',
      hint: `${refusedHint(trace) ?? buildHint(tail.join('\n'))} Full log: ${logFile}`,
      exitCode: 1,
    });
  } finally {
    unlisten();
    await teardown();
    await trace.close();
    await new Promise<void>((r) => log.end(r));
  }
}

/** When the build was refused hosts, that is the likely cause: name them and the setting that allows them. */
function refusedHint(trace: BuildTrace): string | undefined {
  const hosts = [...trace.refused.keys()].sort().map((h) => sanitizeForTerminal(h.slice(0, 100)));
  if (hosts.length === 0) return undefined;
  const shown = hosts.slice(0, 5).join(', ') + (hosts.length > 5 ? ` and ${hosts.length - 5} more` : '');
  return `The build was refused ${shown} (image builds reach only their registries). If the recipe needs them, add them to build.allow_hosts in ~/.moat/config.yaml.`;
}

/** Pull the base image; a failure is the build's first step failing, said as such (undefined: pulled). */
async function pullBase(runtime: ContainerRuntime, ref: string, log: (l: string) => void): Promise<MoatError | undefined> {
  try {
    await runtime.pullImage(ref, log);
    return undefined;
  } catch (err) {
    // The engine's own words (the client already took them out of its JSON answer).
    const detail = err instanceof Error ? err.message : String(err);
    log(detail);
    return new MoatError(
      `The image build failed at "FROM ${ref}" (base image): the image is not on this machine and cannot be pulled (${sanitizeForTerminal(detail.slice(0, 300))}).`,
      {
        code: 'E_BUILD',
        hint: `Check base_image in moat.yaml, or pull the image first: docker pull ${ref}`,
        exitCode: 1,
      },
    );
  }
}

/** Build logs and traces older than this are removed when a later build starts. */
const BUILD_FILES_KEPT_MS = 30 * 24 * 3600_000;

/** Each build writes its own files, so old ones are pruned by age (a build in progress is never that old). */
async function pruneOldBuildFiles(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.log') && !name.endsWith('.network.jsonl')) continue;
    const file = join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (st?.isFile() && now - st.mtimeMs > BUILD_FILES_KEPT_MS) await rm(file, { force: true });
  }
}
