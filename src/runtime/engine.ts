/**
 * Which container engine moat talks to: Docker Engine, or Podman through its Docker-compatible API
 * (`podman system service`). The engine is told by what it answers (Podman's ping carries a
 * `Libpod-Api-Version` header; its `GET /version` lists a "Podman Engine" component), never by the
 * socket's name; `engine:` in ~/.moat/config.yaml says which one the user expects, and a run refuses
 * an engine that is not it.
 */
import { MoatError } from '../errors.js';

export const ENGINES = ['docker', 'podman'] as const;
export type EngineName = (typeof ENGINES)[number];

export const isEngineName = (v: unknown): v is EngineName => typeof v === 'string' && (ENGINES as readonly string[]).includes(v);

/** How an engine is named in messages. */
export const engineLabel = (e: EngineName): string => (e === 'podman' ? 'Podman' : 'Docker');

/** The engine behind a `/_ping` answer, from its headers. */
export function engineFromPing(headers: Record<string, string | string[] | undefined>): EngineName {
  return headers['libpod-api-version'] !== undefined ? 'podman' : 'docker';
}

/** The engine and its product version from a `GET /version` answer (Podman lists itself as a component). */
export function engineFromVersion(v: { Version?: string; Components?: Array<{ Name?: string; Version?: string }> | null }): {
  engine: EngineName;
  version: string;
} {
  const podman = (v.Components ?? []).find((c) => /^podman( engine)?$/i.test(c.Name ?? ''));
  return podman ? { engine: 'podman', version: podman.Version ?? v.Version ?? '?' } : { engine: 'docker', version: v.Version ?? '?' };
}

/** Podman's API socket: the rootful one for root, the user's own (rootless) one otherwise. */
export function podmanSocket(env: NodeJS.ProcessEnv, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0 || uid === undefined) return '/run/podman/podman.sock';
  return `${env.XDG_RUNTIME_DIR || `/run/user/${uid}`}/podman/podman.sock`;
}

/** How to start Podman's API socket (as setup.sh does). */
export const PODMAN_SERVICE_FIX = 'sudo bash scripts/setup.sh, or by hand: sudo podman system service --time=0 unix:///run/podman/podman.sock &';

/** The engine that answered is not the one ~/.moat/config.yaml names: refused, never used instead. */
export function engineMismatch(expected: EngineName, found: EngineName, address: string): MoatError {
  return new MoatError(`~/.moat/config.yaml sets engine: ${expected}, but the engine at ${address} is ${engineLabel(found)}.`, {
    code: 'E_ENGINE',
    hint:
      expected === 'podman'
        ? `Point DOCKER_HOST at Podman's socket (e.g. unix:///run/podman/podman.sock; start it with ${PODMAN_SERVICE_FIX}), or remove engine: from ~/.moat/config.yaml.`
        : "Unset DOCKER_HOST (or point it at Docker's socket), or set engine: podman in ~/.moat/config.yaml.",
    exitCode: 125,
  });
}
