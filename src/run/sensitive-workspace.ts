/**
 * A run can read and change everything in its workspace, so a workspace must not hold moat's own state or
 * the user's keys: moat's home (MOAT_HOME), ~/.ssh, cloud and cluster credentials, GnuPG, keyrings. Nor
 * may it be `/` or the home folder itself. Paths are compared as real paths (symlinks resolved). The user
 * can insist (--allow-sensitive-workspace); moat's home is then still hidden from the run. moat's code
 * cache (src/cache-dir.ts: compiled code the next `moat` runs as the user) is hidden from any run whose
 * workspace holds it, and no workspace lies inside it.
 */
import { mkdir, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { MoatError } from '../errors.js';

/** Folders under the user's home that hold keys or credentials, with how to name them to the user. */
const SENSITIVE_IN_HOME: Array<[string, string]> = [
  ['.ssh', 'your SSH keys'],
  ['.aws', 'your AWS credentials'],
  [join('.config', 'gcloud'), 'your Google Cloud credentials'],
  [join('.config', 'gh'), 'your GitHub CLI token'],
  ['.gnupg', 'your GnuPG keys'],
  ['.kube', 'your Kubernetes credentials'],
  ['.docker', 'your Docker registry credentials'],
  [join('.local', 'share', 'keyrings'), 'your keyrings'],
];

export interface SensitiveInput {
  workspace: string;
  moatHome: string;
  /** The user's home folder (HOME, or the system's idea of it). */
  userHome?: string;
  allow: boolean;
  /** moat's folder of compiled-code caches (moatCacheRoot). */
  cacheRoot?: string;
}

/** The real path of `p`, or its absolute path when it does not exist (yet). */
async function real(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return resolve(p);
  }
}

/**
 * The real paths of the folders no run may see: the key and credential folders under the user's home, and
 * moat's home (its key file, grants). Existing or not (a path that does not exist yet is named as is).
 */
export async function sensitiveHostFolders(userHome: string, moatHome: string): Promise<string[]> {
  const home = await real(userHome);
  return [await real(moatHome), ...(await Promise.all(SENSITIVE_IN_HOME.map(([rel]) => real(join(home, rel)))))];
}

const within = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * Refuses a sensitive workspace (one sentence and the fix) unless allowed; returns the container paths to
 * hide from the run (moat's home and code cache when they lie inside the workspace).
 */
export async function checkSensitiveWorkspace(input: SensitiveInput): Promise<string[]> {
  const ws = await real(input.workspace);
  const userHome = await real(input.userHome ?? homedir());
  const moatHome = await real(input.moatHome);
  const fix =
    "Run moat from a project folder instead, or pass --allow-sensitive-workspace if you really mean this one (moat's home stays hidden from the run).";
  if (within(ws, moatHome)) {
    throw new MoatError(`The workspace ${ws} is inside moat's home (${moatHome}); a run must never see or change moat's own state.`, {
      code: 'E_REFUSED',
      hint: 'Run moat from a project folder outside it.',
    });
  }
  const cacheRoot = input.cacheRoot === undefined ? undefined : await real(input.cacheRoot);
  if (cacheRoot && within(ws, cacheRoot)) {
    throw new MoatError(`The workspace ${ws} is inside moat's code cache (${cacheRoot}), code moat runs at its next start.`, {
      code: 'E_REFUSED',
      hint: 'Run moat from a project folder outside it.',
    });
  }
  const problems: string[] = [];
  if (ws === sep) problems.push('is the root folder');
  else if (ws === userHome) problems.push('is your home folder');
  if (within(moatHome, ws)) problems.push(`contains moat's home (${moatHome})`);
  for (const [rel, what] of SENSITIVE_IN_HOME) {
    const p = await real(join(userHome, rel));
    if (within(p, ws) || within(ws, p)) problems.push(`${within(ws, p) ? 'is inside' : 'contains'} ${p} (${what})`);
  }
  if (problems.length > 0 && !input.allow) {
    throw new MoatError(`The workspace ${ws} ${problems.slice(0, 3).join(', ')}: a run can read and change everything in its workspace.`, {
      code: 'E_REFUSED',
      hint: fix,
    });
  }
  // Made now when missing (private, as bin/moat makes it): else the run could make it and plant a cache.
  if (cacheRoot && within(cacheRoot, ws)) await mkdir(cacheRoot, { recursive: true, mode: 0o700 });
  // Covered by an empty read-only folder: what the run writes there would run outside it.
  return [moatHome, ...(cacheRoot ? [cacheRoot] : [])].filter((p) => within(p, ws)).map((p) => `/workspace/${relative(ws, p).split(sep).join('/')}`);
}
