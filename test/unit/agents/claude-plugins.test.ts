import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { claudeHostPaths, mergePluginSettings, pickInstall, pluginSettingsOf, readHostRecords } from '../../../src/agents/claude/host-plugins.js';
import { CONTAINER_HOME, SEED_DIR, rewritePaths, seedMounts } from '../../../src/agents/claude/plugin-seed.js';
import { carriesCredential, claudePlugins } from '../../../src/agents/claude/plugins.js';

const put = async (file: string, content: unknown): Promise<void> => {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
};

describe('claude plugins: settings layers', () => {
  it('keeps only enabledPlugins (booleans) and extraKnownMarketplaces (objects)', () => {
    expect(
      pluginSettingsOf({
        enabledPlugins: { 'a@m': true, 'b@m': false, 'c@m': 'yes' },
        extraKnownMarketplaces: { m: { source: { source: 'github', repo: 'o/r' } }, bad: 'x' },
        env: { SECRET: 'no' },
        pluginConfigs: { 'a@m': { options: { key: 'no' } } },
      }),
    ).toEqual({ enabledPlugins: { 'a@m': true, 'b@m': false }, extraKnownMarketplaces: { m: { source: { source: 'github', repo: 'o/r' } } } });
    expect(pluginSettingsOf(undefined)).toEqual({ enabledPlugins: {}, extraKnownMarketplaces: {} });
  });

  it('later layers win key by key, and false disables', () => {
    const host = { enabledPlugins: { 'a@m': true, 'b@m': true }, extraKnownMarketplaces: { m: { v: 1 } } };
    const project = { enabledPlugins: { 'b@m': false, 'c@m': true }, extraKnownMarketplaces: { m: { v: 2 }, n: { v: 3 } } };
    const moat = { enabledPlugins: { 'c@m': false }, extraKnownMarketplaces: {} };
    expect(mergePluginSettings(host, project, moat)).toEqual({
      enabledPlugins: { 'a@m': true, 'b@m': false, 'c@m': false },
      extraKnownMarketplaces: { m: { v: 2 }, n: { v: 3 } },
    });
  });

  it('CLAUDE_CONFIG_DIR and CLAUDE_CODE_PLUGIN_CACHE_DIR move the config and plugin folders', () => {
    expect(claudeHostPaths('/h', {})).toEqual({ home: '/h', configDir: '/h/.claude', pluginsDir: '/h/.claude/plugins' });
    expect(claudeHostPaths('/h', { CLAUDE_CONFIG_DIR: '~/cfg' })).toEqual({ home: '/h', configDir: '/h/cfg', pluginsDir: '/h/cfg/plugins' });
    expect(claudeHostPaths('/h', { CLAUDE_CONFIG_DIR: '/etc/c', CLAUDE_CODE_PLUGIN_CACHE_DIR: '/var/p' }).pluginsDir).toBe('/var/p');
  });

  it("picks the workspace's own installation, else the user's", () => {
    const recs = [
      { scope: 'project', installPath: '/p/other', projectPath: '/other' },
      { scope: 'user', installPath: '/p/user' },
      { scope: 'local', installPath: '/p/mine', projectPath: '/ws' },
    ];
    expect(pickInstall(recs, '/ws')?.installPath).toBe('/p/mine');
    expect(pickInstall(recs, '/elsewhere')?.installPath).toBe('/p/user');
    expect(pickInstall([], '/ws')).toBeUndefined();
  });
});

describe('claude plugins: host records', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-hp-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads format 2 and format 1 of installed_plugins.json, and known_marketplaces.json', async () => {
    const paths = claudeHostPaths(dir, {});
    await put(join(paths.pluginsDir, 'installed_plugins.json'), {
      version: 2,
      plugins: { 'a@m': [{ scope: 'user', installPath: '/x/a', version: '1.0.0' }], 'b@m': { installPath: '/x/b' }, 'c@m': [{ nope: 1 }] },
    });
    await put(join(paths.pluginsDir, 'known_marketplaces.json'), {
      m: { source: { source: 'github', repo: 'o/r' }, installLocation: '/x/m' },
      broken: { source: 'x' },
    });
    const r = await readHostRecords(paths, () => undefined);
    expect(r.installed).toEqual({ 'a@m': [{ scope: 'user', installPath: '/x/a', version: '1.0.0' }], 'b@m': [{ installPath: '/x/b' }] });
    expect(r.known).toEqual({ m: { source: { source: 'github', repo: 'o/r' }, installLocation: '/x/m' } });
  });

  it('a broken file is one warning naming it, not an error', async () => {
    const paths = claudeHostPaths(dir, {});
    await put(join(paths.pluginsDir, 'installed_plugins.json'), '{ nope');
    const warnings: string[] = [];
    const r = await readHostRecords(paths, (m) => warnings.push(m));
    expect(r).toEqual({ installed: {}, known: {} });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(paths.pluginsDir, 'installed_plugins.json'));
  });
});

