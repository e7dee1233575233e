import { availableParallelism } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import type { AttachedStreams, BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, ContainerStatus, ImageInfo, LogLine } from '../types.js';
import type { EngineRuntimeInfo } from '../sandbox.js';
import { MoatError } from '../../errors.js';
import { dockerError, statusCode } from './errors.js';
import { EngineApi, FrameReader, demux } from './engine-api.js';
import { FrameLines, RawLines, normaliseTs } from './log-stream.js';
import { buildImage } from './build.js';
import { BuildStream } from './build-stream.js';
import { engineFromVersion, type EngineName } from '../engine.js';
import { buildOnPodman } from './podman-build.js';

function labelFilter(labels: Record<string, string>): string {
  return JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
}
const c = (id: string): string => `/containers/${encodeURIComponent(id)}`;

interface InspectJson {
  Id: string;
  Name: string;
  Config: { Image: string; Labels?: Record<string, string> | null; Tty: boolean };
  State: { Status: string; ExitCode: number; StartedAt?: string; FinishedAt?: string };
}

/**
 * Docker Engine, or Podman through its Docker-compatible API, over HTTP; honours DOCKER_HOST, and
 * `expectedEngine` (the global config's `engine:`, see engine.ts). What Podman does differently is in
 * podman-*.ts, chosen by the engine that answers.
 */
