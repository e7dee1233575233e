/**
 * What `moat claude` would enable, and from where: the plugin settings of the host user
 * (`~/.claude/settings.json`), the project (`.claude/settings.json`, `.claude/settings.local.json`) and the
 * workspace's *approved* moat.yaml (`claude.plugins`, `claude.marketplaces`, `claude.host_plugins`), later
 * layers winning, with where each plugin and marketplace is cached on the host. Only reads.
 */
import { join } from 'node:path';
import { loadWorkspaceConfig } from '../../config/load.js';
import type { MoatHome } from '../../home/paths.js';
import { approvedSettings } from '../../run/config-trust.js';
import { canonical, guardedSettings } from '../../run/trust-settings.js';
import {
  claudeHostPaths,
  marketplaceOf,
  pickInstall,
  pluginSettingsOf,
  readHostRecords,
  readJsonObject,
  type ClaudeHostPaths,
  type HostRecords,
  type PluginSettings,
} from './host-plugins.js';
import { carriesCredential } from './plugins.js';

export type SettingsSource = 'user' | 'project' | 'project-local' | 'moat.yaml';

export interface SettingsLayer {
  source: SettingsSource;
  file: string;
  /** The file exists (moat.yaml: an approval exists). */
  present: boolean;
  /** A run reads this layer (the host's and the project's are left out with `claude.host_plugins: false`). */
  used: boolean;
  settings: PluginSettings;
}

export interface PluginEntry {
  id: string;
  enabled: boolean;
  /** The layer whose value wins. */
  decidedBy: SettingsSource;
  /** Every layer that names the plugin, in order (the last one decides). */
  settings: Array<{ source: SettingsSource; enabled: boolean }>;
  /** The host's installed copy, as Claude Code recorded it. */
  cachedAt?: string;
  version?: string;
  /** Its installed copy is mounted (read-only) into the container. */
  sharedWithContainer: boolean;
}

export interface MarketplaceEntry {
  name: string;
  /** The layers that declare it (extraKnownMarketplaces, claude.marketplaces). */
  declaredIn: SettingsSource[];
  /** Its source in words (a URL's user and password hidden); undefined when nothing says where it is from. */
  source?: string;
  /** Where Claude Code fetched it on this host (known_marketplaces.json). */
  cachedAt?: string;
  lastUpdated?: string;
}

export interface PluginInventory {
  workspace: string;
  hostPlugins: boolean;
  layers: SettingsLayer[];
  plugins: PluginEntry[];
  marketplaces: MarketplaceEntry[];
  /** Things to know: moat.yaml changes waiting for approval, an unreadable file. */
  notes: string[];
}

export interface InventoryOptions {
  home: MoatHome;
  workspace: string;
  hostHome: string;
  env: NodeJS.ProcessEnv;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A URL with its user and password replaced (a token in a URL never reaches the output). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/i, '$1***@');
}

/** A marketplace source (`{ source: "git", url }`, …) in words, never a credential. */
export function describeSource(src: unknown): string | undefined {
  if (!isRecord(src)) return undefined;
  const kind = str(src.source);
  const ref = str(src.ref) ? `#${str(src.ref)}` : '';
  const secret = carriesCredential(src) ? ' (carries a credential)' : '';
  if (kind === 'github') return `github ${str(src.repo) ?? '?'}${ref}${secret}`;
  if (kind === 'git' || kind === 'url') return `${kind} ${redactUrl(str(src.url) ?? '?')}${ref}${secret}`;
  if (kind === 'directory' || kind === 'file') return `${kind} ${str(src.path) ?? '?'}${secret}`;
  return `${kind ?? 'unknown'} source${secret}`;
}

/** The inner source of a declaration (`{ source: { source: "git", url } }`). */
export const declaredSource = (decl: unknown): Record<string, unknown> | undefined => (isRecord(decl) && isRecord(decl.source) ? decl.source : undefined);

async function hostLayer(source: SettingsSource, file: string, used: boolean, notes: string[]): Promise<SettingsLayer> {
  const obj = await readJsonObject(file, (m) => notes.push(m), source === 'user' ? 'Claude Code settings' : 'Project settings');
  return { source, file, present: obj !== undefined, used, settings: pluginSettingsOf(obj) };
}

