/**
 * What vitest.config.ts asks the engines before it lists the e2e projects: whether the Docker engine has a
 * runsc registered as moat needs it (then the suite runs under gVisor), and whether Podman's API socket
 * answers (then the Podman project runs). One HTTP request each over the engine's socket, with a short time
 * limit: no engine at all costs a refused connection, not a wait.
 */
import { request } from 'node:http';
import { podmanSocket } from '../../src/runtime/engine.js';
import { findRunsc, type EngineRuntimeInfo } from '../../src/runtime/sandbox.js';

/** Podman's API socket as moat finds it (rootful for root, the user's own otherwise). */
export const PODMAN_SOCKET = podmanSocket(process.env);

type Target = { socketPath: string } | { host: string; port: number };

/** The engine the e2e project talks to: DOCKER_HOST (unix:// or tcp://), else Docker's default socket. */
function dockerTarget(dh = process.env.DOCKER_HOST): Target {
  if (dh?.startsWith('unix://')) return { socketPath: dh.slice('unix://'.length) };
  if (dh?.startsWith('tcp://')) {
    const u = new URL(dh.replace(/^tcp:/, 'http:'));
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 2375) };
  }
  return { socketPath: '/var/run/docker.sock' };
}

/** GET `path` from an engine: the status, Podman's API header and the body; undefined when it does not answer. */
function get(target: Target, path: string, timeoutMs = 3000): Promise<{ status: number; podman: boolean; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ ...target, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 1 << 20) body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, podman: res.headers['libpod-api-version'] !== undefined, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Whether the e2e project's engine has gVisor as moat needs it (a runsc with the transport's arguments). */
export async function engineHasRunsc(): Promise<boolean> {
  const r = await get(dockerTarget(), '/info');
  if (!r || r.status !== 200 || r.podman) return false;
  try {
    const runtimes = (JSON.parse(r.body) as { Runtimes?: Record<string, EngineRuntimeInfo> | null }).Runtimes ?? {};
    const runsc = findRunsc(runtimes);
    return runsc !== undefined && runsc.missingArgs.length === 0;
  } catch {
    return false;
  }
}

/** Whether Podman's API socket answers its ping. */
export async function podmanAnswers(): Promise<boolean> {
  const r = await get({ socketPath: PODMAN_SOCKET }, '/_ping');
  return r?.status === 200 && r.podman;
}

/** The projects named with --project (or --project=NAME) on vitest's command line; empty: all of them. */
export function requestedProjects(argv: string[] = process.argv): string[] {
  const names: string[] = [];
  argv.forEach((a, i) => {
    if (a === '--project' && argv[i + 1] !== undefined) names.push(argv[i + 1] as string);
    else if (a.startsWith('--project=')) names.push(a.slice('--project='.length));
  });
  return names;
}
