import type { ConfigGuard } from './config-trust.js';
import type { HomeFile } from '../container/plan.js';
import type { Mount } from '../runtime/types.js';
import type { CpusSource } from './cpu-limit.js';
import type { SandboxRequest } from './sandbox-choice.js';
import type { AgentName } from '../store/types.js';
import type { NetworkPolicy } from '../network-policy.js';
import type { SecretSpec } from '../credentials/secrets/types.js';
import type { SnapshotSettings } from '../snapshot/limits.js';

/** Everything a run needs, after moat.yaml and flags are merged. */
export interface RunSpec {
  workspace: string;
  command: string[];
  /** The command as the person typed it, for listings (RunMetadata.commandLine). */
  commandLine?: string;
  env: Record<string, string>;
  mounts: Mount[];
  /** The real paths of the workspace and of moat.yaml's mount sources, checked again just before the start. */
  realSources?: string[];
  name?: string;
  interactive: boolean;
  detach: boolean;
  keep: boolean;
  rebuild: boolean;
  /** Record headers and the first bytes of bodies in the network trace. */
  traceBodies: boolean;
  grants: string[];
  /** moat.yaml's `secrets:` (resolved on the host just before the run is created). */
  secrets?: SecretSpec[];
  network: NetworkPolicy;
  baseImage: string;
  /** Files staged into the container user's home by moat-init (agent settings, never real secrets). */
  homeFiles: HomeFile[];
  /** Dockerfile text for dependency layers, appended after moat's own layer. */
  imageExtra: string;
  /** The hosts the image build may reach (its registries and downloads; build-hosts.ts). */
  imageHosts: string[];
  /** The agent the run starts (`moat claude` / `moat codex`), recorded on the run. */
  agent?: AgentName;
  memoryBytes?: number;
  nanoCpus?: number;
  /** Where the CPU limit was set (for the error when the engine has fewer CPUs). */
  cpusSource?: CpusSource;
  /** Most processes and threads in the container (always set: DEFAULT_PIDS when nothing says otherwise). */
  pidsLimit: number;
  /** Cap on the run's stored output (container.log_limit). */
  logLimitBytes?: number;
  /** moat.yaml's host-reaching settings, approved per workspace before a run starts (config-trust.ts). */
  configGuard?: ConfigGuard;
  approveConfig?: boolean;
  /** --allow-sensitive-workspace: run in a workspace holding keys or moat's home (which stays hidden). */
  allowSensitiveWorkspace?: boolean;
  /** Host folders outside the workspace that the run can write and host tools read (sync_logs). */
  hostReadFolders?: Array<{ dir: string; label: string }>;
  /** Services reachable from the host through the daemon's router (moat.yaml ports:, -p NAME=PORT). */
  ports?: Record<string, number>;
  /** Container paths covered by an empty read-only folder (moat's home inside the workspace). */
  hiddenPaths?: string[];
  /** The sandbox asked for (--sandbox, MOAT_SANDBOX, moat.yaml); absent: gVisor when the engine has it, else runc. */
  sandbox?: SandboxRequest;
  /** Workspace snapshots before and after the run (moat.yaml `snapshots:`); absent when they are off. */
  snapshots?: SnapshotSettings;
}
