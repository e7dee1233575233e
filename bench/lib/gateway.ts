/**
 * Shared machinery of the gateway benches (bench/proxy.ts, bench/audit.ts): a fake HTTPS upstream and the
 * moat gateway proxy, each in its own child process (./gateway-child.ts) as the daemon would run them,
 * undici pools connecting directly or through the proxy's unix socket, and keep-alive load generators.
 * Loopback and unix sockets only.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

export const BENCH_HOST = 'api.example.test';
export const MB = 1024 * 1024;

/** Environment (JSON in MOAT_BENCH_PROXY) of the `proxy` child role. */
export interface ProxyRoleConfig {
  /** Loopback port of the fake upstream. */
  port: number;
  /** PEM of the fake upstream's CA. */
  ca: string;
  /** Unix socket the proxy listens on. */
  socket: string;
  /** Run dir for an AuditWriter; without it the proxy has no onEvent at all. */
  auditDir?: string;
}

export type ChildCommand = 'rss' | 'cpu' | 'audit-on' | 'audit-off' | 'close';

type Connector = (opts: unknown, cb: (err: Error | null, sock: net.Socket | null) => void) => void;

const CHILD = fileURLToPath(new URL('./gateway-child.ts', import.meta.url));

/** Fork a role of gateway-child.ts (execArgv, i.e. `--import tsx`, is inherited) and wait for its first message. */
function spawnRole(name: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; msg: Record<string, unknown> }> {
  const child = fork(CHILD, [name], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (msg) => resolve({ child, msg: msg as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/**
 * CONNECT through a proxy (its unix socket path, or a loopback TCP port), then TLS to BENCH_HOST trusting
 * the proxy's CA. `authority` is what CONNECT asks for (default BENCH_HOST:443).
 */
export function tunnelConnect(proxy: string | number, ca: string, authority = `${BENCH_HOST}:443`): Connector {
  const where = typeof proxy === 'string' ? { socketPath: proxy } : { host: '127.0.0.1', port: proxy };
  return (_opts, cb) => {
    const req = http.request({ ...where, method: 'CONNECT', path: authority, headers: { host: authority }, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) return cb(new Error(`CONNECT ${res.statusCode}`), null);
      const s = tls.connect({ socket, servername: BENCH_HOST, ca, ALPNProtocols: ['http/1.1'] });
      s.once('secureConnect', () => cb(null, s));
      s.once('error', (e) => cb(e, null));
    });
    req.once('error', (e) => cb(e, null));
    req.end();
  };
}

export function directConnect(port: number, ca: string): Connector {
  return (_opts, cb) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: BENCH_HOST, ca, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => cb(null, s));
    s.once('error', (e) => cb(e, null));
  };
}

/** A keep-alive HTTP/1.1 pool of `connections` to BENCH_HOST through `connect`. */
export function makePool(connect: Connector, connections: number): Pool {
  return new Pool(`https://${BENCH_HOST}`, { connections, connect: connect as never, keepAliveTimeout: 30_000, pipelining: 1 });
}

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function small(pool: Pool, host: string): Promise<void> {
  const res = await pool.request({ path: '/small', method: 'GET', headers: { host } });
  await res.body.dump();
}

/** `total` GETs of /small with `concurrency` workers (Host: `host`). */
export async function load(pool: Pool, concurrency: number, total: number, host = BENCH_HOST): Promise<{ rps: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        await small(pool, host);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: total / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** GETs of /small with `concurrency` workers for `ms` milliseconds, or until `maxRequests` were sent. */
export async function loadFor(pool: Pool, concurrency: number, ms: number, maxRequests: number): Promise<{ requests: number; rps: number }> {
  let sent = 0;
  let done = 0;
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < maxRequests && performance.now() < deadline) {
        sent += 1;
        await small(pool, BENCH_HOST);
        done += 1;
      }
    }),
  );
  return { requests: done, rps: done / ((performance.now() - start) / 1000) };
}

export interface GatewayBench {
  /** Temp dir holding the proxy socket (and the audit run dir); removed by stop(). */
  dir: string;
  /** The proxy's audit run dir, when started with `audit: true`. */
  auditDir: string | undefined;
  /** Public key (PEM) of the proxy's throwaway audit signer, when started with `audit: true`. */
  auditPublicKeyPem: string | undefined;
  /** The upstream's loopback port (for other proxies to compare against). */
  upstreamPort: number;
  /** PEM of the upstream's CA. */
  upstreamCa: string;
  /** The proxy's unix socket, and the PEM of its CA. */
  socket: string;
  proxyCa: string;
  /** A pool straight to the upstream. */
  direct(connections: number): Pool;
  /** A pool through the proxy. */
  proxied(connections: number): Pool;
  /** Send a command to the proxy process and wait for its answer. */
  ask(cmd: ChildCommand): Promise<Record<string, unknown>>;
  /** Resident set size of the proxy process. */
  proxyRss(): Promise<number>;
  /** CPU time (user+sys, µs) the proxy process has used so far. */
  proxyCpu(): Promise<number>;
  /** Close the proxy's audit writer (if any), end both children and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Start the upstream and proxy processes. With `audit`, the proxy holds an AuditWriter (auditing starts switched off). */
export async function startGatewayBench(opts: { audit?: boolean } = {}): Promise<GatewayBench> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-bench-'));
  const socket = join(dir, 'proxy.sock');
  const auditDir = opts.audit ? join(dir, 'run-bench') : undefined;
  const children: ChildProcess[] = [];
  let stopped: Promise<void> | undefined;
  let proxyChild: ChildProcess | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (proxyChild && auditDir && proxyChild.exitCode === null) await ask('close').catch(() => undefined);
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill();
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    })());

  let nextId = 0;
  const ask = (cmd: ChildCommand): Promise<Record<string, unknown>> => {
    const child = proxyChild;
    if (!child) return Promise.reject(new Error('the proxy is not running'));
    const id = (nextId += 1);
    return new Promise((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        const msg = m as Record<string, unknown>;
        if (msg.id !== id) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (typeof msg.error === 'string') reject(new Error(msg.error));
        else resolve(msg);
      };
      const onExit = (): void => {
        child.off('message', onMessage);
        reject(new Error(`the proxy exited during ${cmd}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, cmd });
    });
  };

  try {
    if (auditDir) await mkdir(auditDir, { recursive: true, mode: 0o700 });
    const upstream = await spawnRole('upstream');
    children.push(upstream.child);
    const port = upstream.msg.port as number;
    const upstreamCA = upstream.msg.ca as string;
    const cfg: ProxyRoleConfig = { port, ca: upstreamCA, socket, ...(auditDir ? { auditDir } : {}) };
    const proxy = await spawnRole('proxy', { MOAT_BENCH_PROXY: JSON.stringify(cfg) });
    children.push(proxy.child);
    proxyChild = proxy.child;
    const proxyCA = proxy.msg.ca as string;
    return {
      dir,
      auditDir,
      auditPublicKeyPem: proxy.msg.publicKeyPem as string | undefined,
      upstreamPort: port,
      upstreamCa: upstreamCA,
      socket,
      proxyCa: proxyCA,
      direct: (c) => makePool(directConnect(port, upstreamCA), c),
      proxied: (c) => makePool(tunnelConnect(socket, proxyCA), c),
      ask,
      proxyRss: async () => (await ask('rss')).rss as number,
      proxyCpu: async () => (await ask('cpu')).cpuUs as number,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
