/**
 * Plain rules shared by the moat.yaml schema and the run flags: names, sizes and mount strings. Kept out
 * of schema.ts so that a run without a config file never loads the schema library.
 */

import { posix } from 'node:path';

import { RUN_NAME_RE } from '../store/names.js';

/** Environment variable names: what a POSIX shell accepts. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `name` is not an environment variable name, or undefined. */
export function envNameProblem(name: string): string | undefined {
  return ENV_NAME_RE.test(name)
    ? undefined
    : `invalid environment variable name ${JSON.stringify(name)} (use letters, digits and _, not starting with a digit)`;
}

/** Why `entry` is not a "NAME=value" entry (moat.yaml's env list, -e), or undefined. */
export function envEntryProblem(entry: string): string | undefined {
  const eq = entry.indexOf('=');
  return eq < 0 ? 'expected "NAME=value", e.g. "LOG_LEVEL=debug"' : envNameProblem(entry.slice(0, eq));
}

/** Why `name` is not a run name (lower-case, DNS-label friendly, at most 63 characters; store/names.ts), or undefined. */
export function runNameProblem(name: string): string | undefined {
  return RUN_NAME_RE.test(name) ? undefined : 'run name must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits, dashes)';
}
/**
 * Sizes ("512m", "2g", "1.5G", "64MiB", "1048576"): the one grammar of moat.yaml's container.memory and
 * container.log_limit and of --memory, read by the same function in the schema and at run time. Units are
 * binary (k = 1024); no unit means bytes.
 */
const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)(?:([kmgt])(?:i?b)?|b)?$/i;
const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "512m" -> 536870912; undefined when `text` is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text);
  if (!m?.[1]) return undefined;
  const n = Math.floor(Number(m[1]) * (m[2] ? (SIZE_UNITS[m[2].toLowerCase()] ?? 1) : 1));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The engine refuses a memory limit below 6 MiB (at container creation, too late): refused here first. */
const MIN_MEMORY_BYTES = 6 * 1024 ** 2;
/** A stored-output cap below one mebibyte would keep nothing useful. */
const MIN_LOG_LIMIT_BYTES = 1024 ** 2;

/** Why `text` is not a memory limit, or undefined. */
export function memoryProblem(text: string): string | undefined {
  const n = parseSize(text);
  if (n === undefined) return 'expected a size like "512m" or "2g"';
  if (n < MIN_MEMORY_BYTES) return 'expected at least 6m (the engine refuses less)';
  return undefined;
}

/** Why `text` is not a stored-output cap, or undefined. */
export function logLimitProblem(text: string): string | undefined {
  const n = parseSize(text);
  return n === undefined || n < MIN_LOG_LIMIT_BYTES ? 'expected a size of at least 1m, like "64m" or "1g"' : undefined;
}

/** The engine's smallest CPU limit (0.01 of a CPU); a finer one is refused by it at creation. */
export const MIN_CPUS = 0.01;

/** Why `n` is not a CPU limit, or undefined. */
export function cpusProblem(n: number): string | undefined {
  return Number.isFinite(n) && n >= MIN_CPUS ? undefined : `expected a number of CPUs of at least ${MIN_CPUS}, e.g. 2 or 0.5`;
}
/**
 * Processes (and threads) a container may have at once when moat.yaml and --pids say nothing: a fork bomb
 * stops there instead of exhausting the host's process ids. The bounds keep a run able to start (its init,
 * relay and shell) and below the largest pid_max Linux allows.
 */
export const DEFAULT_PIDS = 4096;
export const MIN_PIDS = 16;
export const MAX_PIDS = 4_194_304;

/** Why `n` is not a process limit (container.pids, --pids), or undefined. */
export function pidsProblem(n: number): string | undefined {
  if (!Number.isInteger(n)) return `expected a whole number of processes, e.g. 1024`;
  if (n < MIN_PIDS) return `expected at least ${MIN_PIDS} processes`;
  if (n > MAX_PIDS) return `expected at most ${MAX_PIDS} processes`;
  return undefined;
}

/**
 * Container folders no mount may cover: the system's programs, libraries and settings (moat-init runs
 * them as root before dropping privileges) and moat's own /moat.
 */
const RESERVED_MOUNT_TARGETS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/moat', '/proc', '/sys', '/dev'];

/** Why a (absolute) mount target is not allowed, or undefined. */
function reservedTargetProblem(target: string): string | undefined {
  const t = posix.normalize(target).replace(/\/+$/, '') || '/';
  if (t === '/') return 'mount target "/" would replace the whole container';
  const hit = RESERVED_MOUNT_TARGETS.find((r) => t === r || t.startsWith(`${r}/`));
  return hit
    ? `mount target "${target}" is inside ${hit}, which holds the programs moat starts the container with; mount it elsewhere (e.g. under /mnt or /home/moat)`
    : undefined;
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
