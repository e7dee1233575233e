/**
 * The host's installed Claude Code plugins, made available in the container without any network:
 * read-only bind mounts of each enabled plugin's installed copy and of its marketplace, under
 * {@link SEED_DIR}, which Claude Code trusts as a plugin seed directory (`CLAUDE_CODE_PLUGIN_SEED_DIR`),
 * plus the container's own `installed_plugins.json` / `known_marketplaces.json` with every host path
 * rewritten to where it is inside the container.
 *
 * Only what Claude Code itself recorded on the host is mounted (never a path named in a settings file,
 * which a project could choose), and nothing that could hold a secret: no `plugins/data`, no credentials,
 * no dot-files such as `.git` or `.env` (except the plugin files `.claude-plugin`, `.mcp.json`, `.lsp.json`).
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Mount } from '../../runtime/types.js';
import type { HomeFile } from '../types.js';
import { marketplaceOf, pickInstall, type ClaudeHostPaths, type HostRecords, type KnownMarketplace } from './host-plugins.js';

/** Where the host's plugin files appear in the container (read-only); outside the home, so init never chowns them. */
export const SEED_DIR = '/moat/claude-plugins';
/** The container user's home (moat-init's `home`). */
export const CONTAINER_HOME = '/home/moat';

/** Dot-entries a plugin or marketplace needs; every other dot-entry (.git, .env, .npmrc, …) stays on the host. */
const KEEP_DOT = new Set(['.claude-plugin', '.mcp.json', '.lsp.json']);

type Warn = (msg: string) => void;

export interface PluginSeed {
  mounts: Mount[];
  /** `.claude/plugins/installed_plugins.json` and `known_marketplaces.json` for the container. */
  files: HomeFile[];
  /** Host path prefix → container path, longest first (for rewriting settings). */
  rewrites: Array<[string, string]>;
  env: Record<string, string>;
}

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
const strictlyInside = (child: string, parent: string): boolean => child !== parent && inside(child, parent);
/** A path component safe for a container path. */
const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^\.+/, '_') || '_';

async function real(p: string): Promise<string | undefined> {
  try {
    return await realpath(p);
  } catch {
    return undefined;
  }
}

/**
 * Read-only mounts showing `src` at `target`: one mount for the whole directory when nothing in it is left
 * out, else one per kept top-level entry (an entry whose real path leaves `src` is skipped). A file is one mount.
 */
export async function seedMounts(src: string, target: string, warn: Warn): Promise<Mount[]> {
  if (src.includes(':')) {
    warn(`${src} is not made available in the container: Docker cannot bind-mount a path with ":" in it. Rename the folder to use it.`);
    return [];
  }
  if (!(await stat(src)).isDirectory()) return [{ source: src, target, readOnly: true }];
  const names = (await readdir(src)).sort();
  const kept = names.filter((n) => !n.startsWith('.') || KEEP_DOT.has(n));
  if (kept.length === names.length) return [{ source: src, target, readOnly: true }];
  const out: Mount[] = [];
  for (const n of kept) {
    const entry = join(src, n);
    const r = await real(entry);
    if (r === undefined || !inside(r, src) || n.includes(':')) continue;
    out.push({ source: (await lstat(entry)).isSymbolicLink() ? r : entry, target: `${target}/${n}`, readOnly: true });
  }
  return out;
}

interface SeedInput {
  /** Real paths of folders no run may see (sensitive-workspace.ts). */
  sensitive?: readonly string[];
  paths: ClaudeHostPaths;
  workspace: string;
  records: HostRecords;
  /** Plugin ids named in the container's settings, with whether each is enabled (a disabled one is still listed, as on the host). */
  plugins: Readonly<Record<string, boolean>>;
  /** Marketplaces declared in the merged settings (made available when the host fetched them). */
  declared: readonly string[];
  warn: Warn;
}

/** Whether a fetched marketplace's files may be shown to the container; a warning says why not. */
function marketplaceAllowed(name: string, k: KnownMarketplace, loc: string, roots: { plugins: string; home: string; config: string }, warn: Warn): boolean {
  if (inside(loc, roots.plugins)) return true;
  const kind = k.source.source;
  if ((kind === 'directory' || kind === 'file') && strictlyInside(loc, roots.home) && !inside(roots.config, loc) && !inside(roots.plugins, loc)) return true;
  warn(
    `The plugin marketplace "${name}" is not made available in the container: its folder ${k.installLocation} is outside your home directory or holds your Claude Code configuration. Keep the marketplace in its own folder under your home (or set claude.host_plugins: false in moat.yaml).`,
  );
  return false;
}

