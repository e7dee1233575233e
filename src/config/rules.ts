/**
 * Plain rules shared by the moat.yaml schema and the run flags: names, sizes and mount strings. Kept out
 * of schema.ts so that a run without a config file never loads the schema library.
 */

import { posix } from 'node:path';

/** Environment variable names: what a POSIX shell accepts. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Run names: lower-case, DNS-label friendly, at most 63 characters. */
export const RUN_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Container memory: a number with an optional b/k/m/g suffix ("512m", "2g"). */
export const MEMORY_RE = /^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$/;
/**
 * Processes (and threads) a container may have at once when moat.yaml and --pids say nothing: a fork bomb
 * stops there instead of exhausting the host's process ids. The bounds keep a run able to start (its init,
 * relay and shell) and below the largest pid_max Linux allows.
 */
export const DEFAULT_PIDS = 4096;
export const MIN_PIDS = 16;
export const MAX_PIDS = 4_194_304;
/** A stored-output cap: at least one mebibyte, in m, g or t. */
export const LOG_LIMIT_RE = /^(?:[1-9][0-9]*(?:\.[0-9]+)?[mgtMGT]|0\.[0-9]*[1-9][0-9]*[gtGT])$/;
/** A network rule: `allow|deny METHOD PATH`, e.g. "allow GET /repos/**". */
export const NETWORK_RULE_RE = /^(allow|deny)\s+(\*|[A-Za-z]+)\s+\/\S*$/;

/**
 * Container folders no mount may cover: the system's programs, libraries and settings (moat-init runs
 * them as root before dropping privileges) and moat's own /moat.
 */
export const RESERVED_MOUNT_TARGETS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/moat', '/proc', '/sys', '/dev'];

/** Why a (absolute) mount target is not allowed, or undefined. */
export function reservedTargetProblem(target: string): string | undefined {
  const t = posix.normalize(target).replace(/\/+$/, '') || '/';
  if (t === '/') return 'mount target "/" would replace the whole container';
  const hit = RESERVED_MOUNT_TARGETS.find((r) => t === r || t.startsWith(`${r}/`));
  return hit ? `mount target "${target}" is inside ${hit}, which holds the programs moat starts the container with; mount it elsewhere (e.g. under /mnt or /home/moat)` : undefined;
}

/** Checks one "src:dst[:ro|rw]" mount string and explains what is wrong with it. */
export function mountProblem(spec: string): string | undefined {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) return 'expected "source:target" or "source:target:ro"';
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (source === '') return 'mount source is empty';
  if (!target.startsWith('/')) return `mount target "${target}" must be an absolute path inside the container`;
  const reserved = reservedTargetProblem(target);
  if (reserved) return reserved;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return `mount mode "${mode}" must be "ro" or "rw"`;
  return undefined;
}