export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker';
  private readonly api: EngineApi;

  constructor(env: NodeJS.ProcessEnv = process.env, expectedEngine?: () => Promise<EngineName | undefined>) {
    this.api = new EngineApi(env, expectedEngine);
  }

  /** The engine that answers: Docker or Podman. */
  engine(): Promise<EngineName> {
    return this.api.engine();
  }

  /** A request whose failure becomes one sentence naming what moat was doing. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw dockerError(err, what, this.api.address, this.api.knownEngine);
    }
  }

  /** The same, where the listed status codes mean "nothing to do" (a 404 for what is already gone). */
  private async unless<T>(codes: number[], what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const code = statusCode(err);
      if (code !== undefined && codes.includes(code)) return undefined;
      throw dockerError(err, what, this.api.address, this.api.knownEngine);
    }
  }

  /** The engine as DOCKER_HOST names it. */
  get address(): string {
    return this.api.address;
  }

  /**
   * The engine's own events (`type: daemon`: a reload of its configuration, which may change its runtimes),
   * as a stream of JSON lines that ends when the engine goes away.
   */
  async engineEvents(): Promise<Readable> {
    return this.call('stream its events', () => this.api.stream('GET', '/events', { query: { filters: JSON.stringify({ type: ['daemon'] }) } }));
  }

  async ping(): Promise<void> {
    await this.call('answer a ping', () => this.api.ping(5000));
  }

  async version() {
    const v = await this.call('report its version', () =>
      this.api.json<{ Version: string; ApiVersion: string; Os: string; Arch: string; Components?: Array<{ Name?: string; Version?: string }> | null }>(
        'GET',
        '/version',
      ),
    );
    const product = engineFromVersion(v);
    return { engine: product.version, api: v.ApiVersion, os: v.Os, arch: v.Arch, product: product.engine };
  }

  async runtimes() {
    // Podman's GET /info runs its helper programs on every call (measured on 4.3.1 under load: 3 to 8 s
    // alone, 15 s each for five at once), and a run on Podman never uses the runtime list (gVisor is
    // Docker-only, see chooseSandbox). Its service on this machine's socket has this machine's CPUs.
    if (this.api.local && (await this.call('answer a ping', () => this.api.engine())) === 'podman') {
      return { defaultRuntime: 'runc', runtimes: {}, address: this.api.address, engine: 'podman' as const, cpus: availableParallelism() };
    }
    const i = await this.call('list its runtimes', () =>
      this.api.json<{ DefaultRuntime?: string; Runtimes?: Record<string, EngineRuntimeInfo> | null; NCPU?: number }>('GET', '/info'),
    );
    const cpus = typeof i.NCPU === 'number' && Number.isInteger(i.NCPU) && i.NCPU > 0 ? i.NCPU : undefined;
    return {
      defaultRuntime: i.DefaultRuntime ?? 'runc',
      runtimes: i.Runtimes ?? {},
      address: this.api.address,
      engine: await this.api.engine(),
      ...(cpus ? { cpus } : {}),
    };
  }

  async create(spec: ContainerSpec): Promise<string> {
    const r = await this.call('create the container', () =>
      this.api.json<{ Id: string }>('POST', '/containers/create', {
        ...(spec.name ? { query: { name: spec.name } } : {}),
        body: {
          ...(spec.hostname ? { Hostname: spec.hostname } : {}),
          Image: spec.image,
          Cmd: spec.cmd,
          ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
          Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
          ...(spec.user ? { User: spec.user } : {}),
          WorkingDir: spec.workingDir,
          Labels: spec.labels,
          Tty: spec.tty,
          OpenStdin: spec.openStdin,
          StdinOnce: spec.openStdin,
          AttachStdin: spec.openStdin,
          AttachStdout: true,
          AttachStderr: true,
          HostConfig: {
            NetworkMode: spec.network,
            ...(spec.runtime ? { Runtime: spec.runtime } : {}),
            Init: true,
            Binds: spec.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`),
            CapDrop: ['ALL'],
            CapAdd: spec.capAdd,
            SecurityOpt: ['no-new-privileges'],
            ...(spec.readOnlyRootfs ? { ReadonlyRootfs: true } : {}),
            ...(spec.memoryBytes ? { Memory: spec.memoryBytes } : {}),
            ...(spec.nanoCpus ? { NanoCpus: spec.nanoCpus } : {}),
            PidsLimit: spec.pidsLimit,
            LogConfig: engineLogConfig(spec.logLimitBytes),
          },
        },
      }),
    );
    return r.Id;
  }

  async attach(id: string, tty: boolean): Promise<AttachedStreams> {
    const stream = await this.call('attach to the container', () =>
      this.api.upgrade(`${c(id)}/attach`, {
        stream: 1,
        stdin: 1,
        stdout: 1,
        stderr: 1,
      }),
    );
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (tty) {
      stream.pipe(stdout);
    } else {
      demux(stream, (s, data) => (s === 'stderr' ? stderr : stdout).write(data));
      stream.on('end', () => stdout.end());
    }
    stream.on('end', () => stderr.end());
    stream.on('close', () => {
      stdout.end();
      stderr.end();
    });
    stream.on('error', () => {
      stdout.end();
      stderr.end();
    });
    return { stream, stdout, stderr };
  }

  async start(id: string): Promise<void> {
    await this.unless([304], 'start the container', () => this.api.call('POST', `${c(id)}/start`));
  }

  async wait(id: string, condition: 'not-running' | 'next-exit' = 'not-running'): Promise<number> {
    const r = await this.call('wait for the container', () => this.api.json<{ StatusCode: number }>('POST', `${c(id)}/wait`, { query: { condition } }));
    return r.StatusCode;
  }

  async stop(id: string, timeoutSeconds = 10): Promise<void> {
    await this.unless([304, 404], 'stop the container', () => this.api.call('POST', `${c(id)}/stop`, { query: { t: timeoutSeconds } }));
  }

  async kill(id: string, signal = 'SIGKILL'): Promise<void> {
    await this.unless([404, 409], 'signal the container', () => this.api.call('POST', `${c(id)}/kill`, { query: { signal } }));
  }

  async remove(id: string, force = false): Promise<void> {
    try {
      await this.api.call('DELETE', c(id), { query: { force, v: true } });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return;
      // 409 is also "cannot remove a running container": only a removal already under way is done.
      if (code === 409 && (await this.removalUnderWay(id))) return;
      throw dockerError(err, 'remove the container', this.api.address, this.api.knownEngine);
    }
  }

  /** The container is gone or the engine is removing it (told by its state, not by the text of an answer). */
  private async removalUnderWay(id: string): Promise<boolean> {
    try {
      const j = await this.api.json<InspectJson>('GET', `${c(id)}/json`);
      return j.State.Status === 'removing';
    } catch (err) {
      return statusCode(err) === 404;
    }
  }

  async resize(id: string, rows: number, cols: number): Promise<void> {
    if (rows <= 0 || cols <= 0) return;
    await this.api.call('POST', `${c(id)}/resize`, { query: { h: rows, w: cols } }).catch(() => undefined);
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const j = await this.unless([404], 'inspect the container', () => this.api.json<InspectJson>('GET', `${c(id)}/json`));
    if (!j) return undefined;
    return {
      id: j.Id,
      name: j.Name.replace(/^\//, ''),
      image: j.Config.Image,
      labels: j.Config.Labels ?? {},
      status: j.State.Status as ContainerStatus,
      exitCode: j.State.ExitCode,
      ...(j.State.FinishedAt ? { finishedAt: j.State.FinishedAt } : {}),
      tty: j.Config.Tty,
    };
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const cs = await this.call('list containers', () =>
      this.api.json<
        Array<{
          Id: string;
          Names: string[];
          Image: string;
          Labels: Record<string, string> | null;
          State: string;
          Status: string;
        }>
      >('GET', '/containers/json', { query: { all: true, filters: labelFilter(labels) } }),
    );
    return cs.map((x) => ({
      id: x.Id,
      name: (x.Names[0] ?? '').replace(/^\//, ''),
      image: x.Image,
      labels: x.Labels ?? {},
      status: x.State as ContainerStatus,
      exitCode: Number(/Exited \((\d+)\)/.exec(x.Status)?.[1] ?? 0),
      tty: false,
    }));
  }

  async logs(id: string, opts: { follow: boolean; since?: number; tty: boolean }, onLine: (l: LogLine) => void | Promise<void>): Promise<void> {
    const raw = await this.call('read the logs', () =>
      this.api.stream('GET', `${c(id)}/logs`, {
        query: { stdout: 1, stderr: 1, timestamps: 1, follow: opts.follow ? 1 : 0, ...(opts.since ? { since: opts.since } : {}) },
      }),
    );
    await readLogLines(raw, opts.tty, onLine);
  }

  async build(req: BuildRequest): Promise<void> {
    try {
      const podman = (await this.call('answer a ping', () => this.api.engine())) === 'podman';
      const id = await this.call('build the image', () => (podman ? buildOnPodman(this, this.api, req) : buildImage(this.api, req)));
      // The classic builder names the image it made last (aux.ID); an engine that does not must still have the tag.
      if (id === undefined && !(await this.inspectImage(req.tag))) {
        throw dockerError(new Error(`the build ended without an image tagged ${req.tag}`), 'build the image', this.api.address, this.api.knownEngine);
      }
    } catch (err) {
      // The engine ran the build and it failed (a step, the Dockerfile): a build failure, not an engine one.
      if (err instanceof MoatError && err.code === 'E_ENGINE') throw new MoatError(err.message, { code: 'E_BUILD', exitCode: err.exitCode, cause: err.cause });
      throw err;
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.inspectImage(ref)) !== undefined;
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    const i = await this.unless([404], 'inspect the image', () =>
      this.api.json<{
        Id: string;
        RepoTags?: string[] | null;
        Config?: { Labels?: Record<string, string> | null; Env?: string[] | null; OnBuild?: string[] | null } | null;
        Size: number;
        Created: string;
      }>('GET', `/images/${encodeURIComponent(ref)}/json`),
    );
    if (!i) return undefined;
    return {
      id: i.Id,
      tags: i.RepoTags ?? [],
      labels: i.Config?.Labels ?? {},
      size: i.Size,
      env: i.Config?.Env ?? [],
      onBuild: i.Config?.OnBuild ?? [],
    };
  }

  async listImages(labels: Record<string, string>): Promise<ImageInfo[]> {
    const is = await this.call('list images', () =>
      this.api.json<
        Array<{
          Id: string;
          RepoTags: string[] | null;
          Labels: Record<string, string> | null;
          Size: number;
          Created: number;
        }>
      >('GET', '/images/json', { query: { filters: labelFilter(labels) } }),
    );
    return is.map((i) => ({ id: i.Id, tags: i.RepoTags ?? [], labels: i.Labels ?? {}, size: i.Size, env: [] }));
  }

  async pullImage(ref: string, onOutput: (line: string) => void): Promise<void> {
    const res = await this.call('pull the image', () => this.api.stream('POST', '/images/create', { query: { fromImage: ref } }));
    // The same progress stream as a build's: status lines without the download ticks, bounded in memory.
    const progress = new BuildStream(onOutput);
    for await (const chunk of res as AsyncIterable<Buffer>) progress.write(chunk);
    progress.end();
    if (progress.error)
      throw new MoatError(`Cannot pull the image ${ref}: ${progress.error.slice(0, 300)}`, {
        code: 'E_ENGINE',
        hint: `Check the name, or pull it yourself: docker pull ${ref}`,
      });
  }

  async removeImage(ref: string): Promise<void> {
    await this.unless([404], 'remove the image', () => this.api.call('DELETE', `/images/${encodeURIComponent(ref)}`));
  }
}

export { normaliseTs };

/**
 * The engine keeps its own log of the container, which moat's daemon follows: a json-file log of two
 * files of a quarter of the run's limit each, so it is never a third unbounded copy. At least 8 MiB each,
 * so a daemon briefly behind a fast writer does not lose lines the engine already rotated away.
 */
function engineLogConfig(limitBytes = 256 * 1024 ** 2): { Type: string; Config: Record<string, string> } {
  const kib = Math.max(8 * 1024, Math.ceil(limitBytes / 4 / 1024));
  return { Type: 'json-file', Config: { 'max-size': `${kib}k`, 'max-file': '2' } };
}

/**
 * Lines of a timestamped engine log stream, in one pass whatever the output's shape. When `onLine`
 * returns a promise (the consumer is busy writing), the stream pauses until it settles.
 */
export function readLogLines(src: Readable, tty: boolean, onLine: (l: LogLine) => void | Promise<void>): Promise<void> {
  let waits: Promise<void>[] = [];
  const collect = (l: LogLine): void => {
    const w = onLine(l);
    if (w) waits.push(w);
  };
  const lines = tty ? new RawLines(collect) : new FrameLines(collect);
  const frames = tty ? undefined : new FrameReader((s, data) => (lines as FrameLines).frame(s, data));
  src.on('data', (chunk: Buffer) => {
    if (frames) frames.write(chunk);
    else (lines as RawLines).write(chunk);
    if (waits.length === 0) return;
    const all = Promise.all(waits);
    waits = [];
    src.pause();
    void all.catch(() => undefined).then(() => src.resume());
  });
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      lines.finish();
      void Promise.all(waits)
        .catch(() => undefined)
        .then(() => resolve());
    };
    src.on('end', finish);
    src.on('close', finish);
    src.on('error', finish);
  });
}
