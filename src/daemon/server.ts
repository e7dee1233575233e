import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { appendFileSync, mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MoatHome } from '../home/paths.js';
import { RunStore } from '../store/store.js';
import { RUN_ID_RE } from '../store/names.js';
import { DockerRuntime } from '../runtime/docker/docker-runtime.js';
import { engineSetting } from '../config/engine-setting.js';
import { Supervisor } from './supervisor.js';
import { GatewayHost } from './gateways.js';
import { testRefreshWindowMs } from './test-upstreams.js';
import { DAEMON_PROTOCOL, daemonLog, daemonSocket, type DaemonHealth } from './protocol.js';
import { BUILD } from '../version.js';
import { isMoatError, type ErrorDocument } from '../errors.js';
import { takeDaemonLock, releaseDaemonLock } from './lock.js';
import { bindControlSocket, removeOwnSocket } from './control-socket.js';
import { EngineRuntimesCache } from './engine-runtimes.js';
import { SparePool } from './spares.js';
import { readJsonBody } from './request-body.js';
import { pidNamespace } from '../process-alive.js';

/**
 * The host daemon of one moat home: it outlives the CLI and owns the live runs (their output, their exit
 * and, with the gateway, their network). It listens on a unix socket only its user can open, and exits
 * after `idleMs` without live runs.
 */