/** Mounts and container records for the enabled plugins' installed copies and their marketplaces. */
export async function pluginSeed(input: SeedInput): Promise<PluginSeed> {
  const { paths, records, warn } = input;
  const empty: PluginSeed = { mounts: [], files: [], rewrites: [], env: {} };
  const pluginsRoot = await real(paths.pluginsDir);
  if (pluginsRoot === undefined) return empty;
  const homeRoot = (await real(paths.home)) ?? paths.home;
  const roots = { plugins: pluginsRoot, home: homeRoot, config: (await real(paths.configDir)) ?? paths.configDir };
  const mounts: Mount[] = [];
  const rewrites: Array<[string, string]> = [];
  const installed: Record<string, unknown[]> = {};
  const markets = new Set(input.declared);

  for (const [id, on] of Object.entries(input.plugins).sort(([a], [b]) => a.localeCompare(b))) {
    const mkt = marketplaceOf(id);
    if (mkt !== undefined) markets.add(mkt);
    const rec = pickInstall(records.installed[id] ?? [], input.workspace);
    if (!rec) continue;
    const src = await real(rec.installPath);
    if (src === undefined || !strictlyInside(src, pluginsRoot)) {
      if (on)
        warn(
          `The plugin ${id} is enabled but its files are not in Claude Code's plugin folder (${rec.installPath}); the container's Claude Code will try to install it. Reinstall it on the host: claude plugin install ${id}`,
        );
      continue;
    }
    const name = mkt === undefined ? id : id.slice(0, id.length - mkt.length - 1);
    const target = `${SEED_DIR}/cache/${safe(mkt ?? 'local')}/${safe(name)}/${safe(rec.version ?? 'unknown')}`;
    mounts.push(...(await seedMounts(src, target, warn)));
    rewrites.push([rec.installPath, target], [src, target]);
    installed[id] = [
      {
        scope: 'user',
        installPath: target,
        ...(rec.version !== undefined ? { version: rec.version } : {}),
        ...(rec.installedAt !== undefined ? { installedAt: rec.installedAt } : {}),
        ...(rec.lastUpdated !== undefined ? { lastUpdated: rec.lastUpdated } : {}),
      },
    ];
  }

  const known: Record<string, KnownMarketplace & { autoUpdate: boolean }> = {};
  for (const name of [...markets].sort()) {
    const k = records.known[name];
    if (!k) continue;
    const loc = await real(k.installLocation);
    if (loc === undefined) {
      warn(
        `The plugin marketplace "${name}" is not made available in the container: ${k.installLocation} does not exist. Run claude plugin marketplace update ${name} on the host.`,
      );
      continue;
    }
    // A directory marketplace may lie in a workspace, where a run can swap it for a link to ~/.ssh: whatever it
    // leads to now must not hold, or lie in, a folder of keys or moat's own state.
    const secret = (input.sensitive ?? []).find((s) => inside(loc, s) || inside(s, loc));
    if (secret !== undefined) {
      warn(
        `The plugin marketplace "${name}" is not made available in the container: its folder ${k.installLocation} now leads to ${loc}, which ${inside(loc, secret) ? 'lies in' : 'holds'} ${secret}, a folder no run may see. Check that folder for a link a run may have planted, then run claude plugin marketplace update ${name} on the host.`,
      );
      continue;
    }
    if (!marketplaceAllowed(name, k, loc, roots, warn)) continue;
    const isFile = !(await stat(loc)).isDirectory();
    const target = `${SEED_DIR}/marketplaces/${safe(name)}${isFile ? '.json' : ''}`;
    mounts.push(...(await seedMounts(loc, target, warn)));
    rewrites.push([k.installLocation, target], [loc, target]);
    // No background `git pull` from inside the container: the files are the host's, read-only.
    known[name] = { ...k, installLocation: target, autoUpdate: false };
  }

  rewrites.push([paths.home, CONTAINER_HOME], [homeRoot, CONTAINER_HOME]);
  rewrites.sort((a, b) => b[0].length - a[0].length);
  const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
  const files: HomeFile[] = [];
  if (Object.keys(installed).length > 0)
    files.push({ path: '.claude/plugins/installed_plugins.json', content: json({ version: 2, plugins: installed }), mode: 0o600 });
  if (Object.keys(known).length > 0) files.push({ path: '.claude/plugins/known_marketplaces.json', content: json(rewritePaths(known, rewrites)), mode: 0o600 });
  const unique = [...new Map(mounts.map((m) => [m.target, m])).values()];
  return { mounts: unique, files, rewrites, env: unique.length > 0 ? { CLAUDE_CODE_PLUGIN_SEED_DIR: SEED_DIR } : {} };
}

/** Every string in `value` that is one of the host paths (or below one) becomes the container's path. */
export function rewritePaths<T>(value: T, rewrites: ReadonlyArray<[string, string]>): T {
  const one = (s: string): string => {
    for (const [from, to] of rewrites) {
      if (s === from) return to;
      if (s.startsWith(from.endsWith('/') ? from : `${from}/`)) return `${to}/${relative(from, s).split(sep).join('/')}`;
    }
    return s;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return one(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
