import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MoatHome } from '../home/paths.js';
import { withLock } from '../home/fs.js';
import { MoatError, errnoCode } from '../errors.js';
import { BUILD } from '../version.js';
import { DAEMON_PROTOCOL, daemonLog, daemonSocket, type DaemonHealth } from './protocol.js';
import { join } from 'node:path';

function call<T>(home: MoatHome, method: string, path: string, timeoutMs = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: daemonSocket(home), method, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`daemon answered ${res.statusCode}: ${body}`));
        else {
          try { resolve(JSON.parse(body) as T); } catch (err) { reject(err as Error); }
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('daemon did not answer in time')));
    req.on('error', reject);
    req.end();
  });
}

export async function daemonHealth(home: MoatHome): Promise<DaemonHealth | undefined> {
  try {
    return await call<DaemonHealth>(home, 'GET', '/health');
  } catch {
    return undefined;
  }
}

export async function stopDaemon(home: MoatHome): Promise<boolean> {
  const h = await daemonHealth(home);
  if (!h) return false;
  await call(home, 'POST', '/shutdown').catch(() => undefined);
  for (let i = 0; i < 100 && (await daemonHealth(home)); i++) await new Promise((r) => setTimeout(r, 20));
  return true;
}

/** Make sure this home's daemon runs (one per home: a spawn lock guards the start), and return its health. */
export async function ensureDaemon(home: MoatHome, env: NodeJS.ProcessEnv = process.env): Promise<DaemonHealth> {
  const h = await daemonHealth(home);
  if (h && h.protocol === DAEMON_PROTOCOL && h.version === BUILD) return h;
  mkdirSync(home.daemonDir, { recursive: true, mode: 0o700 });
  return withLock(join(home.daemonDir, 'spawn'), async () => {
    const again = await daemonHealth(home);
    if (again && again.protocol === DAEMON_PROTOCOL && again.version === BUILD) return again;
    if (again) await stopDaemon(home); // an older daemon: replace it
    const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const out = openSync(daemonLog(home), 'a', 0o600);
    const child = spawn(process.execPath, [main, '__daemon'], {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...env, MOAT_HOME: home.root },
    });
    child.unref();
    closeSync(out);
    for (let i = 0; i < 250; i++) {
      const up = await daemonHealth(home);
      if (up) return up;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new MoatError('The moat daemon did not start.', { hint: `See its log: ${daemonLog(home)}` });
  }, 30_000);
}

/** Hand a created run to the daemon; it answers once the run's gateway listens. */
export async function watchRun(home: MoatHome, id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await call(home, 'POST', `/runs/${id}/watch`, 30_000);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw daemonError(err);
    // The daemon went away between our health check and now (idle exit, restart): start it and retry once.
    await ensureDaemon(home, env);
    await call(home, 'POST', `/runs/${id}/watch`, 30_000).catch((e: unknown) => { throw daemonError(e); });
  }
}

/** The daemon's refusal (a bad grant, …) as a user-facing error. */
function daemonError(err: unknown): Error {
  const m = /^daemon answered \d+: (.*)$/s.exec(err instanceof Error ? err.message : '');
  if (!m?.[1]) return err instanceof Error ? err : new Error(String(err));
  try {
    const body = JSON.parse(m[1]) as { error?: string; hint?: string };
    return new MoatError(`The run's gateway could not start: ${body.error ?? 'unknown error'}`, body.hint ? { hint: body.hint } : {});
  } catch {
    return new MoatError(`The run's gateway could not start: ${m[1]}`);
  }
}
