import { MoatError } from '../../errors.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** Where the engine listens, and how to name it in a message. */
export type EngineEndpoint = { socketPath: string; address: string } | { host: string; port: number; address: string };

/**
 * The one reading of DOCKER_HOST (unix:// or tcp://; unset or empty means the default socket). Everything
 * that talks to the engine or names it in a message goes through here.
 */
export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const dh = env.DOCKER_HOST;
  if (!dh) return { socketPath: DEFAULT_SOCKET, address: `unix://${DEFAULT_SOCKET}` };
  if (dh.startsWith('unix://')) {
    const socketPath = dh.slice('unix://'.length);
    if (socketPath.length > 0) return { socketPath, address: dh };
  } else if (dh.startsWith('tcp://')) {
    if (env.DOCKER_TLS_VERIFY) {
      throw new MoatError('DOCKER_HOST with DOCKER_TLS_VERIFY (TLS to the engine) is not supported yet.', {
        code: 'E_ENGINE_UNREACHABLE',
        hint: 'Use a unix socket, or an ssh tunnel to one, and point DOCKER_HOST at it.',
      });
    }
    let u: URL | undefined;
    try {
      u = new URL(dh.replace(/^tcp:/, 'http:'));
    } catch {
      u = undefined;
    }
    if (u && u.hostname.length > 0) {
      // URL keeps the brackets of an IPv6 literal; node:http wants the bare address.
      return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 2375), address: dh };
    }
  }
  throw new MoatError(`DOCKER_HOST=${dh} is not supported (only unix:///path and tcp://host:port).`, {
    code: 'E_ENGINE_UNREACHABLE',
    hint: "Unset DOCKER_HOST, or point it at the engine's socket, e.g. DOCKER_HOST=unix:///var/run/docker.sock",
  });
}
