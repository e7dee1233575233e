import { MoatError, errnoCode } from '../../errors.js';
import { engineTooNew } from './api-version.js';
import { PODMAN_SERVICE_FIX, type EngineName } from '../engine.js';

export function statusCode(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Whether `err` says the engine cannot be reached at all (as opposed to refusing one request): told by its code. */
export function isEngineUnreachable(err: unknown): boolean {
  return err instanceof MoatError && err.code === 'E_ENGINE_UNREACHABLE';
}

/**
 * Turn an engine failure into one sentence a user can act on; `address` names the engine (DOCKER_HOST),
 * `engine` which one it is (or is expected to be), for the wording and the fix.
 */
export function dockerError(err: unknown, what: string, address: string, engine?: EngineName): Error {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  const podman = engine === 'podman';
  const name = podman ? 'Podman' : 'Docker';
  if (UNREACHABLE.has(code ?? '')) {
    const perm = code === 'EACCES';
    return new MoatError(perm ? `Permission denied talking to the ${name} engine at ${address}.` : `Cannot reach the ${name} engine at ${address} (${code}).`, {
      code: 'E_ENGINE_UNREACHABLE',
      hint: podman
        ? `Start Podman's API socket: ${PODMAN_SERVICE_FIX}`
        : perm
          ? 'Add yourself to the docker group: sudo usermod -aG docker $USER (then log in again).'
          : 'Start it with: sudo systemctl start docker (or bash scripts/setup.sh), or set DOCKER_HOST.',
      exitCode: 125,
      cause: err,
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new MoatError(`The ${name} engine at ${address} dropped the connection while moat tried to ${what} (${code}).`, {
      code: 'E_ENGINE',
      hint: podman
        ? 'Run the command again; if it keeps happening, check the service: systemctl status podman.socket'
        : 'Run the command again; if it keeps happening, check the engine: sudo systemctl status docker (and journalctl -u docker).',
      exitCode: 125,
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (statusCode(err) === 400) {
    const tooNew = engineTooNew(message, address);
    if (tooNew) return tooNew;
  }
  if (podman && /error setting rlimit/.test(message)) {
    // Rootful Podman raises every container's open-file and process limits to the maximum; a host that
    // does not let root raise them (no CAP_SYS_RESOURCE) needs lower defaults.
    return new MoatError(`Podman could not ${what}: this host does not let it raise the container's resource limits (${message.trim().slice(0, 200)}).`, {
      code: 'E_ENGINE',
      hint: 'Run sudo bash scripts/setup.sh (it sets default_ulimits in /etc/containers/containers.conf.d/moat-ulimits.conf and restarts the API service it started; restart one you started yourself).',
      exitCode: 125,
      cause: err,
    });
  }
  return new MoatError(`${name} could not ${what}: ${message.trim()}`, { code: 'E_ENGINE', exitCode: 125, cause: err });
}
