/**
 * The Engine API client against a fake engine on a unix socket: every request names the API version,
 * learnt once (from the ping a run makes anyway), a too-old engine is refused with the fix, and builds
 * send their context as tar and read the progress stream.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerRuntime } from '../../../src/runtime/docker/docker-runtime.js';
import { MAX_API } from '../../../src/runtime/docker/api-version.js';
import type { BuildRequest } from '../../../src/runtime/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface FakeEngine {
  requests: Array<{ method: string; url: string; type: string | undefined; body: Buffer }>;
  apiVersion: string | undefined;
  handlers: Map<string, Handler>;
  runtime: DockerRuntime;
}

let dir: string;
let server: Server;
let engine: FakeEngine;

const json = (res: ServerResponse, status: number, v: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(v));
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-engine-'));
  const sock = join(dir, 'engine.sock');
  engine = { requests: [], apiVersion: '1.41', handlers: new Map(), runtime: new DockerRuntime({ DOCKER_HOST: `unix://${sock}` }) };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '';
      engine.requests.push({ method: req.method ?? '', url, type: req.headers['content-type'], body });
      const route = `${req.method} ${new URL(url, 'http://x').pathname.replace(/^\/v\d+\.\d+/, '')}`;
      const h = engine.handlers.get(route);
      if (h) return h(req, res, body);
      if (route === 'GET /_ping') {
        res.writeHead(200, engine.apiVersion ? { 'api-version': engine.apiVersion } : {});
        return res.end('OK');
      }
      if (route === 'GET /version') return json(res, 200, { Version: '20.10.24', ApiVersion: '1.41', Os: 'linux', Arch: 'amd64' });
      if (route === 'GET /containers/json') return json(res, 200, []);
      if (route === 'POST /containers/create') return json(res, 201, { Id: 'c0ffee' });
      json(res, 404, { message: `no route ${route}` });
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

const paths = (): string[] => engine.requests.map((r) => `${r.method} ${r.url.split('?')[0] ?? ''}`);

/** The smallest container spec the engine client accepts. */
const spec = {
  image: 'x',
  cmd: [],
  env: {},
  workingDir: '/',
  labels: {},
  mounts: [],
  tty: false,
  openStdin: false,
  network: 'none',
  pidsLimit: 10,
  capAdd: [],
};

describe('API version: named on every request, learnt once', () => {
  it('the run path: the ping it makes first anyway is the only one, and every later request is /v1.41/…', async () => {
    await engine.runtime.ping();
    await engine.runtime.list({ 'moat.managed': 'true' });
    await engine.runtime.create(spec);
    expect(paths()).toEqual(['GET /_ping', 'GET /v1.41/containers/json', 'POST /v1.41/containers/create']);
  });

  it('without a ping first, concurrent first requests share one version check', async () => {
    await Promise.all([1, 2, 3, 4, 5].map(() => engine.runtime.list({})));
    expect(paths().filter((p) => p === 'GET /_ping')).toHaveLength(1);
    expect(paths().filter((p) => p === 'GET /v1.41/containers/json')).toHaveLength(5);
  });

  it('a newer engine is spoken to at the newest version moat knows', async () => {
    engine.apiVersion = '1.99';
    await engine.runtime.list({});
    expect(paths()).toEqual(['GET /_ping', `GET /v${MAX_API}/containers/json`]);
  });

  it('an engine whose ping names no version is asked with GET /version', async () => {
    engine.apiVersion = undefined;
    await engine.runtime.list({});
    expect(paths()).toEqual(['GET /_ping', 'GET /version', 'GET /v1.41/containers/json']);
  });

  it('an engine older than moat needs is refused at the ping with the fix, and at every later call', async () => {
    engine.apiVersion = '1.39';
    const err = await engine.runtime.ping().catch((e: unknown) => e);
    expect(err).toMatchObject({
      message: `The Docker engine at unix://${join(dir, 'engine.sock')} speaks API 1.39; moat needs 1.40 or newer (Docker 19.03+).`,
      hint: expect.stringMatching(/^Upgrade Docker Engine/) as unknown,
      exitCode: 125,
    });
    await expect(engine.runtime.list({})).rejects.toThrow(/speaks API 1\.39; moat needs 1\.40/);
    expect(paths().every((p) => p === 'GET /_ping')).toBe(true);
  });

  it("an engine that no longer accepts moat's newest version says what to do", async () => {
    engine.apiVersion = '1.70';
    engine.handlers.set('GET /containers/json', (_q, res) =>
      json(res, 400, {
        message: `client version ${MAX_API} is too old. Minimum supported API version is 1.60, please upgrade your client to a newer version`,
      }),
    );
    const err = await engine.runtime.list({}).catch((e: unknown) => e);
    expect(err).toMatchObject({
      message: expect.stringMatching(/needs API 1\.60 or newer; this moat speaks up to/) as unknown,
      hint: expect.stringMatching(/^Update moat/) as unknown,
    });
  });

  it('a failed version check is not remembered: the next call tries again', async () => {
    let failures = 1;
    engine.handlers.set('GET /_ping', (_q, res) => {
      if (failures-- > 0) return json(res, 500, { message: 'starting up' });
      res.writeHead(200, { 'api-version': '1.41' });
      res.end('OK');
    });
    await expect(engine.runtime.list({})).rejects.toThrow(/starting up/);
    await engine.runtime.list({});
    expect(paths()).toEqual(['GET /_ping', 'GET /_ping', 'GET /v1.41/containers/json']);
  });
});

