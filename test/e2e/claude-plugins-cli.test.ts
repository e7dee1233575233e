/**
 * `moat claude plugins list` and `moat claude marketplace list|update` on the host, end to end (no engine,
 * no network): a fake host home whose Claude Code settings enable plugins and declare a marketplace in a
 * local git repository, a project that enables and declares its own, an approved moat.yaml that disables
 * one. The list says what is enabled and which file decides; update clones the local marketplace into
 * Claude Code's folder, refreshes it after a new commit, and never fetches the project's marketplace or
 * one whose URL carries a token (which never appears in any output).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { moat, tempDir } from './helpers.js';

const execFileP = promisify(execFile);
const TOKEN = 'tok3nE2EPLUGINSsecret';

const put = async (file: string, content: unknown): Promise<void> => {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
};
const git = async (cwd: string, ...args: string[]): Promise<string> =>
  (await execFileP('git', ['-c', 'user.email=e2e@moat.invalid', '-c', 'user.name=e2e', ...args], { cwd })).stdout.trim();

describe('moat claude plugins / marketplace', () => {
  let root: string;
  let home: string;
  let host: string;
  let ws: string;
  let repo: string;
  let projectRepo: string;

  const run = (args: string[]) =>
    moat(['claude', ...args], { home, cwd: ws, env: { HOME: host, CLAUDE_CONFIG_DIR: '', CLAUDE_CODE_PLUGIN_CACHE_DIR: '' }, timeoutMs: 60_000 });

  beforeAll(async () => {
    root = await tempDir('claude-plugins-cli');
    home = join(root, 'moat');
    host = join(root, 'host');
    ws = join(root, 'ws');
    repo = join(root, 'market');
    projectRepo = join(root, 'project-market');
    for (const [dir, name] of [
      [repo, 'local'],
      [projectRepo, 'projmkt'],
    ] as const) {
      await put(join(dir, '.claude-plugin', 'marketplace.json'), { name, owner: { name: 'e2e' }, plugins: [{ name: 'hello', source: './plugins/hello' }] });
      await git(root, 'init', '-q', dir);
      await git(dir, 'add', '-A');
      await git(dir, 'commit', '-qm', 'one');
    }
    const plugins = join(host, '.claude', 'plugins');
    await put(join(plugins, 'cache', 'local', 'hello', '1.0.0', '.claude-plugin', 'plugin.json'), { name: 'hello', version: '1.0.0' });
    await put(join(plugins, 'installed_plugins.json'), {
      version: 2,
      plugins: { 'hello@local': [{ scope: 'user', installPath: join(plugins, 'cache', 'local', 'hello', '1.0.0'), version: '1.0.0' }] },
    });
    await put(join(host, '.claude', 'settings.json'), {
      enabledPlugins: { 'hello@local': true, 'bye@local': true },
      extraKnownMarketplaces: {
        local: { source: { source: 'git', url: repo } },
        private: { source: { source: 'git', url: `https://x-access-token:${TOKEN}@git.example.invalid/acme/plugins.git` } },
      },
    });
    await put(join(ws, '.claude', 'settings.json'), {
      enabledPlugins: { 'proj@projmkt': true, 'bye@local': true },
      extraKnownMarketplaces: { projmkt: { source: { source: 'git', url: projectRepo } } },
    });
    await put(join(ws, 'moat.yaml'), 'claude:\n  plugins:\n    bye@local: false\n');
    const r = await moat(['trust', 'approve', ws], { home, cwd: ws, env: { HOME: host } });
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('plugins list: each plugin, the file that decides it, and its copy on the host', async () => {
    const r = await run(['plugins', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const inv = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(inv.plugins).toEqual([
      {
        id: 'bye@local',
        enabled: false,
        decidedBy: 'moat.yaml',
        settings: [
          { source: 'user', enabled: true },
          { source: 'project', enabled: true },
          { source: 'moat.yaml', enabled: false },
        ],
        sharedWithContainer: false,
      },
      {
        id: 'hello@local',
        enabled: true,
        decidedBy: 'user',
        settings: [{ source: 'user', enabled: true }],
        cachedAt: join(host, '.claude', 'plugins', 'cache', 'local', 'hello', '1.0.0'),
        version: '1.0.0',
        sharedWithContainer: true,
      },
      { id: 'proj@projmkt', enabled: true, decidedBy: 'project', settings: [{ source: 'project', enabled: true }], sharedWithContainer: false },
    ]);
    expect(inv.settingsFiles).toEqual([
      { source: 'user', file: join(host, '.claude', 'settings.json'), present: true, used: true },
      { source: 'project', file: join(ws, '.claude', 'settings.json'), present: true, used: true },
      { source: 'project-local', file: join(ws, '.claude', 'settings.local.json'), present: false, used: true },
      { source: 'moat.yaml', file: join(ws, 'moat.yaml'), present: true, used: true },
    ]);
    expect(inv.notes).toEqual([]);

    const human = await run(['plugins', 'list']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^bye@local +disabled +moat\.yaml +user=on project=on moat\.yaml=off +not installed on this host$/m);
    expect(human.stdout).toMatch(
      new RegExp(
        `^hello@local +enabled +user +user=on +${join(host, '.claude', 'plugins', 'cache', 'local', 'hello', '1.0.0')} \\(1\\.0\\.0\\), mounted read-only$`,
        'm',
      ),
    );
    expect(human.stdout).toMatch(/^proj@projmkt +enabled +project +project=on +not installed on this host$/m);
    expect(human.stdout).toContain(`  moat.yaml      ${join(ws, 'moat.yaml')} (approved claude.* settings)`);
  });

  it('plugins list shows the approved moat.yaml and names a change waiting for approval', async () => {
    await put(join(ws, 'moat.yaml'), 'claude:\n  plugins:\n    bye@local: true\n');
    try {
      const r = await run(['plugins', 'list', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const inv = JSON.parse(r.stdout) as { plugins: Array<{ id: string; enabled: boolean }>; notes: string[] };
      expect(inv.plugins.find((p) => p.id === 'bye@local')?.enabled).toBe(false);
      expect(inv.notes).toEqual([
        `${join(ws, 'moat.yaml')} changes claude.plugins, not approved yet: shown as approved; moat trust show lists the change, the next run asks.`,
      ]);
    } finally {
      await put(join(ws, 'moat.yaml'), 'claude:\n  plugins:\n    bye@local: false\n');
    }
  });

  it('marketplace update fetches the local marketplace, refreshes it after a new commit, and fetches nothing else', async () => {
    const cache = join(host, '.claude', 'plugins', 'marketplaces', 'local');
    const first = await run(['marketplace', 'update', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const head1 = await git(repo, 'rev-parse', 'HEAD');
    expect((JSON.parse(first.stdout) as { results: unknown[] }).results).toEqual([
      { name: 'local', status: 'fetched', cachedAt: cache, commit: head1, detail: `git ${repo} at ${head1.slice(0, 12)}` },
      {
        name: 'private',
        status: 'skipped',
        detail: 'its source carries a credential, which moat never puts on a command line: run claude plugin marketplace update private',
      },
      {
        name: 'projmkt',
        status: 'skipped',
        detail:
          "declared only in the project's .claude/settings, which a run can write: moat does not fetch it. Declare it in ~/.claude/settings.json or under claude.marketplaces in moat.yaml",
      },
    ]);
    expect(JSON.parse(await readFile(join(cache, '.claude-plugin', 'marketplace.json'), 'utf8'))).toMatchObject({ name: 'local' });
    expect(existsSync(join(host, '.claude', 'plugins', 'marketplaces', 'projmkt'))).toBe(false);
    const known = JSON.parse(await readFile(join(host, '.claude', 'plugins', 'known_marketplaces.json'), 'utf8')) as Record<
      string,
      { installLocation: string; lastUpdated: string }
    >;
    expect(Object.keys(known)).toEqual(['local']);
    expect(known.local?.installLocation).toBe(cache);

    // A new commit upstream: update brings it.
    await put(join(repo, '.claude-plugin', 'marketplace.json'), {
      name: 'local',
      owner: { name: 'e2e' },
      plugins: [
        { name: 'hello', source: './plugins/hello' },
        { name: 'new', source: './plugins/new' },
      ],
    });
    await git(repo, 'commit', '-qam', 'two');
    const head2 = await git(repo, 'rev-parse', 'HEAD');
    const second = await run(['marketplace', 'update', 'local']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(`updated  local  git ${repo} at ${head2.slice(0, 12)} → ${cache}\n`);
    expect(await git(cache, 'rev-parse', 'HEAD')).toBe(head2);
    expect((JSON.parse(await readFile(join(cache, '.claude-plugin', 'marketplace.json'), 'utf8')) as { plugins: unknown[] }).plugins).toHaveLength(2);

    const list = await run(['marketplace', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const markets = (JSON.parse(list.stdout) as { marketplaces: Array<Record<string, unknown>> }).marketplaces;
    expect(markets.map((m) => [m.name, m.declaredIn, m.source, m.cachedAt ?? null])).toEqual([
      ['local', ['user'], `git ${repo}`, cache],
      ['private', ['user'], 'git https://***@git.example.invalid/acme/plugins.git (carries a credential)', null],
      ['projmkt', ['project'], `git ${projectRepo}`, null],
    ]);
    expect(markets[0]?.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT/);
    const human = await run(['marketplace', 'list']);
    for (const out of [first.stdout, first.stderr, second.stdout, list.stdout, human.stdout, human.stderr]) expect(out).not.toContain(TOKEN);
  });

  it('marketplace update of a name nobody declares is an error that says where to look', async () => {
    const r = await run(['marketplace', 'update', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('No marketplace named "nope" is declared or fetched here.');
    expect(r.stderr).toContain('moat claude marketplace list shows them.');
  });
});
