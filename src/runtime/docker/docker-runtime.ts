import Docker from 'dockerode';
import { PassThrough, type Readable, type Duplex } from 'node:stream';
import type {
  AttachedStreams, BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, ContainerStatus, ImageInfo, LogLine, NetworkInfo,
} from '../types.js';
import { dockerError, statusCode } from './errors.js';

function labelFilter(labels: Record<string, string>): string {
  return JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
}

/** The Docker Engine API through dockerode; honours DOCKER_HOST (dockerode reads it). */
export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker';
  private readonly docker: Docker;

  constructor(docker?: Docker) {
    this.docker = docker ?? new Docker();
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw dockerError(err, what);
    }
  }

  async ping(): Promise<void> {
    await this.call('answer a ping', () => this.docker.ping());
  }

  async version() {
    const v = await this.call('report its version', () => this.docker.version());
    return { engine: v.Version, api: v.ApiVersion, os: v.Os, arch: v.Arch };
  }

  async create(spec: ContainerSpec): Promise<string> {
    const c = await this.call('create the container', () => this.docker.createContainer({
      ...(spec.name ? { name: spec.name } : {}),
      Image: spec.image,
      Cmd: spec.cmd,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
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
        Init: true,
        Binds: spec.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`),
        CapDrop: ['ALL'],
        CapAdd: spec.capAdd,
        SecurityOpt: ['no-new-privileges'],
        ...(spec.memoryBytes ? { Memory: spec.memoryBytes } : {}),
        ...(spec.nanoCpus ? { NanoCpus: spec.nanoCpus } : {}),
      },
    }));
    return c.id;
  }

  async attach(id: string, tty: boolean): Promise<AttachedStreams> {
    const stream = (await this.call('attach to the container', () => this.docker.getContainer(id).attach({
      stream: true, stdin: true, stdout: true, stderr: true, hijack: true,
    }))) as unknown as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (tty) {
      stream.pipe(stdout);
      stream.on('end', () => stderr.end());
    } else {
      this.docker.modem.demuxStream(stream, stdout, stderr);
      stream.on('end', () => { stdout.end(); stderr.end(); });
    }
    return { stream, stdout, stderr };
  }

  async start(id: string): Promise<void> {
    await this.call('start the container', () => this.docker.getContainer(id).start());
  }

  async wait(id: string, condition: 'not-running' | 'next-exit' = 'not-running'): Promise<number> {
    const r = (await this.call('wait for the container', () => this.docker.getContainer(id).wait({ condition }))) as { StatusCode: number };
    return r.StatusCode;
  }

  async stop(id: string, timeoutSeconds = 10): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutSeconds });
    } catch (err) {
      const code = statusCode(err);
      if (code === 304 || code === 404) return; // already stopped or gone
      throw dockerError(err, 'stop the container');
    }
  }

  async kill(id: string, signal = 'SIGKILL'): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404 || code === 409) return;
      throw dockerError(err, 'signal the container');
    }
  }

  async remove(id: string, force = false): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force, v: true });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return;
      if (code === 409 && /already in progress/.test(String((err as Error).message))) return;
      throw dockerError(err, 'remove the container');
    }
  }

  async resize(id: string, rows: number, cols: number): Promise<void> {
    if (rows <= 0 || cols <= 0) return;
    try {
      await this.docker.getContainer(id).resize({ h: rows, w: cols });
    } catch {
      // The container may have exited between the signal and the call; nothing to resize then.
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const c = await this.docker.getContainer(id).inspect();
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        image: c.Config.Image,
        labels: c.Config.Labels ?? {},
        status: c.State.Status as ContainerStatus,
        exitCode: c.State.ExitCode,
        startedAt: c.State.StartedAt,
        finishedAt: c.State.FinishedAt,
        tty: c.Config.Tty,
      };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw dockerError(err, 'inspect the container');
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const cs = await this.call('list containers', () => this.docker.listContainers({ all: true, filters: labelFilter(labels) }));
    return cs.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      image: c.Image,
      labels: c.Labels ?? {},
      status: c.State as ContainerStatus,
      exitCode: Number(/Exited \((\d+)\)/.exec(c.Status)?.[1] ?? 0),
      tty: false,
    }));
  }

  async logs(id: string, opts: { follow: boolean; since?: number; tty: boolean }, onLine: (l: LogLine) => void): Promise<void> {
    const base = { stdout: true, stderr: true, timestamps: true, ...(opts.since ? { since: opts.since } : {}) };
    const c = this.docker.getContainer(id);
    const raw = opts.follow
      ? ((await this.call('read the logs', () => c.logs({ ...base, follow: true }))) as unknown as Readable)
      : bufferStream((await this.call('read the logs', () => c.logs({ ...base, follow: false }))) as unknown as Buffer);
    const done = new Promise<void>((resolve) => { raw.on('end', resolve); raw.on('close', resolve); raw.on('error', () => resolve()); });
    if (opts.tty) {
      lineSplitter(raw, 'stdout', onLine);
    } else {
      const out = new PassThrough();
      const err = new PassThrough();
      lineSplitter(out, 'stdout', onLine);
      lineSplitter(err, 'stderr', onLine);
      this.docker.modem.demuxStream(raw, out, err);
    }
    await done;
  }

  async exec(id: string, cmd: string[], opts: { user?: string } = {}): Promise<{ exitCode: number; output: string }> {
    const ex = await this.call('exec in the container', () => this.docker.getContainer(id).exec({
      Cmd: cmd, AttachStdout: true, AttachStderr: true, ...(opts.user ? { User: opts.user } : {}),
    }));
    const stream = await this.call('exec in the container', () => ex.start({ hijack: true, stdin: false }));
    const chunks: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => chunks.push(c));
    this.docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve) => stream.on('end', resolve));
    const info = await ex.inspect();
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
  }

  async build(req: BuildRequest): Promise<void> {
    const stream = await this.call('build the image', () => this.docker.buildImage(
      { context: req.contextDir, src: req.files },
      { t: req.tag, labels: req.labels, buildargs: req.buildArgs, nocache: req.noCache ?? false, rm: true, forcerm: true },
    ));
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err ?? output.find((o) => o.error);
          if (failed) reject(new Error(err ? err.message : String((failed as { error: string }).error)));
          else resolve();
        },
        (ev: { stream?: string; error?: string; status?: string }) => {
          const text = ev.stream ?? ev.error ?? ev.status;
          if (text) for (const l of text.split('\n')) if (l.trim().length > 0) req.onOutput(l);
        },
      );
    });
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.inspectImage(ref)) !== undefined;
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    try {
      const i = await this.docker.getImage(ref).inspect();
      return { id: i.Id, tags: i.RepoTags ?? [], labels: i.Config?.Labels ?? {}, size: i.Size, created: Date.parse(i.Created) };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw dockerError(err, 'inspect the image');
    }
  }

  async listImages(labels: Record<string, string>): Promise<ImageInfo[]> {
    const is = await this.call('list images', () => this.docker.listImages({ filters: labelFilter(labels) }));
    return is.map((i) => ({ id: i.Id, tags: i.RepoTags ?? [], labels: i.Labels ?? {}, size: i.Size, created: i.Created * 1000 }));
  }

  async removeImage(ref: string): Promise<void> {
    try {
      await this.docker.getImage(ref).remove();
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw dockerError(err, 'remove the image');
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<NetworkInfo[]> {
    const ns = await this.call('list networks', () => this.docker.listNetworks({ filters: labelFilter(labels) }));
    return ns.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
  }

  async removeNetwork(id: string): Promise<void> {
    try {
      await this.docker.getNetwork(id).remove();
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw dockerError(err, 'remove the network');
    }
  }

  async diskUsage(): Promise<{ images: number; containers: number }> {
    const df = (await this.call('report disk use', () => this.docker.df())) as {
      LayersSize?: number; Containers?: Array<{ SizeRw?: number }>;
    };
    return { images: df.LayersSize ?? 0, containers: (df.Containers ?? []).reduce((a, c) => a + (c.SizeRw ?? 0), 0) };
  }
}

/** Docker trims trailing zeros of RFC3339Nano; pad to 9 digits so timestamps sort as strings. */
export function normaliseTs(ts: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}`;
}

function bufferStream(buf: Buffer): Readable {
  const s = new PassThrough();
  s.end(buf);
  return s;
}

/** Split a timestamped Docker log stream ("<RFC3339Nano> <text>\n" per line) into LogLines. */
function lineSplitter(src: Readable, stream: 'stdout' | 'stderr', onLine: (l: LogLine) => void): void {
  let pending = '';
  src.setEncoding('utf8');
  src.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const raw = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const sp = raw.indexOf(' ');
      if (sp > 0 && /^\d{4}-\d\d-\d\dT/.test(raw)) onLine({ ts: normaliseTs(raw.slice(0, sp)), stream, line: raw.slice(sp + 1).replace(/\r$/, '') });
      else onLine({ ts: new Date().toISOString(), stream, line: raw.replace(/\r$/, '') });
    }
  });
}