export async function runDaemon(home: MoatHome, opts: { idleMs: number }): Promise<void> {
  mkdirSync(home.daemonDir, { recursive: true, mode: 0o700 });
  const logFile = daemonLog(home);
  const log = (msg: string): void => appendFileSync(logFile, `${new Date().toISOString()} ${msg}\n`, { mode: 0o600 });
  let lock: Awaited<ReturnType<typeof takeDaemonLock>>;
  try {
    lock = await takeDaemonLock(home);
  } catch (err) {
    log(`cannot take the daemon lock: ${err instanceof Error ? err.message : String(err)}; exiting`);
    process.exit(1);
  }
  if ('heldBy' in lock) {
    // One daemon per home: a live daemon (even a busy or stopped one) keeps its home and its socket.
    log(`daemon pid ${lock.heldBy.pid} already serves this home; pid ${process.pid} exits`);
    process.exit(0);
  }
  const store = new RunStore(home);
  const engine = new DockerRuntime(process.env, () => engineSetting(home.globalConfig));
  const engineRuntimes = new EngineRuntimesCache(engine, log);
  const supervisor = new Supervisor(home, store, engine, new GatewayHost(home, process.env, log, testRefreshWindowMs(process.env)), log);
  const spares = new SparePool(home, engine, log);
  supervisor.ended = (id) => void spares.afterRun(id);
  const startedAt = new Date().toISOString();
  let idleTimer: NodeJS.Timeout | undefined;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`request ${req.method} ${req.url}: ${String(err)}`);
      send(res, 500, { error: { code: 'E_INTERNAL', message: 'internal error', hint: `See the daemon's log: ${daemonLog(home)}` } });
    });
  });

  const control = { ino: -1 };
  let leaving = false;
  let exiting = false;
  const shutdown = (why: string): void => {
    if (exiting) return;
    exiting = true;
    leaving = true; // clients wait for the next daemon
    log(`shutting down: ${why}`);
    engineRuntimes.stop();
    // Live runs are let go cleanly (output flushed, audit log closed), so the next daemon resumes them
    // without calling this one dead; bounded, so a stuck run cannot keep a stopping daemon alive.
    const letGo = Promise.race([Promise.all([supervisor.handOver(0), spares.close()]), sleep(8000, undefined, { ref: false })]);
    void letGo
      .catch(() => undefined)
      .finally(() => {
        server.close();
        if (control.ino >= 0) removeOwnSocket(daemonSocket(home), control.ino);
        void releaseDaemonLock(home).finally(() => process.exit(0));
      });
  };
  /** `moat proxy restart`: give the home to the next daemon without a moment where a run has no gateway. */
  const handOver = async (): Promise<void> => {
    if (leaving) return;
    leaving = true;
    log('handing over to the next daemon');
    await releaseDaemonLock(home);
    await supervisor.handOver(20_000);
    shutdown('handed over');
  };
  const armIdle = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (supervisor.size === 0 && spares.starting === 0) shutdown('idle');
      else armIdle();
    }, opts.idleMs);
    idleTimer.unref();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    armIdle(); // any client (a health check before a registration) keeps the daemon up for another idle period
    const url = new URL(req.url ?? '/', 'http://daemon');
    const watch = /^\/runs\/([^/]+)\/watch$/.exec(url.pathname);
    // Handing over: clients wait for the next daemon (the client library reads 503 as "being replaced").
    if (leaving && url.pathname !== '/shutdown')
      return send(res, 503, { error: { code: 'E_DAEMON', message: 'this daemon is handing over to the next one', hint: null } });
    if (req.method === 'GET' && url.pathname === '/health') {
      const known = engineRuntimes.get();
      const h: DaemonHealth = {
        protocol: DAEMON_PROTOCOL,
        version: BUILD,
        pid: process.pid,
        startedAt,
        runs: supervisor.ids(),
        spares: spares.size,
        ...(known ? { engine: known } : {}),
      };
      return send(res, 200, h);
    }
    if (req.method === 'POST' && watch?.[1] && RUN_ID_RE.test(watch[1])) {
      try {
        await supervisor.register(watch[1]);
      } catch (err) {
        return send(res, 422, { error: refusal(err) });
      }
      armIdle();
      return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/spares/claim') {
      const body = await readJsonBody(req, 4096).catch(() => undefined);
      const key = typeof body === 'object' && body !== null ? (body as { key?: unknown }).key : undefined;
      if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key))
        return send(res, 400, { error: { code: 'E_USAGE', message: 'a plan key is needed', hint: null } });
      const spare = spares.claim(key, claimerPid(body));
      return send(res, 200, spare ? { spare } : {});
    }
    const go = /^\/runs\/([^/]+)\/go$/.exec(url.pathname);
    if (req.method === 'POST' && go?.[1] && RUN_ID_RE.test(go[1])) {
      if (spares.go(go[1])) return send(res, 200, { ok: true });
      return send(res, 409, { error: { code: 'E_DAEMON', message: 'the prepared container of this run is no longer waiting', hint: 'Run it again.' } });
    }
    const snaps = /^\/runs\/([^/]+)\/snapshots-audit$/.exec(url.pathname);
    if (req.method === 'POST' && snaps?.[1] && RUN_ID_RE.test(snaps[1])) {
      const audited = await supervisor.auditSnapshots(snaps[1]).catch(() => false);
      return send(res, 200, { audited });
    }
    if (req.method === 'POST' && url.pathname === '/snapshots') {
      const r = await (await import('./snapshot-api.js')).snapshotRequest(req, home);
      return send(res, r.status, r.body);
    }
    if (req.method === 'POST' && url.pathname === '/prewalk') {
      // bin/moat's hint, before the CLI has loaded: walk the workspace now, for the request that follows.
      const r = await (await import('./snapshot-api.js')).prewalkRequest(req, home);
      return send(res, r.status, r.body);
    }
    if (req.method === 'POST' && url.pathname === '/shutdown') {
      send(res, 200, { ok: true });
      if (url.searchParams.get('handover') === '1')
        setImmediate(
          () =>
            void handOver().catch((err: unknown) => {
              log(`hand-over: ${String(err)}`);
              shutdown('hand-over failed');
            }),
        );
      else setImmediate(() => shutdown('requested'));
      return;
    }
    send(res, 404, { error: { code: 'E_NOT_FOUND', message: 'no such endpoint', hint: null } });
  }

  const sock = daemonSocket(home);
  control.ino = (await bindControlSocket(server, sock)).ino;
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  log(`daemon ${BUILD} pid ${process.pid} listening on ${sock}`);
  engineRuntimes.start();
  void spares.sweep().catch((err: unknown) => log(`spares of an earlier daemon: ${String(err)}`));
  await supervisor.resumeAll();
  armIdle();
}

/** Why a run's registration failed, as an error document: a MoatError's own, anything else the daemon's. */
function refusal(err: unknown): ErrorDocument {
  return isMoatError(err) ? err.toDocument() : { code: 'E_DAEMON', message: err instanceof Error ? err.message : String(err), hint: null };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The claimer's process (the CLI) as the claim names it: a claim it cannot follow up, once it has ended,
 * is let go at once. Only when it shares this daemon's pid namespace (elsewhere its pid means another process).
 */
export function claimerPid(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { pid, pidNs } = body as { pid?: unknown; pidNs?: unknown };
  const ns = pidNamespace();
  if (ns === undefined || pidNs !== ns) return undefined;
  return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}
