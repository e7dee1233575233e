/**
 * A workspace's moat.yaml with its mount sources resolved to real paths, and the guarded settings the
 * user approves (config-trust.ts): shared by `moat run` and `moat trust show`, so both see the same thing.
 */
import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadWorkspaceConfig, type LoadedWorkspaceConfig } from '../config/load.js';
import type { ConfigGuard } from './config-trust.js';
import { resolveMountSources } from './mount-sources.js';
import { guardedSettings, type MountEntry } from './trust-settings.js';

export interface WorkspaceGuard extends LoadedWorkspaceConfig {
  /** The workspace's real path. */
  realWorkspace: string;
  /** moat.yaml's mounts with their real sources. */
  mounts: MountEntry[];
  guard: ConfigGuard;
}

export async function loadWorkspaceGuard(workspace: string): Promise<WorkspaceGuard> {
  const loaded = await loadWorkspaceConfig(workspace);
  const realWorkspace = await realpath(workspace);
  const mounts = await resolveMountSources(loaded.config.mounts, loaded.raw.mounts ?? [], workspace, realWorkspace);
  const guard: ConfigGuard = { ...(loaded.file ? { file: basename(loaded.file) } : {}), settings: guardedSettings(loaded.raw, mounts) };
  return { ...loaded, realWorkspace, mounts, guard };
}