/** moat.yaml's layer: its approved `claude.*` settings, and a note when the file asks for others. */
async function moatLayer(opts: InventoryOptions, notes: string[]): Promise<{ layer: SettingsLayer; hostPlugins: boolean }> {
  const approved = await approvedSettings(opts.home, opts.workspace, opts.hostHome);
  const a = approved.settings ?? {};
  const plugins = isRecord(a['claude.plugins']) ? a['claude.plugins'] : {};
  const markets = isRecord(a['claude.marketplaces']) ? a['claude.marketplaces'] : {};
  const hostPlugins = a['claude.host_plugins'] !== false;
  let file = join(opts.workspace, 'moat.yaml');
  try {
    const loaded = await loadWorkspaceConfig(opts.workspace, { homeDir: opts.hostHome });
    if (loaded.file) file = loaded.file;
    const now = guardedSettings(loaded.raw, []);
    const keys = ['claude.plugins', 'claude.marketplaces', 'claude.host_plugins'] as const;
    const changed = keys.filter((k) => canonical(now[k] ?? null) !== canonical((approved.settings ?? guardedSettings({}, []))[k] ?? null));
    if (changed.length > 0)
      notes.push(`${file} changes ${changed.join(', ')}, not approved yet: shown as approved; moat trust show lists the change, the next run asks.`);
  } catch (err) {
    notes.push(`${file} cannot be read (${(err as Error).message}); its approved settings are shown.`);
  }
  const settings = pluginSettingsOf({ enabledPlugins: plugins, extraKnownMarketplaces: markets });
  return { layer: { source: 'moat.yaml', file, present: approved.settings !== undefined, used: true, settings }, hostPlugins };
}

export async function pluginInventory(opts: InventoryOptions): Promise<PluginInventory> {
  const notes: string[] = [];
  const paths: ClaudeHostPaths = claudeHostPaths(opts.hostHome, opts.env);
  const { layer: moat, hostPlugins } = await moatLayer(opts, notes);
  const layers = [
    await hostLayer('user', join(paths.configDir, 'settings.json'), hostPlugins, notes),
    await hostLayer('project', join(opts.workspace, '.claude', 'settings.json'), hostPlugins, notes),
    await hostLayer('project-local', join(opts.workspace, '.claude', 'settings.local.json'), hostPlugins, notes),
    moat,
  ];
  if (!hostPlugins) notes.push("claude.host_plugins: false in moat.yaml: only moat.yaml's plugins are used, not yours nor the project's.");
  const used = layers.filter((l) => l.used);
  const records: HostRecords = hostPlugins ? await readHostRecords(paths, (m) => notes.push(m)) : { installed: {}, known: {} };
  const user = layers[0]?.settings;

  const ids = [...new Set(used.flatMap((l) => Object.keys(l.settings.enabledPlugins)))].sort();
  const plugins = ids.map((id): PluginEntry => {
    const settings = used.filter((l) => id in l.settings.enabledPlugins).map((l) => ({ source: l.source, enabled: l.settings.enabledPlugins[id] === true }));
    const last = settings[settings.length - 1] ?? { source: 'moat.yaml' as const, enabled: false };
    const rec = pickInstall(records.installed[id] ?? [], opts.workspace);
    const trusted = (hostPlugins && user?.enabledPlugins[id] === true) || moat.settings.enabledPlugins[id] === true;
    return {
      id,
      enabled: last.enabled,
      decidedBy: last.source,
      settings,
      ...(rec ? { cachedAt: rec.installPath, ...(rec.version ? { version: rec.version } : {}) } : {}),
      sharedWithContainer: rec !== undefined && trusted,
    };
  });

  const names = new Set<string>([
    ...used.flatMap((l) => Object.keys(l.settings.extraKnownMarketplaces)),
    ...ids.map(marketplaceOf).filter((m): m is string => m !== undefined),
    ...Object.keys(records.known),
  ]);
  const marketplaces = [...names].sort().map((name): MarketplaceEntry => {
    const declaring = used.filter((l) => name in l.settings.extraKnownMarketplaces);
    const decl = declaring[declaring.length - 1]?.settings.extraKnownMarketplaces[name];
    const k = records.known[name];
    const source = describeSource(declaredSource(decl) ?? k?.source);
    return {
      name,
      declaredIn: declaring.map((l) => l.source),
      ...(source ? { source } : {}),
      ...(k ? { cachedAt: k.installLocation, ...(k.lastUpdated ? { lastUpdated: k.lastUpdated } : {}) } : {}),
    };
  });
  return { workspace: opts.workspace, hostPlugins, layers, plugins, marketplaces, notes };
}