describe('claude plugins: path rewriting and credentials', () => {
  it('rewrites host paths (and paths below them) in any string, longest prefix first', () => {
    const rw: Array<[string, string]> = [
      ['/home/me/.claude/plugins/cache/m/a/1', '/seed/cache/m/a/1'],
      ['/home/me', CONTAINER_HOME],
    ];
    expect(
      rewritePaths(
        {
          a: '/home/me/.claude/plugins/cache/m/a/1',
          b: ['/home/me/.claude/plugins/cache/m/a/1/bin/x', '/home/me/dev/mkt', '/home/meagain', 'github'],
          c: { d: 3, e: '/home/me' },
        },
        rw,
      ),
    ).toEqual({
      a: '/seed/cache/m/a/1',
      b: ['/seed/cache/m/a/1/bin/x', `${CONTAINER_HOME}/dev/mkt`, '/home/meagain', 'github'],
      c: { d: 3, e: CONTAINER_HOME },
    });
  });

  it('spots a tokenized URL or auth headers, not an ordinary source', () => {
    expect(carriesCredential({ source: { source: 'git', url: 'https://ghp_abc@github.com/o/r.git' } })).toBe(true);
    expect(carriesCredential({ source: { source: 'git', url: 'https://user:pw@git.corp/o/r.git' } })).toBe(true);
    expect(carriesCredential({ source: { source: 'url', url: 'https://x/m.json', headers: { 'X-Key': 'k' } } })).toBe(true);
    expect(carriesCredential({ source: { source: 'git', url: 'git@github.com:o/r.git' } })).toBe(false);
    expect(carriesCredential({ source: { source: 'git', url: 'ssh://git@github.com/o/r.git' } })).toBe(false);
    expect(carriesCredential({ source: { source: 'github', repo: 'o/r' } })).toBe(false);
  });
});

