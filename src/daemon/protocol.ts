import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';

export const DAEMON_PROTOCOL = 1;

export interface DaemonHealth {
  protocol: number;
  version: string;
  pid: number;
  startedAt: string;
  runs: string[];
}

export function daemonSocket(home: MoatHome): string {
  return join(home.daemonDir, 'daemon.sock');
}

export function daemonLog(home: MoatHome): string {
  return join(home.daemonDir, 'daemon.log');
}
