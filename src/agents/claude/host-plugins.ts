/**
 * Claude Code's plugin settings as the host sees them: the user's `settings.json` (in `CLAUDE_CONFIG_DIR`,
 * else `~/.claude`), the project's `.claude/settings.json` and `.claude/settings.local.json`, and the
 * records Claude Code keeps of what it installed (`plugins/installed_plugins.json`) and which marketplaces
 * it fetched (`plugins/known_marketplaces.json`). Only reads; never touches the host's files.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { errnoCode } from '../../errors.js';

/** Where Claude Code keeps its configuration on the host. */
export interface ClaudeHostPaths {
  /** The host user's home directory. */
  home: string;
  /** `CLAUDE_CONFIG_DIR`, else `~/.claude`. */
  configDir: string;
  /** `CLAUDE_CODE_PLUGIN_CACHE_DIR`, else `<configDir>/plugins`. */
  pluginsDir: string;
}

export function claudeHostPaths(home: string, env: NodeJS.ProcessEnv): ClaudeHostPaths {
  const expand = (p: string): string => (p === '~' || p.startsWith('~/') ? join(home, p.slice(1)) : p);
  const abs = (p: string): string => (isAbsolute(expand(p)) ? expand(p) : resolve(home, expand(p)));
  const configDir = env.CLAUDE_CONFIG_DIR ? abs(env.CLAUDE_CONFIG_DIR) : join(home, '.claude');
  const pluginsDir = env.CLAUDE_CODE_PLUGIN_CACHE_DIR ? abs(env.CLAUDE_CODE_PLUGIN_CACHE_DIR) : join(configDir, 'plugins');
  return { home, configDir, pluginsDir };
}

/** The two plugin keys of one settings file. */
export interface PluginSettings {
  /** `"name@marketplace": true | false` */
  enabledPlugins: Record<string, boolean>;
  /** `name: { source: { source: "github", repo } | { source: "git", url } | { source: "directory", path } | … }` */
  extraKnownMarketplaces: Record<string, unknown>;
}

type Warn = (msg: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON file as an object; undefined when it does not exist. A broken file is a warning, not an error. */
export async function readJsonObject(file: string, warn: Warn, what: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') warn(`Cannot read ${what} ${file} (${(err as Error).message}); its plugins are left out.`);
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (isRecord(v)) return v;
  } catch {
    // fall through
  }
  warn(`${what} ${file} is not a JSON object; its plugins are left out. Fix the file and run again.`);
  return undefined;
}

/** The plugin keys of a settings object; anything else in it (permissions, env, hooks, options) is ignored. */
export function pluginSettingsOf(settings: Record<string, unknown> | undefined): PluginSettings {
  const enabledPlugins: Record<string, boolean> = {};
  const extraKnownMarketplaces: Record<string, unknown> = {};
  const enabled = settings?.enabledPlugins;
  if (isRecord(enabled)) for (const [id, on] of Object.entries(enabled)) if (typeof on === 'boolean') enabledPlugins[id] = on;
  const markets = settings?.extraKnownMarketplaces;
  if (isRecord(markets)) for (const [name, m] of Object.entries(markets)) if (isRecord(m)) extraKnownMarketplaces[name] = m;
  return { enabledPlugins, extraKnownMarketplaces };
}

/** Layers merged key by key, later layers winning (so `false` in a later layer disables a plugin). */
export function mergePluginSettings(...layers: PluginSettings[]): PluginSettings {
  const out: PluginSettings = { enabledPlugins: {}, extraKnownMarketplaces: {} };
  for (const l of layers) {
    Object.assign(out.enabledPlugins, l.enabledPlugins);
    Object.assign(out.extraKnownMarketplaces, l.extraKnownMarketplaces);
  }
  return out;
}

/** The host user's and the project's plugin settings, lowest precedence first: user, project, project-local. */
export async function hostPluginLayers(paths: ClaudeHostPaths, workspace: string, warn: Warn): Promise<PluginSettings[]> {
  const files: Array<[string, string]> = [
    [join(paths.configDir, 'settings.json'), 'Claude Code settings'],
    [join(workspace, '.claude', 'settings.json'), 'Project settings'],
    [join(workspace, '.claude', 'settings.local.json'), 'Project settings'],
  ];
  const layers: PluginSettings[] = [];
  for (const [file, what] of files) layers.push(pluginSettingsOf(await readJsonObject(file, warn, what)));
  return layers;
}

/** One installation of a plugin, as `installed_plugins.json` records it. */
export interface InstallRecord {
  scope?: string;
  installPath: string;
  version?: string;
  projectPath?: string;
  installedAt?: string;
  lastUpdated?: string;
}

/** A fetched marketplace, as `known_marketplaces.json` records it. */
export interface KnownMarketplace {
  source: Record<string, unknown>;
  installLocation: string;
  lastUpdated?: string;
}

export interface HostRecords {
  installed: Record<string, InstallRecord[]>;
  known: Record<string, KnownMarketplace>;
}

function installRecord(v: unknown): InstallRecord | undefined {
  if (!isRecord(v) || typeof v.installPath !== 'string') return undefined;
  const r: InstallRecord = { installPath: v.installPath };
  for (const k of ['scope', 'version', 'projectPath', 'installedAt', 'lastUpdated'] as const) {
    const x = v[k];
    if (typeof x === 'string') r[k] = x;
  }
  return r;
}

/** What Claude Code installed and fetched on the host (both files' format 2, and format 1's one record per plugin). */
export async function readHostRecords(paths: ClaudeHostPaths, warn: Warn): Promise<HostRecords> {
  const installed: HostRecords['installed'] = {};
  const known: HostRecords['known'] = {};
  const inst = await readJsonObject(join(paths.pluginsDir, 'installed_plugins.json'), warn, 'Claude Code plugin record');
  const plugins = inst?.plugins;
  if (isRecord(plugins)) {
    for (const [id, v] of Object.entries(plugins)) {
      const records = (Array.isArray(v) ? v : [v]).map(installRecord).filter((r): r is InstallRecord => r !== undefined);
      if (records.length > 0) installed[id] = records;
    }
  }
  const km = await readJsonObject(join(paths.pluginsDir, 'known_marketplaces.json'), warn, 'Claude Code marketplace record');
  for (const [name, v] of Object.entries(km ?? {})) {
    if (isRecord(v) && isRecord(v.source) && typeof v.installLocation === 'string') {
      known[name] = { source: v.source, installLocation: v.installLocation, ...(typeof v.lastUpdated === 'string' ? { lastUpdated: v.lastUpdated } : {}) };
    }
  }
  return { installed, known };
}

/** The marketplace of a plugin id (`name@marketplace`); undefined without one. */
export function marketplaceOf(id: string): string | undefined {
  const at = id.lastIndexOf('@');
  return at > 0 && at < id.length - 1 ? id.slice(at + 1) : undefined;
}

/** The installation to use for the workspace: its own project/local one, else the user's, else any. */
export function pickInstall(records: readonly InstallRecord[], workspace: string): InstallRecord | undefined {
  return (
    records.find((r) => r.projectPath !== undefined && resolve(r.projectPath) === resolve(workspace)) ??
    records.find((r) => r.scope === undefined || r.scope === 'user') ??
    records.find((r) => r.projectPath === undefined) ??
    records[0]
  );
}
