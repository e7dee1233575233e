import type { NetworkPolicy } from '../network-policy.js';

/** The agents moat starts (`moat claude`, `moat codex`); each also has its own section in moat.yaml. */
export type AgentName = 'claude' | 'codex';

export type RunState = 'created' | 'starting' | 'running' | 'stopped' | 'failed';

export const LIVE_STATES: ReadonlySet<RunState> = new Set(['created', 'starting', 'running']);

export interface RunMetadata {
  id: string;
  name: string;
  workspace: string;
  /** What the container runs (an agent's command sits behind moat's prelude: see commandLine). */
  command: string[];
  /**
   * The command as the person typed it, for listings: `npm test` (moat.yaml's command), `claude -p 'fix it'`.
   * Absent in runs recorded before it existed, and when it is `command` itself (`moat run -- CMD`).
   */
  commandLine?: string;
  image: string;
  grants: string[];
  interactive: boolean;
  keep: boolean;
  traceBodies?: boolean;
  /** The host ssh-agent (SSH_AUTH_SOCK) the run's SSH grants sign with (a path, never a key). */
  sshAgentSocket?: string;
  /** The agent the run started (`moat claude` / `moat codex`). */
  agent?: AgentName;
  /** The container runtime the run got: gVisor's runsc or runc (absent in runs recorded before it existed). */
  sandbox?: 'gvisor' | 'runc';
  state: RunState;
  exitCode?: number;
  reason?: string;
  containerId?: string;
  createdAt: string;
  startedAt?: string;
  stoppedAt?: string;
  /** The cap on the run's stored output (bytes; container.log_limit, default 256 MiB). */
  logLimit?: number;
  /** The engine timestamp of the last output line recorded in logs.jsonl. */
  lastLogTs?: string;
  /** Network policy of the run's gateway (plain data; secrets are never stored here). */
  network?: NetworkPolicy;
  /** Host folders the run could write (the workspace and its writable mounts), swept when it ends. */
  writable?: string[];
  /** What the sweep for set-id files found when the run ended (daemon/setid-sweep.ts). */
  setIdSweep?: { stripped: string[]; remaining: string[]; truncated: boolean };
  /** Services reachable from the host as http(s)://NAME.RUN.localhost:ROUTING_PORT/ (moat.yaml ports:). */
  ports?: Record<string, number>;
  /** The home that owns the run (labels carry it too). */
  home: string;
}

/** One entry of logs.jsonl. */
export interface LogRecord {
  ts: string;
  stream: 'stdout' | 'stderr';
  line: string;
  /** A line longer than one entry holds: it continues in the next entry of the same stream (no newline). */
  cont?: true;
}
