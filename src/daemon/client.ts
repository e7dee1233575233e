import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MoatHome } from '../home/paths.js';
import { withLock } from '../home/fs.js';
import { MoatError, SystemLikeError, errnoCode } from '../errors.js';
import { BUILD } from '../version.js';
import { pidNamespace, processGone } from '../process-alive.js';
import { DAEMON_PROTOCOL, daemonLog, daemonSocket, type DaemonHealth } from './protocol.js';
import type { SpareView } from './spares.js';
import { daemonLockHolder, probeSocket } from './lock.js';
import { join } from 'node:path';
import { NO_SERVERNAME } from '../runtime/docker/engine-api.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** The daemon answered with an error status; `body` is its error document (`{ error: { code, message, hint } }`). */
class DaemonAnswerError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`daemon answered ${status}: ${body}`);
  }
}

/** 503: the daemon is handing over to its successor. */
const isLeaving = (err: unknown): boolean => err instanceof DaemonAnswerError && err.status === 503;

/** The connection dropped before any answer: a keep-alive socket the daemon closed meanwhile, or a daemon under load. */
const dropped = (err: unknown): boolean => !(err instanceof DaemonAnswerError) && (errnoCode(err) === 'ECONNRESET' || errnoCode(err) === 'EPIPE');

/**
 * One request to the daemon. An idempotent one (every GET, and those the caller says are) is sent again once
 * when the connection dropped before any answer, instead of surfacing a raw "socket hang up".
 */
async function call<T>(home: MoatHome, method: string, path: string, timeoutMs = 2000, idempotent = method === 'GET', body?: string): Promise<T> {
  try {
    return await callOnce<T>(home, method, path, timeoutMs, body);
  } catch (err) {
    if (!idempotent || !dropped(err)) throw err;
    return callOnce<T>(home, method, path, timeoutMs, body);
  }
}

function callOnce<T>(home: MoatHome, method: string, path: string, timeoutMs: number, body?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    // servername '': no TLS here; spares the agent's IP check of the host (a costly first call, engine-api.ts).
    const req = request({ socketPath: daemonSocket(home), method, path, timeout: timeoutMs, ...NO_SERVERNAME }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 300) reject(new DaemonAnswerError(res.statusCode ?? 500, body));
        else {
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(err as Error);
          }
        }
      });
    });
    req.on('timeout', () => req.destroy(new SystemLikeError('the daemon did not answer in time', 'ETIMEDOUT')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function daemonHealth(home: MoatHome): Promise<DaemonHealth | undefined> {
  const s = await daemonState(home);
  return s.kind === 'up' ? s.health : undefined;
}

/**
 * What the control socket says: a daemon that answers, one that is handing over to its successor, one that
 * took the connection but did not answer (busy, or stopped with SIGSTOP: alive all the same), or nobody.
 */
export type DaemonState = { kind: 'up'; health: DaemonHealth } | { kind: 'leaving' } | { kind: 'silent' } | { kind: 'absent' };

export async function daemonState(home: MoatHome, timeoutMs = 2000): Promise<DaemonState> {
  try {
    return { kind: 'up', health: await call<DaemonHealth>(home, 'GET', '/health', timeoutMs) };
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') return { kind: 'absent' };
    if (isLeaving(err)) return { kind: 'leaving' };
    return (await probeSocket(daemonSocket(home))) === 'listening' ? { kind: 'silent' } : { kind: 'absent' };
  }
}

function busyWaitMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.MOAT_DAEMON_BUSY_WAIT_MS);
  return Number.isFinite(v) && v >= 0 ? v : 15_000;
}

