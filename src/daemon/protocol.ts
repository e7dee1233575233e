import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import type { EngineRuntimes } from './engine-runtimes.js';

export const DAEMON_PROTOCOL = 1;

export interface DaemonHealth {
  protocol: number;
  version: string;
  pid: number;
  startedAt: string;
  runs: string[];
  /** Spares ready to be claimed (spares.ts); absent from an older daemon. */
  spares?: number;
  /** The engine's runtimes as the daemon follows them (engine-runtimes.ts); absent when it cannot vouch for them. */
  engine?: EngineRuntimes;
}

export function daemonSocket(home: MoatHome): string {
  return join(home.daemonDir, 'daemon.sock');
}

export function daemonLog(home: MoatHome): string {
  return join(home.daemonDir, 'daemon.log');
}
