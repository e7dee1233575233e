/**
 * `moat claude marketplace update`: refresh the host's copies of Claude Code plugin marketplaces from their
 * sources, where Claude Code keeps them (`<plugins>/marketplaces/<name>`, recorded in
 * `known_marketplaces.json`), so the next run mounts the fresh files.
 *
 * Only sources the user chose are fetched: a declaration in the user's own settings or the approved
 * moat.yaml, or the record Claude Code itself made on the host. A marketplace only the project's
 * `.claude/settings*.json` declares (workspace files a run can write) is never fetched, and neither is a
 * source carrying a credential (it would have to go on git's command line). git runs with a fixed list of
 * transports (no `ext::`), no terminal prompt, no hooks, and a time limit.
 */
import { execFile } from 'node:child_process';
import { mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { errnoCode } from '../../errors.js';
import { atomicWrite } from '../../home/fs.js';
import { claudeHostPaths, readHostRecords, readJsonObject, type ClaudeHostPaths } from './host-plugins.js';
import { declaredSource, describeSource, pluginInventory, type InventoryOptions, type MarketplaceEntry } from './plugin-inventory.js';
import { carriesCredential } from './plugins.js';

export type UpdateStatus = 'updated' | 'fetched' | 'local' | 'skipped' | 'failed';

export interface UpdateResult {
  name: string;
  status: UpdateStatus;
  detail: string;
  cachedAt?: string;
  /** The commit now checked out (git sources). */
  commit?: string;
}

export type GitRunner = (args: string[], opts: { cwd?: string }) => Promise<string>;

const GIT_TIMEOUT_MS = 120_000;
/** Transports git may use for a marketplace: never `ext::` or `fd::`, which run commands. */
const GIT_SAFETY = [
  '-c',
  'protocol.allow=never',
  '-c',
  'protocol.https.allow=always',
  '-c',
  'protocol.http.allow=always',
  '-c',
  'protocol.ssh.allow=always',
  '-c',
  'protocol.git.allow=always',
  '-c',
  'protocol.file.allow=always',
  '-c',
  'core.hooksPath=/dev/null',
];

function systemGit(env: NodeJS.ProcessEnv): GitRunner {
  return (args, opts) =>
    new Promise((resolve, reject) => {
      execFile(
        'git',
        [...GIT_SAFETY, ...args],
        {
          ...(opts.cwd ? { cwd: opts.cwd } : {}),
          env: { ...env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', GIT_SSH_COMMAND: env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes' },
          timeout: GIT_TIMEOUT_MS,
          maxBuffer: 4 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          if (err) {
            const last = stderr.trim().split('\n').filter(Boolean).pop() ?? err.message;
            reject(new Error(err.killed ? `git did not finish within ${GIT_TIMEOUT_MS / 1000} s` : last));
          } else resolve(stdout);
        },
      );
    });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const inside = (child: string, parent: string): boolean =>
  child !== parent && !relative(parent, child).startsWith('..') && !isAbsolute(relative(parent, child));
const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^\.+/, '_') || '_';
const REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The source to fetch from, and who chose it: the user's or moat.yaml's declaration, else Claude Code's record. */
function trustedSource(
  name: string,
  inv: Awaited<ReturnType<typeof pluginInventory>>,
  known: Record<string, { source: Record<string, unknown> }>,
): Record<string, unknown> | undefined {
  for (const layer of [...inv.layers].reverse()) {
    if (!layer.used || (layer.source !== 'user' && layer.source !== 'moat.yaml')) continue;
    const s = declaredSource(layer.settings.extraKnownMarketplaces[name]);
    if (s) return s;
  }
  return known[name]?.source;
}

/** Record a fetched marketplace in Claude Code's `known_marketplaces.json`, keeping every other entry and the file's mode. */
async function record(paths: ClaudeHostPaths, name: string, entry: Record<string, unknown>): Promise<void> {
  const file = join(paths.pluginsDir, 'known_marketplaces.json');
  const all = (await readJsonObject(file, () => undefined, 'Claude Code marketplace record')) ?? {};
  const before = isRecord(all[name]) ? all[name] : {};
  all[name] = { ...before, ...entry };
  let mode = 0o600;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch {
    /* new file */
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await atomicWrite(file, `${JSON.stringify(all, null, 2)}\n`, mode);
}

async function gitUpdate(
  name: string,
  src: Record<string, unknown>,
  paths: ClaudeHostPaths,
  knownAt: string | undefined,
  git: GitRunner,
  now: Date,
): Promise<UpdateResult> {
  const kind = src.source;
  const url =
    kind === 'github'
      ? typeof src.repo === 'string' && REPO.test(src.repo)
        ? `https://github.com/${src.repo}.git`
        : undefined
      : typeof src.url === 'string'
        ? src.url
        : undefined;
  if (!url || url.startsWith('-'))
    return { name, status: 'failed', detail: `its ${String(kind)} source names no usable ${kind === 'github' ? 'repo (OWNER/REPO)' : 'url'}` };
  const ref = typeof src.ref === 'string' ? src.ref : undefined;
  if (ref !== undefined && !REF.test(ref)) return { name, status: 'failed', detail: `its ref ${JSON.stringify(ref)} is not a branch or tag name` };
  const cacheRoot = join(paths.pluginsDir, 'marketplaces');
  const loc = knownAt ?? join(cacheRoot, safe(name));
  const realPlugins = await realpath(paths.pluginsDir).catch(() => paths.pluginsDir);
  const realLoc = await realpath(loc).catch(() => undefined);
  if (realLoc !== undefined && !inside(realLoc, realPlugins)) {
    return {
      name,
      status: 'skipped',
      detail: `its copy ${loc} is outside Claude Code's plugin folder ${paths.pluginsDir}; moat refreshes only copies in there`,
      cachedAt: loc,
    };
  }
  let status: UpdateStatus;
  try {
    if (realLoc === undefined) {
      await mkdir(dirname(loc), { recursive: true, mode: 0o700 });
      await git(['clone', '--quiet', '--depth', '1', ...(ref ? ['--branch', ref] : []), '--', url, loc], {});
      status = 'fetched';
    } else {
      if (!(await exists(join(loc, '.git')))) return { name, status: 'failed', detail: `${loc} is not a git clone`, cachedAt: loc };
      await git(['fetch', '--quiet', '--depth', '1', '--', url, ref ?? 'HEAD'], { cwd: loc });
      await git(['reset', '--quiet', '--hard', 'FETCH_HEAD'], { cwd: loc });
      status = 'updated';
    }
  } catch (err) {
    return { name, status: 'failed', detail: `git: ${(err as Error).message}`, cachedAt: loc };
  }
  const commit = (await git(['rev-parse', 'HEAD'], { cwd: loc })).trim();
  const manifest = await exists(join(loc, '.claude-plugin', 'marketplace.json'));
  await record(paths, name, { source: src, installLocation: loc, lastUpdated: now.toISOString() });
  return {
    name,
    status,
    cachedAt: loc,
    commit,
    detail: `${describeSource(src) ?? ''} at ${commit.slice(0, 12)}${manifest ? '' : '; it has no .claude-plugin/marketplace.json, so Claude Code will not read it'}`,
  };
}

async function localUpdate(name: string, src: Record<string, unknown>, paths: ClaudeHostPaths, now: Date): Promise<UpdateResult> {
  const p = typeof src.path === 'string' ? src.path : undefined;
  if (!p || !isAbsolute(p)) return { name, status: 'failed', detail: `its ${String(src.source)} source needs an absolute path` };
  if (!(await exists(p))) return { name, status: 'failed', detail: `${p} does not exist` };
  await record(paths, name, { source: src, installLocation: p, lastUpdated: now.toISOString() });
  return { name, status: 'local', detail: `read in place from ${p} (nothing to fetch)`, cachedAt: p };
}

/** Refresh the named marketplaces (all of them without names). Never throws for one marketplace: each gets a result. */
export async function updateMarketplaces(
  opts: InventoryOptions & { names: readonly string[]; git?: GitRunner; now?: Date },
): Promise<{ results: UpdateResult[]; unknown: string[] }> {
  const inv = await pluginInventory(opts);
  const paths = claudeHostPaths(opts.hostHome, opts.env);
  const known = (await readHostRecords(paths, () => undefined)).known;
  const byName = new Map<string, MarketplaceEntry>(inv.marketplaces.map((m) => [m.name, m]));
  const unknown = opts.names.filter((n) => !byName.has(n));
  const targets = opts.names.length > 0 ? opts.names.filter((n) => byName.has(n)) : [...byName.keys()];
  const git = opts.git ?? systemGit(opts.env);
  const now = opts.now ?? new Date();
  const results: UpdateResult[] = [];
  for (const name of targets) {
    const src = trustedSource(name, inv, known);
    if (!src) {
      const onlyProject = (byName.get(name)?.declaredIn ?? []).length > 0;
      results.push({
        name,
        status: 'skipped',
        detail: onlyProject
          ? "declared only in the project's .claude/settings, which a run can write: moat does not fetch it. Declare it in ~/.claude/settings.json or under claude.marketplaces in moat.yaml"
          : 'nothing says where it comes from (no declaration, no record)',
      });
      continue;
    }
    if (carriesCredential(src)) {
      results.push({
        name,
        status: 'skipped',
        detail: `its source carries a credential, which moat never puts on a command line: run claude plugin marketplace update ${name}`,
      });
      continue;
    }
    const kind = src.source;
    const knownAt = known[name]?.installLocation;
    if (kind === 'git' || kind === 'github') results.push(await gitUpdate(name, src, paths, knownAt, git, now));
    else if (kind === 'directory' || kind === 'file') results.push(await localUpdate(name, src, paths, now));
    else
      results.push({
        name,
        status: 'skipped',
        detail: `moat refreshes git, github, directory and file marketplaces; for this ${String(kind)} one run claude plugin marketplace update ${name}`,
      });
  }
  return { results, unknown };
}
