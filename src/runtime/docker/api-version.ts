import { MoatError } from '../../errors.js';

/**
 * The Engine API versions moat speaks. Every request is sent as `/v<version>/…` so an engine answers
 * with the semantics of a version moat knows, whatever its own age.
 *
 * MIN_API 1.40 (Docker 19.03): what moat needs arrived by 1.30 (`wait?condition=next-exit`, the build's
 * `aux` image ID) and 1.25 (`networkmode` for builds, `Init`); 1.40 is the oldest version Docker's own
 * client and current engines still accept by default, so it is the oldest worth claiming.
 *
 * MAX_API 1.55: the Engine API changelog (moby api/docs/CHANGELOG.md) was read up to 1.55 for every
 * endpoint and field moat uses; nothing changed for them but optional fields (image Config.Env/Labels
 * may be omitted from 1.52) and the deprecated `error` field of build output (`errorDetail` is read first).
 *
 * The version used is the engine's newest, capped at MAX_API. A fixed version will not do: Docker
 * 29.0–29.2 refuse anything older than 1.44, and Docker 20.10 (what this is tested on) knows nothing
 * newer than 1.41.
 */
export const MIN_API = '1.40';
export const MAX_API = '1.55';

/** Compare "1.41"-style versions numerically (1.9 < 1.41). */
export function compareApi(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const API_RE = /^\d+\.\d+$/;

/** The version to speak to an engine whose newest is `engineMax`; a clear error when it is too old. */
export function chooseApi(engineMax: string, address: string): string {
  if (!API_RE.test(engineMax)) {
    throw new MoatError(`The Docker engine at ${address} reported an API version moat cannot read (${JSON.stringify(engineMax.slice(0, 40))}).`, {
      code: 'E_ENGINE',
      hint: 'Check that DOCKER_HOST points at a Docker Engine (or a Docker-compatible engine such as Podman).',
      exitCode: 125,
    });
  }
  if (compareApi(engineMax, MIN_API) < 0) {
    throw new MoatError(`The Docker engine at ${address} speaks API ${engineMax}; moat needs ${MIN_API} or newer (Docker 19.03+).`, {
      code: 'E_ENGINE',
      hint: 'Upgrade Docker Engine (https://docs.docker.com/engine/install/), or point DOCKER_HOST at a newer engine.',
      exitCode: 125,
    });
  }
  return compareApi(engineMax, MAX_API) < 0 ? engineMax : MAX_API;
}

/** The engine's answer to a version it no longer accepts: "client version 1.55 is too old. Minimum supported API version is 1.60, …". */
export function engineTooNew(message: string, address: string): MoatError | undefined {
  const m = /client version (\S+) is too old\. Minimum supported API version is (\d+\.\d+)/.exec(message);
  if (!m) return undefined;
  return new MoatError(`The Docker engine at ${address} needs API ${m[2] ?? '?'} or newer; this moat speaks up to ${MAX_API}.`, {
    code: 'E_ENGINE',
    hint: `Update moat, or start the engine with DOCKER_MIN_API_VERSION=${MAX_API} in its environment.`,
    exitCode: 125,
  });
}