/** A fake host: a home with Claude Code's settings, records, a cloned and a local marketplace, and secrets. */
describe("claude plugins: the host's plugins in the container", () => {
  let dir: string;
  let home: string;
  let ws: string;
  let outside: string;
  let warnings: string[];
  const warn = (m: string): void => {
    warnings.push(m);
  };

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'moat-hp-')));
    home = join(dir, 'home');
    ws = join(dir, 'ws');
    outside = join(dir, 'outside-mkt');
    warnings = [];
    const plugins = join(home, '.claude', 'plugins');
    const cache = (m: string, p: string, v: string): string => join(plugins, 'cache', m, p, v);
    await put(join(home, '.claude', 'settings.json'), {
      enabledPlugins: { 'hello@local': true, 'gh@acme': true, 'proj-off@acme': true, 'local-off@acme': true, 'yaml-off@acme': true },
      extraKnownMarketplaces: {
        local: { source: { source: 'directory', path: join(home, 'dev', 'mkt') } },
        acme: { source: { source: 'github', repo: 'acme/plugins' } },
      },
      env: { ANTHROPIC_API_KEY: 'sk-REAL' },
    });
    await put(join(home, '.claude', '.credentials.json'), { token: 'REALSECRET' });
    await put(join(ws, '.claude', 'settings.json'), { enabledPlugins: { 'proj-off@acme': false, 'proj-on@acme': true } });
    await put(join(ws, '.claude', 'settings.local.json'), { enabledPlugins: { 'local-off@acme': false } });
    // The local (directory) marketplace with its plugin and a secret next to it.
    await put(join(home, 'dev', 'mkt', '.claude-plugin', 'marketplace.json'), { name: 'local', plugins: [{ name: 'hello', source: './plugins/hello' }] });
    await put(join(home, 'dev', 'mkt', 'plugins', 'hello', 'commands', 'greet.md'), 'Say hello.');
    await put(join(home, 'dev', 'mkt', '.env'), 'TOKEN=REALSECRET');
    // The cloned marketplace, with its git metadata.
    await put(join(plugins, 'marketplaces', 'acme', '.claude-plugin', 'marketplace.json'), { name: 'acme', plugins: [] });
    await put(join(plugins, 'marketplaces', 'acme', '.git', 'config'), '[remote "origin"]');
    await put(join(plugins, 'marketplaces', 'acme', 'plugins', 'gh', 'README.md'), 'gh');
    for (const [m, p, v] of [
      ['local', 'hello', '1.0.0'],
      ['acme', 'gh', '2.0.0'],
      ['acme', 'proj-on', '1.1.0'],
      ['acme', 'yaml-off', '1.0.0'],
    ] as const) {
      await put(join(cache(m, p, v), '.claude-plugin', 'plugin.json'), { name: p, version: v });
    }
    await put(join(plugins, 'data', 'gh-acme', 'token.json'), { token: 'REALSECRET' });
    await put(join(outside, '.claude-plugin', 'marketplace.json'), { name: 'far', plugins: [] });
    await put(join(plugins, 'installed_plugins.json'), {
      version: 2,
      plugins: {
        'hello@local': [{ scope: 'user', installPath: cache('local', 'hello', '1.0.0'), version: '1.0.0', installedAt: '2026-01-01T00:00:00.000Z' }],
        'gh@acme': [{ scope: 'user', installPath: cache('acme', 'gh', '2.0.0'), version: '2.0.0' }],
        'proj-on@acme': [{ scope: 'project', installPath: cache('acme', 'proj-on', '1.1.0'), version: '1.1.0', projectPath: ws }],
        'yaml-off@acme': [{ scope: 'user', installPath: cache('acme', 'yaml-off', '1.0.0'), version: '1.0.0' }],
        'escape@acme': [{ scope: 'user', installPath: '/etc', version: '1' }],
      },
    });
    await put(join(plugins, 'known_marketplaces.json'), {
      local: {
        source: { source: 'directory', path: join(home, 'dev', 'mkt') },
        installLocation: join(home, 'dev', 'mkt'),
        lastUpdated: '2026-01-01T00:00:00.000Z',
      },
      acme: { source: { source: 'github', repo: 'acme/plugins' }, installLocation: join(plugins, 'marketplaces', 'acme') },
      far: { source: { source: 'directory', path: outside }, installLocation: outside },
      tokened: { source: { source: 'git', url: 'https://ghp_SECRET@github.com/acme/private.git' }, installLocation: join(plugins, 'marketplaces', 'tokened') },
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = (yaml: { plugins?: Record<string, boolean>; marketplaces?: Record<string, unknown> } = {}, hostPlugins = true) =>
    claudePlugins({ settings: yaml, hostPlugins, workspace: ws, hostHome: home, env: {}, warn });
  const file = (files: { path: string; content: string }[], path: string): Record<string, unknown> =>
    JSON.parse(files.find((f) => f.path === path)?.content ?? 'null') as Record<string, unknown>;

  it("hostile: a directory marketplace a run swapped for a link to ~/.ssh (or moat's home) is not mounted", async () => {
    const { sensitiveHostFolders } = await import('../../../src/run/sensitive-workspace.js');
    const mkt = join(home, 'dev', 'mkt');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await put(join(home, '.ssh', 'id_ed25519'), 'PRIVATE KEY');
    await put(join(home, '.moat', 'credentials', 'key'), 'KEY');
    for (const target of [join(home, '.ssh'), join(home, '.moat'), home]) {
      await rm(mkt, { recursive: true, force: true });
      await symlink(target, mkt);
      warnings.length = 0;
      const r = await claudePlugins({
        settings: { plugins: { 'yaml-off@acme': false } },
        hostPlugins: true,
        workspace: ws,
        hostHome: home,
        env: {},
        warn,
        sensitive: await sensitiveHostFolders(home, join(home, '.moat')),
      });
      expect(r.mounts.filter((m) => m.target.includes('/marketplaces/local'))).toEqual([]);
      expect(r.mounts.map((m) => m.source).join(' ')).not.toMatch(/\.ssh|\.moat/);
      expect(warnings.find((w) => w.includes('"local"'))).toMatch(/a folder no run may see/);
    }
  });

  it("enables the host's plugins under the project's and moat.yaml's settings", async () => {
    const r = await run({ plugins: { 'yaml-off@acme': false, 'yaml-on@acme': true } });
    expect(r.plugins).toEqual({
      'hello@local': true,
      'gh@acme': true,
      'proj-on@acme': true,
      'yaml-on@acme': true,
      'proj-off@acme': false,
      'local-off@acme': false,
      'yaml-off@acme': false,
    });
  });

  it("mounts the enabled plugins' installed copies and their marketplaces read-only, nothing else", async () => {
    const r = await run({ plugins: { 'yaml-off@acme': false, 'far-plugin@far': true, 'x@tokened': true } });
    const plugins = join(home, '.claude', 'plugins');
    expect(r.mounts).toEqual([
      { source: join(plugins, 'cache', 'acme', 'gh', '2.0.0'), target: `${SEED_DIR}/cache/acme/gh/2.0.0`, readOnly: true },
      { source: join(plugins, 'cache', 'local', 'hello', '1.0.0'), target: `${SEED_DIR}/cache/local/hello/1.0.0`, readOnly: true },
      // Disabled, but installed on the host: listed (and can be enabled) in the container too.
      { source: join(plugins, 'cache', 'acme', 'yaml-off', '1.0.0'), target: `${SEED_DIR}/cache/acme/yaml-off/1.0.0`, readOnly: true },
      // .git stays on the host: the other entries are mounted one by one.
      { source: join(plugins, 'marketplaces', 'acme', '.claude-plugin'), target: `${SEED_DIR}/marketplaces/acme/.claude-plugin`, readOnly: true },
      { source: join(plugins, 'marketplaces', 'acme', 'plugins'), target: `${SEED_DIR}/marketplaces/acme/plugins`, readOnly: true },
      { source: join(home, 'dev', 'mkt', '.claude-plugin'), target: `${SEED_DIR}/marketplaces/local/.claude-plugin`, readOnly: true },
      { source: join(home, 'dev', 'mkt', 'plugins'), target: `${SEED_DIR}/marketplaces/local/plugins`, readOnly: true },
    ]);
    expect(r.env).toEqual({ CLAUDE_CODE_PLUGIN_SEED_DIR: SEED_DIR });
    for (const m of r.mounts) {
      expect(m.source).not.toMatch(/\/data|\.git|\.env|credentials|\/etc$/);
      expect(m.readOnly).toBe(true);
    }
    expect(warnings.find((w) => w.includes('"far"'))).toMatch(/outside your home directory/);
    expect(warnings.find((w) => w.includes('"tokened"'))).toMatch(/carries a credential/);
    expect(warnings.find((w) => w.includes('escape@acme'))).toBeUndefined(); // not enabled: not looked at
  });

  it("the project's settings cannot choose which host plugin folders are mounted", async () => {
    // A run writes the workspace's .claude/settings.json: it enables an installed plugin the user never
    // enabled, and declares the user's fetched marketplace that sits outside the plugin folder.
    await put(join(ws, '.claude', 'settings.json'), {
      enabledPlugins: { 'proj-on@acme': true },
      extraKnownMarketplaces: { far: { source: { source: 'directory', path: outside } } },
    });
    const r = await run();
    expect(r.plugins['proj-on@acme']).toBe(true); // Claude Code in the container may still install it itself
    expect(r.mounts.map((m) => m.source).filter((s) => s.includes('proj-on') || s.startsWith(outside))).toEqual([]);
    expect(warnings).toContain(
      "The project's .claude/settings enables proj-on@acme, which neither your own Claude Code settings nor moat.yaml enable: the copy installed on this machine is not shared with the container. To share it, enable it in ~/.claude/settings.json or under claude.plugins in moat.yaml.",
    );
    // Enabled in moat.yaml (an approved setting), its installed copy is shared.
    const approved = await run({ plugins: { 'proj-on@acme': true } });
    expect(approved.mounts.some((m) => m.target === `${SEED_DIR}/cache/acme/proj-on/1.1.0`)).toBe(true);
  });

  it("the container's records and settings name container paths only, and no secret", async () => {
    const r = await run({ plugins: { 'yaml-off@acme': false } });
    const installed = file(r.files, '.claude/plugins/installed_plugins.json');
    expect(installed).toEqual({
      version: 2,
      plugins: {
        'gh@acme': [{ scope: 'user', installPath: `${SEED_DIR}/cache/acme/gh/2.0.0`, version: '2.0.0' }],
        'hello@local': [{ scope: 'user', installPath: `${SEED_DIR}/cache/local/hello/1.0.0`, version: '1.0.0', installedAt: '2026-01-01T00:00:00.000Z' }],
        'yaml-off@acme': [{ scope: 'user', installPath: `${SEED_DIR}/cache/acme/yaml-off/1.0.0`, version: '1.0.0' }],
      },
    });
    expect(file(r.files, '.claude/plugins/known_marketplaces.json')).toEqual({
      acme: { source: { source: 'github', repo: 'acme/plugins' }, installLocation: `${SEED_DIR}/marketplaces/acme`, autoUpdate: false },
      local: {
        source: { source: 'directory', path: `${SEED_DIR}/marketplaces/local` },
        installLocation: `${SEED_DIR}/marketplaces/local`,
        lastUpdated: '2026-01-01T00:00:00.000Z',
        autoUpdate: false,
      },
    });
    expect(r.marketplaces).toEqual({
      local: { source: { source: 'directory', path: `${SEED_DIR}/marketplaces/local` } },
      acme: { source: { source: 'github', repo: 'acme/plugins' } },
    });
    const all = JSON.stringify([r.files, r.marketplaces, r.plugins, r.env]);
    expect(all).not.toContain(home);
    expect(all).not.toContain('REALSECRET');
    expect(all).not.toContain('sk-REAL');
    expect(r.files.every((f) => f.mode === 0o600)).toBe(true);
  });

  it('a directory marketplace anywhere else in the home is rewritten to the container home', async () => {
    const r = await run({ marketplaces: { mine: { source: { source: 'directory', path: join(home, 'src', 'mine') } } } });
    expect(r.marketplaces.mine).toEqual({ source: { source: 'directory', path: `${CONTAINER_HOME}/src/mine` } });
  });

  it("claude.host_plugins: false keeps only moat.yaml's plugins and reads nothing of the host", async () => {
    await put(join(home, '.claude', 'settings.json'), '{ broken');
    const r = await run({ plugins: { 'a@m': true }, marketplaces: { m: { source: { source: 'github', repo: 'o/r' } } } }, false);
    expect(r).toEqual({ plugins: { 'a@m': true }, marketplaces: { m: { source: { source: 'github', repo: 'o/r' } } }, files: [], mounts: [], env: {} });
    expect(warnings).toEqual([]);
  });

  it('CLAUDE_CONFIG_DIR on the host is where the settings and plugins are read from', async () => {
    const r = await claudePlugins({
      settings: {},
      hostPlugins: true,
      workspace: join(dir, 'nows'),
      hostHome: join(dir, 'empty'),
      env: { CLAUDE_CONFIG_DIR: join(home, '.claude') },
      warn,
    });
    expect(r.plugins['hello@local']).toBe(true);
    // The home is another folder, so the local marketplace (under the real home) is now "outside" it.
    expect(r.mounts.some((m) => m.target === `${SEED_DIR}/cache/local/hello/1.0.0`)).toBe(true);
  });

  it("no Claude Code on the host: moat.yaml's plugins, nothing mounted, no warning", async () => {
    const r = await claudePlugins({ settings: { plugins: { 'a@m': true } }, hostPlugins: true, workspace: ws, hostHome: join(dir, 'nobody'), env: {}, warn });
    expect(r.plugins).toEqual({ 'proj-off@acme': false, 'proj-on@acme': true, 'local-off@acme': false, 'a@m': true });
    expect(r.mounts).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('a symlinked entry that leaves the folder is not mounted', async () => {
    const src = join(dir, 'pl');
    await put(join(src, 'commands', 'a.md'), 'a');
    await put(join(src, '.env'), 'x');
    await symlink('/etc', join(src, 'etc'));
    const mounts = await seedMounts(src, '/t', warn);
    expect(mounts).toEqual([{ source: join(src, 'commands'), target: '/t/commands', readOnly: true }]);
  });
});
