import { MoatError, errnoCode } from '../../errors.js';

export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST && env.DOCKER_HOST.length > 0 ? env.DOCKER_HOST : 'unix:///var/run/docker.sock';
}

export function statusCode(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Whether `err` says the engine cannot be reached at all (as opposed to refusing one request). */
export function isEngineUnreachable(err: unknown): boolean {
  return err instanceof MoatError && err.exitCode === 125 && UNREACHABLE.has(errnoCode(err.cause) ?? '');
}

/** Turn an engine failure into one sentence a user can act on. */
export function dockerError(err: unknown, what: string): Error {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  if (UNREACHABLE.has(code ?? '')) {
    const perm = code === 'EACCES';
    return new MoatError(
      perm
        ? `Permission denied talking to the Docker engine at ${engineAddress()}.`
        : `Cannot reach the Docker engine at ${engineAddress()} (${code}).`,
      {
        hint: perm
          ? 'Add yourself to the docker group: sudo usermod -aG docker $USER (then log in again).'
          : 'Start it with: sudo systemctl start docker (or bash scripts/setup.sh), or set DOCKER_HOST.',
        exitCode: 125,
        cause: err,
      },
    );
  }
  const json = (err as { json?: { message?: string } } | undefined)?.json;
  const message = json?.message ?? (err instanceof Error ? err.message : String(err));
  return new MoatError(`Docker could not ${what}: ${message.trim()}`, { exitCode: 125, cause: err });
}
