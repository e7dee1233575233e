/**
 * Podman as the engine, against a fake engine on a unix socket: it is told by its answer (not by its
 * socket's name), an engine that is not the one ~/.moat/config.yaml names is refused, and a build is
 * confined by a network namespace path (Podman 4.3 ignores `networkmode`: its steps ran on the host's
 * network) held by a holder container, or refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerRuntime } from '../../../src/runtime/docker/docker-runtime.js';
import { dockerStepLine, relayOf } from '../../../src/runtime/docker/podman-build.js';
import { engineFromVersion, podmanSocket } from '../../../src/runtime/engine.js';
import { engineSetting } from '../../../src/config/engine-setting.js';
import { loadWorkspaceConfig } from '../../../src/config/load.js';
import type { BuildRequest } from '../../../src/runtime/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

let dir: string;
let sock: string;
let server: Server;
let podman: boolean;
let requests: Array<{ method: string; url: string; body: Buffer }>;
let handlers: Map<string, Handler>;

const json = (res: ServerResponse, status: number, v: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(v));
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-podman-'));
  sock = join(dir, 'engine.sock');
  podman = true;
  requests = [];
  handlers = new Map();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      requests.push({ method: req.method ?? '', url, body: Buffer.concat(chunks) });
      const route = `${req.method} ${new URL(url, 'http://x').pathname.replace(/^\/v\d+\.\d+/, '')}`;
      const h = handlers.get(route);
      if (h) return h(req, res, Buffer.concat(chunks));
      if (route === 'GET /_ping') {
        res.writeHead(200, { 'api-version': '1.41', ...(podman ? { 'libpod-api-version': '4.3.1' } : {}) });
        return res.end('OK');
      }
      json(res, 404, { message: `no route ${route}` });
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

const runtime = (expected?: 'docker' | 'podman'): DockerRuntime =>
  new DockerRuntime({ DOCKER_HOST: `unix://${sock}` }, expected ? () => Promise.resolve(expected) : undefined);

describe('which engine answers', () => {
  it("Podman is told by its ping's Libpod-Api-Version header, Docker by its absence", async () => {
    expect(await runtime().engine()).toBe('podman');
    podman = false;
    expect(await runtime().engine()).toBe('docker');
  });

  it('GET /version: Podman\'s own version comes from its "Podman Engine" component', () => {
    expect(
      engineFromVersion({
        Version: '4.3.1',
        Components: [
          { Name: 'Podman Engine', Version: '4.3.1' },
          { Name: 'Conmon', Version: '2.1.6' },
        ],
      }),
    ).toEqual({
      engine: 'podman',
      version: '4.3.1',
    });
    expect(engineFromVersion({ Version: '20.10.24', Components: [{ Name: 'Engine', Version: '20.10.24' }] })).toEqual({
      engine: 'docker',
      version: '20.10.24',
    });
  });

  it('engine: podman in the global config, and the engine at DOCKER_HOST is Docker: every request is refused with the fix', async () => {
    podman = false;
    const rt = runtime('podman');
    const err = await rt.list({}).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'E_ENGINE',
      message: `~/.moat/config.yaml sets engine: podman, but the engine at unix://${sock} is Docker.`,
    });
    expect((err as { hint: string }).hint).toMatch(/^Point DOCKER_HOST at Podman's socket/);
    await expect(
      rt.create({
        image: 'x',
        cmd: [],
        env: {},
        workingDir: '/',
        labels: {},
        mounts: [],
        tty: false,
        openStdin: false,
        network: 'none',
        pidsLimit: 1,
        capAdd: [],
      }),
    ).rejects.toMatchObject({ code: 'E_ENGINE' });
    expect(requests.map((r) => r.url.split('?')[0]).filter((u) => u !== '/_ping')).toEqual([]);
  });

  it('engine: docker, and the engine at DOCKER_HOST is Podman: refused too', async () => {
    await expect(runtime('docker').ping()).rejects.toMatchObject({
      message: `~/.moat/config.yaml sets engine: docker, but the engine at unix://${sock} is Podman.`,
    });
  });

  it("Podman at a local socket: the runtimes are known without GET /info (slow there), runc and this machine's CPUs; Docker is asked", async () => {
    handlers.set('GET /info', (_q, res) => json(res, 200, { DefaultRuntime: 'runc', Runtimes: { runc: {} }, NCPU: 64 }));
    const p = await runtime().runtimes();
    expect(p).toEqual({ defaultRuntime: 'runc', runtimes: {}, address: `unix://${sock}`, engine: 'podman', cpus: availableParallelism() });
    expect(requests.map((r) => r.url.split('?')[0])).not.toContain('/v1.41/info');
    podman = false;
    const d = await runtime().runtimes();
    expect(d).toMatchObject({ engine: 'docker', runtimes: { runc: {} }, cpus: 64 });
    expect(requests.map((r) => r.url.split('?')[0])).toContain('/v1.41/info');
  });

  it("Podman's socket: the rootful one for root, the user's runtime directory otherwise", () => {
    expect(podmanSocket({}, 0)).toBe('/run/podman/podman.sock');
    expect(podmanSocket({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/podman/podman.sock');
    expect(podmanSocket({}, 1001)).toBe('/run/user/1001/podman/podman.sock');
  });
});

describe('the engine setting belongs to the host', () => {
  it('~/.moat/config.yaml: engine: podman is read; a file without it is not parsed; a wrong value is an error', async () => {
    const f = join(dir, 'config.yaml');
    expect(await engineSetting(f)).toBeUndefined();
    await writeFile(f, 'routing:\n  port: 8081\n');
    expect(await engineSetting(f)).toBeUndefined();
    await writeFile(f, 'engine: podman\n');
    expect(await engineSetting(f)).toBe('podman');
    await writeFile(f, 'engine: lxc\n');
    await expect(engineSetting(f)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  it("a workspace's moat.yaml cannot name the engine: the key is refused", async () => {
    await writeFile(join(dir, 'moat.yaml'), 'engine: docker\n');
    await expect(loadWorkspaceConfig(dir)).rejects.toThrow(/engine/);
  });
});

describe('builds on Podman', () => {
  const ctx = async (): Promise<string> => {
    const c = join(dir, 'ctx');
    await rm(c, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(c));
    await writeFile(join(c, 'Dockerfile'), 'FROM base\nRUN true\n');
    return c;
  };
  const request = async (networkMode: string, lines: string[]): Promise<BuildRequest> => ({
    contextDir: await ctx(),
    files: ['Dockerfile'],
    tag: 'moat-image:abc',
    labels: { 'moat.managed': 'true' },
    buildArgs: {},
    networkMode,
    onOutput: (l) => lines.push(l),
  });
  let holderPid: number[];

  beforeEach(() => {
    holderPid = [4242, 4242];
    handlers.set('GET /containers/relay1/json', (_q, res) =>
      json(res, 200, {
        Id: 'relay1',
        Config: { Image: 'base', User: '1000:1000', Labels: { 'moat.managed': 'true', 'moat.home': '/h' } },
        State: { Running: true, Pid: 17 },
      }),
    );
    handlers.set('POST /containers/create', (_q, res) => json(res, 201, { Id: 'holder1' }));
    handlers.set('POST /containers/holder1/start', (_q, res) => json(res, 204, {}));
    handlers.set('GET /containers/holder1/json', (_q, res) =>
      json(res, 200, { Id: 'holder1', Config: { Image: 'base' }, State: { Running: true, Pid: holderPid.shift() ?? 1 } }),
    );
    handlers.set('DELETE /containers/holder1', (_q, res) => json(res, 204, {}));
    handlers.set('DELETE /images/moat-image:abc', (_q, res) => json(res, 200, []));
    handlers.set('POST /build', (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(['{"stream":"STEP 1/2: FROM base\\n"}', '{"stream":"STEP 2/2: RUN true\\n"}', '{"aux":{"ID":"sha256:feed"}}'].join('\n'));
    });
  });

  it("steps get the relay's network namespace by path (a holder's /proc/PID/ns/net), never `networkmode`; the holder joins the relay, holds nothing else, and is removed", async () => {
    const lines: string[] = [];
    await runtime().build(await request('container:relay1', lines));
    const build = requests.find((r) => r.url.includes('/build'));
    const q = new URL(build?.url ?? '', 'http://x').searchParams;
    expect(q.get('networkmode')).toBeNull();
    expect(JSON.parse(q.get('nsoptions') ?? '')).toEqual([{ Name: 'network', Path: '/proc/4242/ns/net' }]);
    const create = JSON.parse(requests.find((r) => r.url.includes('/containers/create'))?.body.toString() ?? '{}') as {
      Entrypoint: string[];
      User: string;
      Labels: Record<string, string>;
      HostConfig: { NetworkMode: string; CapDrop: string[]; ReadonlyRootfs: boolean; Binds: string[] };
    };
    expect(create.HostConfig).toMatchObject({ NetworkMode: 'container:relay1', CapDrop: ['ALL'], ReadonlyRootfs: true, Binds: [] });
    expect(create).toMatchObject({ Entrypoint: ['sleep', 'infinity'], User: '1000:1000', Labels: { 'moat.managed': 'true', 'moat.home': '/h' } });
    expect(lines.slice(0, 2)).toEqual(['Step 1/2 : FROM base', 'Step 2/2 : RUN true']);
    expect(requests.map((r) => `${r.method} ${r.url.split('?')[0] ?? ''}`)).toContain('DELETE /v1.41/containers/holder1');
  });

  it('a build asked for any network but a relay container is refused before the engine is asked to build', async () => {
    for (const mode of ['none', 'host', 'bridge', 'container:']) {
      await expect(runtime().build(await request(mode, []))).rejects.toMatchObject({
        code: 'E_BUILD',
        message: `Podman cannot confine an image build to the network "${mode}", so moat does not build with it on Podman.`,
      });
    }
    expect(requests.filter((r) => r.url.includes('/build') || r.url.includes('/containers/create'))).toEqual([]);
  });

  it('the holder is gone or another process when the build ends: the image is removed and the build fails', async () => {
    holderPid = [4242, 5151];
    await expect(runtime().build(await request('container:relay1', []))).rejects.toMatchObject({
      code: 'E_BUILD',
      message: expect.stringMatching(/went away during the build/) as unknown,
    });
    expect(requests.map((r) => `${r.method} ${decodeURIComponent(r.url.split('?')[0] ?? '')}`)).toContain('DELETE /v1.41/images/moat-image:abc');
  });

  it('on Docker the classic `networkmode` is sent as before', async () => {
    podman = false;
    await runtime().build(await request('container:relay1', []));
    const q = new URL(requests.find((r) => r.url.includes('/build'))?.url ?? '', 'http://x').searchParams;
    expect(q.get('networkmode')).toBe('container:relay1');
    expect(q.get('nsoptions')).toBeNull();
  });

  it('helpers: the relay of a network mode; Podman step lines in Docker wording', () => {
    expect(relayOf('container:0123abc')).toBe('0123abc');
    expect(relayOf('container:a/../b')).toBeUndefined();
    expect(dockerStepLine('STEP 3/9: RUN apt-get update')).toBe('Step 3/9 : RUN apt-get update');
    expect(dockerStepLine('Step 3/9 : RUN x')).toBe('Step 3/9 : RUN x');
  });
});
