/** The JSON shapes several commands share (docs/json.md): the engine and the daemon as `status`, `version` and `proxy status` show them. */
import type { ContainerRuntime } from '../runtime/types.js';
import type { EngineName } from '../runtime/engine.js';
import type { MoatHome } from '../home/paths.js';
import { errorDocument, type ErrorDocument } from '../errors.js';
import type { DaemonHealth } from '../daemon/protocol.js';
import { daemonLog } from '../daemon/protocol.js';

/** `name`: which engine answered (docker, or podman through its Docker-compatible API); `version` is its own. */
export type EngineView =
  { reachable: true; name: EngineName; version: string; api: string; os: string; arch: string } | { reachable: false; error: ErrorDocument };

export async function engineView(runtime: () => ContainerRuntime): Promise<EngineView> {
  try {
    const v = await runtime().version();
    return { reachable: true, name: v.product ?? 'docker', version: v.engine, api: v.api, os: v.os, arch: v.arch };
  } catch (err) {
    return { reachable: false, error: errorDocument(err) };
  }
}

export type DaemonView = { running: false } | { running: true; pid: number; version: string; startedAt: string; runs: string[]; spares: number; log: string };

export function daemonView(h: DaemonHealth | undefined, home: MoatHome): DaemonView {
  return h
    ? { running: true, pid: h.pid, version: h.version, startedAt: h.startedAt, runs: h.runs, spares: h.spares ?? 0, log: daemonLog(home) }
    : { running: false };
}
