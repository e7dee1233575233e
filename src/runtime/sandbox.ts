/**
 * Which OCI runtime a run's container gets: gVisor's `runsc` (a user-space kernel between the run and
 * the host's) when the engine has it registered, else runc (the host's kernel, namespaces only). The
 * choice is made from the engine's registered runtimes (`GET /info`), never assumed.
 */
import { MoatError } from '../errors.js';
import type { EngineName } from './engine.js';

export const SANDBOXES = ['gvisor', 'runc'] as const;
export type Sandbox = (typeof SANDBOXES)[number];

export const isSandbox = (v: unknown): v is Sandbox => typeof v === 'string' && (SANDBOXES as readonly string[]).includes(v);

/** A registered runtime as the engine lists it. */
export interface EngineRuntimeInfo {
  path?: string;
  runtimeArgs?: string[];
}

/**
 * The runsc arguments moat's transport needs: runsc refuses to start in the host's network namespace
 * without `--network=none`, and without `--host-uds=open` a process inside cannot connect to the
 * gateway's unix socket in the bind-mounted /moat/net folder.
 */
export const RUNSC_ARGS = ['--network=none', '--host-uds=open'] as const;

/** The daemon.json entry that registers runsc as moat needs it. */
export const RUNSC_DAEMON_JSON = `{"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["${RUNSC_ARGS.join('","')}"]}}}`;

/**
 * How to get gVisor: the set-up script, or the same steps by hand. runsc 20240729 or newer: Debian 12's own
 * (20221219) answers EINVAL to statx, so ls and stat fail inside it; bookworm-backports has 20240729.
 */
export const GVISOR_FIX = `sudo bash scripts/setup.sh, or by hand: install runsc 20240729 or newer (Debian 12: sudo apt-get install -t bookworm-backports runsc), merge ${RUNSC_DAEMON_JSON} into /etc/docker/daemon.json and reload the engine (sudo kill -HUP $(pidof dockerd))`;

/**
 * Podman lists a runsc it knows of (in its compat `GET /info`) but its API cannot give it runtime arguments
 * (containers.conf names a runtime by its path only; `--runtime-flag` on the service would reach runc too),
 * and runsc without them cannot start a moat run: gVisor is Docker-only.
 */
export const PODMAN_NO_GVISOR = "gVisor is Docker-only: Podman's API cannot give runsc the runtime arguments moat's transport needs";

/** How to get gVisor on this engine. */
export const gvisorFix = (engine: EngineName = 'docker'): string =>
  engine === 'podman' ? 'run with Docker (engine: docker in ~/.moat/config.yaml, DOCKER_HOST unset) and sudo bash scripts/setup.sh' : GVISOR_FIX;

/** A registered runsc: its name with the engine and the arguments it lacks (none when it fits). */
export interface RunscRuntime {
  name: string;
  missingArgs: string[];
}

/** The engine's runsc, preferring one registered as moat needs it; undefined when there is none. */
export function findRunsc(runtimes: Record<string, EngineRuntimeInfo>): RunscRuntime | undefined {
  const found = Object.entries(runtimes)
    .filter(([name, r]) => name === 'runsc' || /(^|\/)runsc$/.test(r.path ?? ''))
    .map(([name, r]) => {
      const args = new Set(r.runtimeArgs ?? []);
      return { name, missingArgs: RUNSC_ARGS.filter((a) => !args.has(a)) };
    })
    .sort((a, b) => a.missingArgs.length - b.missingArgs.length);
  return found[0];
}

/** Where the sandbox asked for came from, for the error that names it. */
export type SandboxSource = '--sandbox' | 'MOAT_SANDBOX' | 'moat.yaml';

/** The sandbox of one run: what it is, the engine runtime to ask for, and why runc when it was not asked for. */
export interface SandboxChoice {
  sandbox: Sandbox;
  /** The engine's name of the runtime (HostConfig.Runtime); undefined: the engine's default (runc). */
  engineRuntime?: string;
  /** runc was chosen because gVisor is not usable here (nobody asked for runc): the reason, for a notice. */
  fallback?: string;
}

/**
 * The sandbox of a run. Asked for gVisor and it is not usable: an error with the fix, never a silent
 * fallback. Asked for nothing: gVisor when usable, else runc with the reason.
 */
export function chooseSandbox(
  requested: { sandbox: Sandbox; source: SandboxSource } | undefined,
  runtimes: Record<string, EngineRuntimeInfo>,
  defaultRuntime: string,
  address: string,
  engine: EngineName = 'docker',
): SandboxChoice {
  const runsc = engine === 'podman' ? undefined : findRunsc(runtimes);
  const problem =
    engine === 'podman'
      ? PODMAN_NO_GVISOR
      : !runsc
        ? `the engine at ${address} has no runsc runtime registered`
        : runsc.missingArgs.length > 0
          ? `the engine's runsc runtime "${runsc.name}" lacks the runtime arguments ${runsc.missingArgs.join(' ')} the gateway transport needs`
          : undefined;
  if (requested?.sandbox === 'runc') {
    // runc by name; on an engine whose default is another runtime, ask for runc explicitly.
    return { sandbox: 'runc', ...(defaultRuntime !== 'runc' && 'runc' in runtimes ? { engineRuntime: 'runc' } : {}) };
  }
  if (runsc && !problem) return { sandbox: 'gvisor', engineRuntime: runsc.name };
  if (requested) {
    throw new MoatError(`gVisor was asked for (${requested.source}) but ${problem}.`, {
      code: 'E_ENGINE',
      hint:
        engine === 'podman'
          ? `For gVisor, ${gvisorFix(engine)}; or run under runc with --sandbox runc.`
          : `Install and register it: ${GVISOR_FIX}; or run under runc with --sandbox runc.`,
    });
  }
  return { sandbox: 'runc', fallback: problem ?? 'gVisor is not available' };
}

/** The one-line notice for a run that falls back to runc (said once per home, and by status and doctor). */
export function runcNotice(reason: string, engine: EngineName = 'docker'): string {
  return `Runs use runc and share this host's kernel: ${reason}. For gVisor isolation: ${gvisorFix(engine)}.`;
}