describe('builds through the Engine API client', () => {
  const PEM =
    '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU+/= &?#%\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  async function request(over: Partial<BuildRequest> = {}): Promise<{ req: BuildRequest; lines: string[] }> {
    const ctx = join(dir, 'ctx');
    execFileSync('mkdir', ['-p', ctx]);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM debian:bookworm-slim\nARG MOAT_BUILD_CA\nRUN echo hi\n');
    await writeFile(join(ctx, 'moat-init'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    const lines: string[] = [];
    return {
      lines,
      req: {
        contextDir: ctx,
        files: ['Dockerfile', 'moat-init'],
        tag: 'moat-image:test',
        labels: { 'moat.managed': 'true', 'moat.home': '/h' },
        buildArgs: { MOAT_BUILD_CA: PEM },
        networkMode: 'container:0123abcd',
        onOutput: (l) => lines.push(l),
        ...over,
      },
    };
  }
  const stream = (res: ServerResponse, msgs: object[], end = true): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const m of msgs) res.write(`${JSON.stringify(m)}\r\n`);
    if (end) res.end();
  };

  it("sends the context as tar with the classic builder's parameters; a multi-line PEM build arg arrives intact", async () => {
    engine.handlers.set('POST /build', (_q, res) =>
      stream(res, [
        { stream: 'Step 1/3 : FROM debian:bookworm-slim\n' },
        { stream: 'hi\n' },
        { aux: { ID: 'sha256:abc' } },
        { stream: 'Successfully built abc\n' },
      ]),
    );
    const { req, lines } = await request();
    await engine.runtime.build(req);
    const sent = engine.requests.find((r) => r.url.startsWith('/v1.41/build?'));
    expect(sent?.method).toBe('POST');
    expect(sent?.type).toBe('application/x-tar');
    const q = new URL(sent?.url ?? '', 'http://x').searchParams;
    expect(Object.fromEntries(q)).toEqual({
      t: 'moat-image:test',
      labels: JSON.stringify(req.labels),
      buildargs: JSON.stringify({ MOAT_BUILD_CA: PEM }),
      nocache: '0',
      rm: '1',
      forcerm: '1',
      networkmode: 'container:0123abcd',
      version: '1',
    });
    expect((JSON.parse(q.get('buildargs') ?? '{}') as Record<string, string>).MOAT_BUILD_CA).toBe(PEM);
    const tarFile = join(dir, 'sent.tar');
    await writeFile(tarFile, sent?.body ?? Buffer.alloc(0));
    expect(execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' })).toBe('Dockerfile\nmoat-init\n');
    const out = join(dir, 'out');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xpf', tarFile, '-C', out]);
    expect(await readFile(join(out, 'Dockerfile'), 'utf8')).toContain('RUN echo hi');
    expect(lines).toEqual(['Step 1/3 : FROM debian:bookworm-slim', 'hi', 'Successfully built abc']);
  });

  it("a failing step rejects with the engine's own message", async () => {
    engine.handlers.set('POST /build', (_q, res) =>
      stream(res, [
        { stream: 'Step 2/2 : RUN exit 3\n' },
        {
          errorDetail: { code: 3, message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" },
          error: "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        },
      ]),
    );
    const { req, lines } = await request();
    await expect(engine.runtime.build(req)).rejects.toThrow("Docker could not build the image: The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    expect(lines).toEqual(['Step 2/2 : RUN exit 3']);
  });

  it("an error status before any output rejects with the engine's message", async () => {
    engine.handlers.set('POST /build', (_q, res) => json(res, 500, { message: 'Cannot locate specified Dockerfile: Dockerfile' }));
    const { req } = await request();
    await expect(engine.runtime.build(req)).rejects.toThrow('Docker could not build the image: Cannot locate specified Dockerfile: Dockerfile');
  });

  it('a stream cut off mid-build is a failure, not a success', async () => {
    engine.handlers.set('POST /build', (_q, res) => {
      stream(res, [{ stream: 'Step 1/3 : FROM debian:bookworm-slim\n' }], false);
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { req } = await request();
    await expect(engine.runtime.build(req)).rejects.toThrow('Docker could not build the image: the engine closed the build stream before the build ended');
  });

  it('an error thrown by onOutput stops the build read and reaches the caller as itself', async () => {
    engine.handlers.set('POST /build', (_q, res) => stream(res, [{ stream: 'Step 1/1 : FROM debian:bookworm-slim\n' }], false));
    const { req } = await request({
      onOutput: () => {
        throw new Error('log disk full');
      },
    });
    await expect(engine.runtime.build(req)).rejects.toThrow('Docker could not build the image: log disk full');
  });

  it('a build that names no image and left no tag is a failure', async () => {
    engine.handlers.set('POST /build', (_q, res) => stream(res, [{ stream: 'Step 1/1 : FROM debian:bookworm-slim\n' }]));
    const { req } = await request();
    await expect(engine.runtime.build(req)).rejects.toThrow('Docker could not build the image: the build ended without an image tagged moat-image:test');
  });

  it('a symlink in the context is refused before anything is sent', async () => {
    const { req } = await request();
    execFileSync('ln', ['-s', '/etc/passwd', join(req.contextDir, 'passwd')]);
    await expect(engine.runtime.build({ ...req, files: ['Dockerfile', 'passwd'] })).rejects.toThrow(/symbolic link/);
    expect(paths().some((p) => p.includes('/build'))).toBe(false);
  });
});

describe('a connection the engine drops before answering ("socket hang up")', () => {
  const hangUpTimes = (route: string, times: number): void => {
    let left = times;
    engine.handlers.set(route, (req, res) => {
      if (left-- > 0) return req.socket.destroy();
      json(res, 200, route.startsWith('GET /containers') ? [] : { Id: 'c0ffee' });
    });
  };

  it('a GET is asked again once and succeeds', async () => {
    hangUpTimes('GET /containers/json', 1);
    expect(await engine.runtime.list({})).toEqual([]);
    expect(paths().filter((p) => p === 'GET /v1.41/containers/json')).toHaveLength(2);
  });

  it('a GET dropped twice, or a POST dropped once (never sent twice), is one sentence naming what failed and what to run', async () => {
    hangUpTimes('GET /containers/json', 2);
    const get = await engine.runtime.list({}).catch((e: unknown) => e);
    expect(get).toMatchObject({
      message: `The Docker engine at unix://${join(dir, 'engine.sock')} dropped the connection while moat tried to list containers (ECONNRESET).`,
      hint: 'Run the command again; if it keeps happening, check the engine: sudo systemctl status docker (and journalctl -u docker).',
    });
    hangUpTimes('POST /containers/create', 1);
    const post = await engine.runtime.create(spec).catch((e: unknown) => e);
    expect((post as Error).message).toContain('dropped the connection while moat tried to create the container (ECONNRESET).');
    expect(paths().filter((p) => p === 'POST /v1.41/containers/create')).toHaveLength(1);
  });
});
