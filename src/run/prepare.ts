import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MoatError, errnoCode } from '../errors.js';
import { mergeRunOptions, type RunFlags } from '../config/merge.js';
import { DEFAULT_BASE_IMAGE } from '../image/dockerfile.js';
import type { RunSpec } from './spec.js';
import { validatePolicy } from '../gateway/policy.js';
import type { MoatConfig } from '../config/schema.js';
import type { NetworkPolicy } from '../network-policy.js';
import { DEFAULT_PIDS, parseSize } from '../config/rules.js';
import { engineMounts } from './mount-sources.js';
import { loadWorkspaceGuard } from './workspace-guard.js';
import { requestedSandbox } from './sandbox-choice.js';
import { secretSpecs } from '../credentials/secrets/specs.js';
import { snapshotSettings } from './snapshots.js';

export interface PrepareFlags extends RunFlags {
  /** Dependencies a caller adds to moat.yaml's (an agent's CLI, for instance). */
  extraDependencies?: string[];
  /** Files for the container user's home (agent settings), staged by moat-init. */
  homeFiles?: Array<{ path: string; content: string; mode: number }>;
  detach?: boolean;
  keep?: boolean;
  rebuild?: boolean;
  traceBodies?: boolean;
  /** --approve-config: accept changed host-reaching settings in moat.yaml without asking. */
  approveConfig?: boolean;
  /** --allow-sensitive-workspace: accept a workspace holding keys or moat's home (kept hidden). */
  allowSensitiveWorkspace?: boolean;
  /** --sandbox gvisor|runc (checked in sandbox-choice.ts). */
  sandbox?: string;
  /** The command as the person typed it (`claude -p …`), when `command` is not that (RunSpec.commandLine). */
  commandLine?: string;
}

/**
 * The workspace must be an existing directory; returns its real path (no symbolic link left in it), which
 * is what is mounted and what approvals are keyed by: a link on the way, which a run may have planted, is
 * never handed to the engine to follow later.
 */
export async function checkWorkspace(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    const s = await stat(abs);
    if (!s.isDirectory())
      throw new MoatError(`The workspace ${abs} is not a directory.`, { code: 'E_USAGE', hint: 'Pass a directory: moat run DIR -- COMMAND' });
  } catch (err) {
    if (err instanceof MoatError) throw err;
    if (errnoCode(err) === 'ENOENT') {
      throw new MoatError(`The workspace ${abs} does not exist.`, { code: 'E_NOT_FOUND', hint: `Create it (mkdir -p ${abs}) or pass another directory.` });
    }
    throw new MoatError(`Cannot read the workspace ${abs}: ${(err as Error).message}`, { code: 'E_USAGE' });
  }
  return realpath(abs);
}

/**
 * Dockerfile layers for `dependencies:` (and the tools grants imply), validated before anything is
 * created, and the hosts their build may reach.
 */
async function dependencyLayers(deps: string[], grants: string[]): Promise<{ extra: string; hosts: string[] }> {
  const { recipeHosts } = await import('../image/build-hosts.js');
  if (deps.length === 0 && grants.length === 0) return { extra: '', hosts: recipeHosts([]) };
  const { expand, impliedByGrants } = await import('../deps/parse.js');
  const { renderDependencyLayers } = await import('../deps/dockerfile.js');
  const resolved = expand([...deps, ...impliedByGrants(grants)]);
  if (resolved.length === 0) return { extra: '', hosts: recipeHosts([]) };
  return { extra: renderDependencyLayers(resolved, { arch: process.arch === 'arm64' ? 'arm64' : 'amd64' }), hosts: recipeHosts(resolved) };
}

/** The run's network policy as plain data, every pattern validated before anything is created. */
function checkedNetwork(n: MoatConfig['network']): NetworkPolicy {
  const data: NetworkPolicy = { policy: n?.policy ?? 'permissive', rules: n?.rules ?? [], deny: n?.deny ?? [], allowHosts: [] };
  const problems = validatePolicy(data);
  if (problems.length > 0) {
    throw new MoatError(`Invalid network policy: ${problems.map((p) => `network.${p.path.join('.')}: ${p.message}`).join('; ')}.`, {
      code: 'E_CONFIG',
      hint: 'Host patterns look like api.github.com, *.github.com or host:8443; rules like "allow GET /repos/**".',
    });
  }
  return data;
}

/** moat.yaml + flags → a RunSpec. Validates everything before anything is created. */
export async function prepareRun(workspaceArg: string | undefined, flags: PrepareFlags): Promise<RunSpec> {
  const workspace = await checkWorkspace(workspaceArg ?? '.');
  // Mount sources resolved to their real paths: what is approved is what the engine is given.
  const { config, mounts, guard, file } = await loadWorkspaceGuard(workspace);
  const opts = mergeRunOptions(config, flags);
  const command = typeof opts.command === 'string' ? ['/bin/sh', '-c', opts.command] : (opts.command ?? ['/bin/bash']);
  const interactive = opts.interactive ?? false;
  if (interactive && flags.detach) {
    // A detached interactive run is fine: its TTY waits for `moat attach`.
  }
  if (interactive && !flags.detach && !process.stdin.isTTY) {
    throw new MoatError('An interactive run needs a terminal, and standard input is not one.', {
      code: 'E_USAGE',
      hint: 'Run it from a terminal, drop -i (and interactive: true in moat.yaml), or add -d and attach later.',
    });
  }
  const memoryBytes = opts.container?.memory ? parseSize(opts.container.memory) : undefined;
  const cpus = opts.container?.cpus;
  const logLimitBytes = opts.container?.log_limit ? parseSize(opts.container.log_limit) : undefined;
  const sandbox = requestedSandbox(flags.sandbox, process.env, opts.sandbox);
  const layers = await dependencyLayers([...(opts.dependencies ?? []), ...(flags.extraDependencies ?? [])], opts.grants ?? []);
  return {
    workspace,
    command,
    ...(flags.commandLine !== undefined ? { commandLine: flags.commandLine } : typeof opts.command === 'string' ? { commandLine: opts.command } : {}),
    env: opts.env,
    mounts: engineMounts(mounts),
    realSources: [workspace, ...mounts.map((m) => m.source)],
    ...(opts.name ? { name: opts.name } : {}),
    interactive,
    detach: flags.detach ?? false,
    keep: flags.keep ?? false,
    rebuild: flags.rebuild ?? false,
    traceBodies: flags.traceBodies ?? false,
    grants: opts.grants ?? [],
    secrets: secretSpecs(opts.secrets, opts.env),
    network: checkedNetwork(opts.network),
    baseImage: opts.base_image ?? DEFAULT_BASE_IMAGE,
    imageExtra: layers.extra,
    imageHosts: layers.hosts,
    homeFiles: flags.homeFiles ?? [],
    configGuard: guard,
    approveConfig: flags.approveConfig ?? false,
    allowSensitiveWorkspace: flags.allowSensitiveWorkspace ?? false,
    ...(memoryBytes ? { memoryBytes } : {}),
    ...(cpus ? { nanoCpus: Math.round(cpus * 1e9), cpusSource: flags.cpus !== undefined || !file ? { flag: true as const } : { file } } : {}),
    pidsLimit: opts.container?.pids ?? DEFAULT_PIDS,
    ...(opts.ports && Object.keys(opts.ports).length > 0 ? { ports: opts.ports } : {}),
    ...(snapshotSettings(config.snapshots) ? { snapshots: snapshotSettings(config.snapshots) } : {}),
    ...(logLimitBytes ? { logLimitBytes } : {}),
    ...(sandbox ? { sandbox } : {}),
  };
}