async function busyError(home: MoatHome, waitedMs: number): Promise<MoatError> {
  const holder = await daemonLockHolder(home);
  const who = holder ? `pid ${holder.pid}` : 'its process';
  return new MoatError(`The moat daemon is busy: ${who} holds this home but did not answer for ${Math.round(waitedMs / 1000)} s.`, {
    code: 'E_DAEMON',
    hint: `Try again in a moment. If it stays stuck, see ${daemonLog(home)}${holder ? ` or end it with \`kill ${holder.pid}\` (the next command starts a new one, which takes its runs over)` : ''}.`,
  });
}

/**
 * Wait (up to `timeoutMs`) until this home's daemon follows none of `ids`: once it lets a run go it has
 * recorded the exit and closed the run's audit log, and writes nothing more into the run's directory. A
 * daemon that is absent or does not answer follows nothing this process can wait for.
 */
export async function waitReleased(home: MoatHome, ids: readonly string[], timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await daemonState(home, 1000);
    if (s.kind !== 'up' || !s.health.runs.some((id) => ids.includes(id))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** Stop this home's daemon; its live runs lose their gateway until a daemon runs again. */
export async function stopDaemon(home: MoatHome, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const s = await daemonState(home);
  if (s.kind === 'silent') throw await busyError(home, 2000);
  if (s.kind !== 'up') return false;
  await call(home, 'POST', '/shutdown').catch(() => undefined);
  const deadline = Date.now() + busyWaitMs(env);
  while (Date.now() < deadline && (await daemonState(home, 500)).kind !== 'absent') await sleep(20);
  // Its socket goes first; the process still lets go of its lock (and may write its code cache) after.
  while (Date.now() < deadline && !processGone(s.health.pid)) await sleep(10);
  return true;
}

/**
 * Replace this home's daemon without a gap: the old one lets go of the home, the new one takes each live
 * run's gateway socket over (renamed over the old one), and only then does the old one stop serving.
 */
export async function restartDaemon(home: MoatHome, env: NodeJS.ProcessEnv = process.env): Promise<DaemonHealth> {
  const s = await daemonState(home);
  if (s.kind === 'silent') throw await busyError(home, 2000);
  if (s.kind === 'up') await askHandOver(home, s.health.pid);
  return ensureDaemon(home, env, s.kind === 'up' ? s.health.pid : undefined);
}

/**
 * Ask daemon `pid` to hand its runs over, and confirm it heard: it answers, or (the connection dropped
 * before any answer, which may mean it never read the request) a look shows it leaving, gone or
 * replaced. One still serving as before is asked once more, then the restart stops with one sentence
 * instead of waiting for a successor that could never take the home.
 */
async function askHandOver(home: MoatHome, pid: number): Promise<void> {
  for (let asked = 1; ; asked++) {
    try {
      await callOnce(home, 'POST', '/shutdown?handover=1', 2000);
      return;
    } catch (err) {
      if (!dropped(err)) throw transportError(err, home, 'when asked to hand its runs over');
      const now = await daemonState(home);
      if (now.kind !== 'up' || now.health.pid !== pid) return;
      if (asked >= 2) throw transportError(err, home, 'when asked to hand its runs over');
    }
  }
}

/**
 * Make sure this home's daemon runs and return its health. One daemon per home: a daemon that holds the
 * home is never replaced while it lives (a busy or stopped one is waited for, then reported), a spawn
 * lock serialises starts, and the daemon itself refuses to run when another holds the home's lock.
 */
export async function ensureDaemon(home: MoatHome, env: NodeJS.ProcessEnv = process.env, notPid?: number, first?: Promise<DaemonState>): Promise<DaemonHealth> {
  const started = Date.now();
  const deadline = started + busyWaitMs(env);
  // `first`: a look the caller has already taken (and reads itself); later looks are this loop's own.
  for (let spawned = 0, look = first; ; look = undefined) {
    const s = await (look ?? daemonState(home));
    if (s.kind === 'up' && s.health.pid !== notPid) {
      if (s.health.protocol === DAEMON_PROTOCOL && s.health.version === BUILD) return s.health;
      // An older daemon: it hands its runs over to one of this version.
      await call(home, 'POST', '/shutdown?handover=1').catch(() => undefined);
      notPid = s.health.pid;
      continue;
    }
    const holder = s.kind === 'absent' || s.kind === 'leaving' ? await daemonLockHolder(home) : undefined;
    if ((s.kind === 'absent' || s.kind === 'leaving') && !holder && spawned < 3) {
      spawned++;
      await spawnDaemon(home, env, notPid);
      continue;
    }
    if (Date.now() >= deadline) {
      if (s.kind === 'silent' || holder) throw await busyError(home, Date.now() - started);
      throw new MoatError('The moat daemon did not start.', { code: 'E_DAEMON', hint: `See its log: ${daemonLog(home)}` });
    }
    await sleep(100); // a busy daemon, or one that is starting (it holds the lock, its socket is not bound yet)
  }
}

/** The daemon's entry (launch.ts: the bundled daemon through its code cache, else main.ts's compiled file). */
function daemonEntry(): string {
  return fileURLToPath(new URL('./launch.js', import.meta.url));
}

async function spawnDaemon(home: MoatHome, env: NodeJS.ProcessEnv, notPid: number | undefined): Promise<void> {
  mkdirSync(home.daemonDir, { recursive: true, mode: 0o700 });
  await withLock(
    join(home.daemonDir, 'spawn'),
    async () => {
      const again = await daemonState(home);
      if ((again.kind === 'up' && again.health.pid !== notPid) || again.kind === 'silent' || (await daemonLockHolder(home))) return;
      // The daemon's own entry; `__daemon` tags the process for daemonLockHolder (lock.ts).
      const main = daemonEntry();
      const out = openSync(daemonLog(home), 'a', 0o600);
      const child = spawn(process.execPath, [main, '__daemon'], {
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...env, MOAT_HOME: home.root },
      });
      child.unref();
      closeSync(out);
      for (let i = 0; i < 250; i++) {
        const up = await daemonState(home, 1000);
        if (up.kind === 'up' && up.health.pid !== notPid) return;
        if (child.exitCode !== null) return; // it found another daemon holding the home, or failed: the caller looks again
        await sleep(20);
      }
    },
    30_000,
  );
}

/**
 * A daemon that died (killed, crashed) leaves its live runs unrecorded: the next command that looks at runs
 * starts a new one, which resumes each run's output from where the record ends and closes what it cannot.
 */
export async function resumeOrphanedRuns(home: MoatHome, hasLiveRuns: () => Promise<boolean>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if ((await daemonState(home, 1000)).kind !== 'absent' || (await daemonLockHolder(home))) return;
  if (!(await hasLiveRuns())) return;
  await ensureDaemon(home, env).catch(() => undefined); // the command itself goes on either way
}

/** Ask the daemon following a live run to put the snapshots recorded on it into its audit log; false when it could not. */
export async function auditLiveSnapshots(home: MoatHome, id: string): Promise<boolean> {
  try {
    return (await call<{ audited?: boolean }>(home, 'POST', `/runs/${id}/snapshots-audit`, 10_000)).audited === true;
  } catch {
    return false;
  }
}

/**
 * Ask the daemon to snapshot a workspace (the pre-run snapshot: its code is warm and it keeps the last
 * manifest in memory). Throws a MoatError when the snapshot itself failed; any other error means the
 * daemon could not be asked (the caller takes the snapshot itself then).
 */
export async function daemonSnapshot<T>(home: MoatHome, request: unknown): Promise<T> {
  try {
    // A first snapshot of a large workspace takes a while; a daemon that dies meanwhile drops the connection.
    return await call<T>(home, 'POST', '/snapshots', 30 * 60_000, true, JSON.stringify(request));
  } catch (err) {
    if (err instanceof DaemonAnswerError && err.status === 422) {
      const doc = MoatError.fromDocument((JSON.parse(err.body) as { error?: unknown }).error);
      if (doc) throw doc;
    }
    throw err;
  }
}

/** Hand a created run to the daemon; it answers once the run's gateway listens. */
export async function watchRun(home: MoatHome, id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Idempotent: the daemon takes a run over once however often it is asked (supervisor.register).
  try {
    await call(home, 'POST', `/runs/${id}/watch`, 30_000, true);
  } catch (err) {
    const code = errnoCode(err);
    const leaving = isLeaving(err);
    if (code !== 'ENOENT' && code !== 'ECONNREFUSED' && !leaving) throw daemonError(err, home);
    // The daemon went away between our health check and now (idle exit, restart): start it and retry once.
    await ensureDaemon(home, env);
    await call(home, 'POST', `/runs/${id}/watch`, 30_000, true).catch((e: unknown) => {
      throw daemonError(e, home);
    });
  }
}

/** A connection to the daemon that dropped, timed out or failed, as one sentence with where to look and what to run. */
function transportError(err: unknown, home: MoatHome, doing: string): Error {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  const what = dropped(err)
    ? `dropped the connection (${code})`
    : code === 'ETIMEDOUT'
      ? 'did not answer in time'
      : `could not be asked (${code ?? (err instanceof Error ? err.message : String(err))})`;
  return new MoatError(`The moat daemon ${what} ${doing}.`, {
    code: 'E_DAEMON',
    hint: `Run it again; if it happens again, see ${daemonLog(home)} and run moat proxy restart.`,
    cause: err,
  });
}

/**
 * The daemon's refusal (a bad grant, …) as a user-facing error, with the daemon's code and hint; a
 * connection that dropped or timed out as one sentence saying so, with where to look and what to run.
 */
function daemonError(err: unknown, home: MoatHome): Error {
  if (!(err instanceof DaemonAnswerError)) return transportError(err, home, 'while taking the run over, so its gateway did not start');
  let doc: unknown;
  try {
    doc = (JSON.parse(err.body) as { error?: unknown }).error;
  } catch {
    doc = undefined;
  }
  const refused = MoatError.fromDocument(doc);
  if (refused) return new MoatError(`The run's gateway could not start: ${refused.message}`, { code: refused.code, hint: refused.hint });
  return new MoatError(`The run's gateway could not start: ${err.body || `HTTP ${err.status}`}`, { code: 'E_DAEMON' });
}

/** The spare the daemon holds for this plan key, handed over (never to anyone else); none: undefined. */
export async function claimSpare(home: MoatHome, key: string): Promise<SpareView | undefined> {
  try {
    return (await call<{ spare?: SpareView }>(home, 'POST', '/spares/claim', 5000, false, JSON.stringify({ key, pid: process.pid, pidNs: pidNamespace() })))
      .spare;
  } catch {
    return undefined; // no daemon, an older one, or an error: the run creates its own container
  }
}

/** Let a claimed spare's moat-init go on to the run's command (written in its stage first). */
export async function goSpare(home: MoatHome, id: string): Promise<void> {
  try {
    // Long: a go the daemon sent but answered late would have the run discarded while its command runs.
    await call(home, 'POST', `/runs/${id}/go`, 60_000, false);
  } catch (err) {
    if (err instanceof DaemonAnswerError && err.status === 409) {
      throw new MoatError(
        'The container prepared for this run stopped waiting before the run could start in it (its wait has a 30-minute bound, and a daemon restart ends it).',
        {
          code: 'E_DAEMON',
          hint: 'Run it again.',
        },
      );
    }
    throw transportError(err, home, 'while starting the run in its prepared container');
  }
}
