import { MoatError, errnoCode } from '../../errors.js';
import { engineTooNew } from './api-version.js';

export function statusCode(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Whether `err` says the engine cannot be reached at all (as opposed to refusing one request): told by its code. */
export function isEngineUnreachable(err: unknown): boolean {
  return err instanceof MoatError && err.code === 'E_ENGINE_UNREACHABLE';
}

/** Turn an engine failure into one sentence a user can act on; `address` names the engine (DOCKER_HOST). */
export function dockerError(err: unknown, what: string, address: string): Error {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  if (UNREACHABLE.has(code ?? '')) {
    const perm = code === 'EACCES';
    return new MoatError(perm ? `Permission denied talking to the Docker engine at ${address}.` : `Cannot reach the Docker engine at ${address} (${code}).`, {
      code: 'E_ENGINE_UNREACHABLE',
      hint: perm
        ? 'Add yourself to the docker group: sudo usermod -aG docker $USER (then log in again).'
        : 'Start it with: sudo systemctl start docker (or bash scripts/setup.sh), or set DOCKER_HOST.',
      exitCode: 125,
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (statusCode(err) === 400) {
    const tooNew = engineTooNew(message, address);
    if (tooNew) return tooNew;
  }
  return new MoatError(`Docker could not ${what}: ${message.trim()}`, { code: 'E_ENGINE', exitCode: 125, cause: err });
}
