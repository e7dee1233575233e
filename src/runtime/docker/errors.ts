import { MoatError, errnoCode } from '../../errors.js';

export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST && env.DOCKER_HOST.length > 0 ? env.DOCKER_HOST : 'unix:///var/run/docker.sock';
}

export function statusCode(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Turn an engine failure into one sentence a user can act on. */
export function dockerError(err: unknown, what: string): Error {
  if (err instanceof MoatError) return err;
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH') {
    const perm = code === 'EACCES';
    return new MoatError(
      perm
        ? `Permission denied talking to the Docker engine at ${engineAddress()}.`
        : `Cannot reach the Docker engine at ${engineAddress()} (${code}).`,
      {
        code: 'E_ENGINE_UNREACHABLE',
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
  return new MoatError(`Docker could not ${what}: ${message.trim()}`, { code: 'E_ENGINE', exitCode: 125, cause: err });
}
