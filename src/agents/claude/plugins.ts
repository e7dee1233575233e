/**
 * The plugins Claude Code has in the container: moat.yaml's `claude.plugins` / `claude.marketplaces`
 * over the project's `.claude/settings.local.json` and `.claude/settings.json` over the host user's
 * settings (a later `false` disables), and the host's installed copies of the enabled plugins, mounted
 * read-only. `claude.host_plugins: false` keeps only moat.yaml's. A marketplace whose source carries a
 * credential is left out: the container never holds a secret.
 *
 * The project's settings files are workspace files a run can write, so they only choose what Claude Code
 * enables inside the container: host folders are mounted only for the plugins and marketplaces the user's
 * own settings (~/.claude/settings.json) or the approved moat.yaml enable or declare.
 */
import type { Mount } from '../../runtime/types.js';
import type { AgentSettings, HomeFile } from '../types.js';
import { claudeHostPaths, hostPluginLayers, mergePluginSettings, readHostRecords, type PluginSettings } from './host-plugins.js';
import { pluginSeed, rewritePaths, type PluginSeed } from './plugin-seed.js';

export interface ClaudePlugins {
  /** `enabledPlugins` for the container's `~/.claude/settings.json`. */
  plugins: Record<string, boolean>;
  /** `extraKnownMarketplaces`, host paths rewritten to the container's. */
  marketplaces: Record<string, unknown>;
  files: HomeFile[];
  mounts: Mount[];
  env: Record<string, string>;
}

export interface ClaudePluginOptions {
  settings: AgentSettings;
  /** moat.yaml's `claude.host_plugins` (default true). */
  hostPlugins: boolean;
  workspace: string;
  /** The host user's home directory (passed in, so tests never read the real one). */
  hostHome: string;
  /** For CLAUDE_CONFIG_DIR and CLAUDE_CODE_PLUGIN_CACHE_DIR. */
  env: NodeJS.ProcessEnv;
  warn: (msg: string) => void;
  /** Real paths of folders no run may see (keys, credentials, moat's home): no marketplace folder holds or lies in one. */
  sensitive?: readonly string[];
}

const CREDENTIAL_KEYS = new Set(['headers', 'token', 'password', 'auth', 'authorization']);
/** A URL with a password (`user:pass@`), or any user part on http(s) (`https://TOKEN@host`). */
const CREDENTIAL_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]*:[^/?#@\s]*@|^https?:\/\/[^/?#@\s]+@/i;

/** Whether a marketplace declaration could carry a secret (a tokenized URL, auth headers). */
export function carriesCredential(v: unknown): boolean {
  if (typeof v === 'string') return CREDENTIAL_URL.test(v.trim());
  if (Array.isArray(v)) return v.some(carriesCredential);
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v).some(([k, x]) => CREDENTIAL_KEYS.has(k.toLowerCase()) || carriesCredential(x));
  }
  return false;
}

export async function claudePlugins(opts: ClaudePluginOptions): Promise<ClaudePlugins> {
  const moat: PluginSettings = { enabledPlugins: { ...(opts.settings.plugins ?? {}) }, extraKnownMarketplaces: { ...(opts.settings.marketplaces ?? {}) } };
  let merged = moat;
  let seed: PluginSeed = { mounts: [], files: [], rewrites: [], env: {} };
  const warned = new Set<string>();
  const leftOut = (name: string): void => {
    if (warned.has(name)) return;
    warned.add(name);
    opts.warn(
      `The plugin marketplace "${name}" is left out of the container: its source carries a credential (a URL with a token or password, or headers). Declare it with a source that needs none, e.g. { source: github, repo: OWNER/REPO }.`,
    );
  };
  if (opts.hostPlugins) {
    const paths = claudeHostPaths(opts.hostHome, opts.env);
    const layers = await hostPluginLayers(paths, opts.workspace, opts.warn);
    merged = mergePluginSettings(...layers, moat);
    const user = layers[0] ?? { enabledPlugins: {}, extraKnownMarketplaces: {} };
    const trusted = mergePluginSettings(user, moat);
    // Enabled by the user or by moat.yaml (a later false still lists it, disabled, as on the host).
    const shareable = (id: string): boolean => user.enabledPlugins[id] === true || moat.enabledPlugins[id] === true;
    const hostShared = Object.fromEntries(Object.entries(merged.enabledPlugins).filter(([id]) => shareable(id)));
    const records = await readHostRecords(paths, opts.warn);
    const withheld = Object.keys(merged.enabledPlugins)
      .filter((id) => merged.enabledPlugins[id] === true && !shareable(id) && records.installed[id])
      .sort();
    if (withheld.length > 0) {
      opts.warn(
        `The project's .claude/settings enables ${withheld.join(', ')}, which neither your own Claude Code settings nor moat.yaml enable: the copy installed on this machine is not shared with the container. To share it, enable it in ~/.claude/settings.json or under claude.plugins in moat.yaml.`,
      );
    }
    for (const [name, k] of Object.entries(records.known)) {
      if (carriesCredential(k.source)) {
        leftOut(name);
        delete records.known[name];
      }
    }
    seed = await pluginSeed({
      paths,
      workspace: opts.workspace,
      records,
      plugins: hostShared,
      declared: Object.keys(trusted.extraKnownMarketplaces).filter((n) => !carriesCredential(trusted.extraKnownMarketplaces[n])),
      warn: opts.warn,
      sensitive: opts.sensitive ?? [],
    });
  }
  const marketplaces: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(merged.extraKnownMarketplaces)) {
    if (carriesCredential(m)) leftOut(name);
    else marketplaces[name] = m;
  }
  return {
    plugins: merged.enabledPlugins,
    marketplaces: rewritePaths(marketplaces, seed.rewrites),
    files: seed.files,
    mounts: seed.mounts,
    env: seed.env,
  };
}
