/**
 * Claude Code plugins from the host, end to end: a fake host home (HOME for the moat process) holds a local
 * directory marketplace with two tiny plugins, enabled in the host's ~/.claude/settings.json and recorded
 * as installed the way Claude Code records them. The real Claude Code CLI in the container lists the one
 * moat.yaml leaves enabled as enabled and loaded (its slash command in the inventory) and the one moat.yaml
 * disables as disabled, with no network;
 * its files come from read-only mounts that leave the host's secrets out; `claude.host_plugins: false`
 * leaves the host's plugins out.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { MOAT_BIN, Tmux, cleanupHome, containersOf, grantToken, moat, moatEnv, shq, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

const put = async (file: string, content: unknown): Promise<void> => {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
};

describe('agents: Claude Code plugins enabled on the host are there in the container', () => {
  let home: string;
  let ws: string;
  let warm: string;
  let host: string;
  const env: NodeJS.ProcessEnv = { MOAT_KEYRING_BACKEND: 'file', MOAT_TESTING: '1' };
  const tmux = new Tmux(`moat-agents-plugins-${process.pid}`);

  beforeAll(async () => {
    home = await tempDir('agents-plugins-home');
    ws = await tempDir('agents-plugins-ws');
    warm = await tempDir('agents-plugins-warm');
    host = await tempDir('agents-plugins-host');
    await grantToken('anthropic', 'sk-ant-api03-E2EPLUGINS-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-AA', { home, cwd: ws, env });
    // The fake host: a marketplace folder in the home, Claude Code's installed copies, and secrets.
    const mkt = join(host, 'dev', 'moat-mkt');
    const plugins = join(host, '.claude', 'plugins');
    await put(join(mkt, '.claude-plugin', 'marketplace.json'), {
      name: 'moat-mkt',
      owner: { name: 'moat e2e' },
      plugins: [
        { name: 'hello', source: './plugins/hello' },
        { name: 'bye', source: './plugins/bye' },
      ],
    });
    await put(join(mkt, '.env'), 'TOKEN=E2E-HOST-SECRET\n');
    for (const name of ['hello', 'bye']) {
      const files: Array<[string, unknown]> = [
        ['.claude-plugin/plugin.json', { name, version: '1.0.0', description: `Says ${name}` }],
        [`commands/${name}-cmd.md`, `---\ndescription: Say ${name}\n---\nSay ${name}.\n`],
      ];
      for (const [rel, content] of files) {
        await put(join(mkt, 'plugins', name, rel), content);
        await put(join(plugins, 'cache', 'moat-mkt', name, '1.0.0', rel), content);
      }
    }
    const at = '2026-01-01T00:00:00.000Z';
    await put(join(plugins, 'installed_plugins.json'), {
      version: 2,
      plugins: Object.fromEntries(
        ['hello', 'bye'].map((n) => [
          `${n}@moat-mkt`,
          [
            {
              scope: 'user',
              installPath: join(plugins, 'cache', 'moat-mkt', n, '1.0.0'),
              version: '1.0.0',
              installedAt: at,
              lastUpdated: at,
            },
          ],
        ]),
      ),
    });
    await put(join(plugins, 'known_marketplaces.json'), { 'moat-mkt': { source: { source: 'directory', path: mkt }, installLocation: mkt, lastUpdated: at } });
    await put(join(host, '.claude', 'settings.json'), {
      enabledPlugins: { 'hello@moat-mkt': true, 'bye@moat-mkt': true },
      extraKnownMarketplaces: { 'moat-mkt': { source: { source: 'directory', path: mkt } } },
    });
    await put(join(plugins, 'data', 'hello-moat-mkt', 'state.json'), { token: 'E2E-HOST-SECRET' });
    await put(join(host, '.claude', '.credentials.json'), { claudeAiOauth: { accessToken: 'E2E-HOST-SECRET' } });
    // The same dependency set as the other agent tests: a cached image, or built once here.
    await writeFile(join(warm, 'moat.yaml'), 'dependencies: [claude-code, git, ripgrep]\n');
    const r = await moat(['run', '--approve-config', warm, '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`building the claude-code image failed (${String(r.code)}):\n${r.stderr}`);
  }, 900_000);

  afterAll(async () => {
    await tmux.killServer();
    await cleanupHome(home, ws, [warm, host]);
  });

  /** `moat claude -- ARGS` on a terminal with HOME=the fake host home, then its exit code. */
  const claude = async (session: string, moatArgs: string, until: RegExp): Promise<string> => {
    const e = moatEnv(home, env);
    const vars = ['MOAT_HOME', 'MOAT_DAEMON_IDLE_MS', 'MOAT_SPARES', 'NO_COLOR', 'MOAT_KEYRING_BACKEND', 'MOAT_TESTING', 'PATH']
      .map((k) => `${k}=${shq(e[k] ?? '')}`)
      .join(' ');
    const line = `cd ${shq(ws)} && env ${vars} HOME=${shq(host)} TERM=xterm-256color ${shq(process.execPath)} ${shq(MOAT_BIN)} claude ${moatArgs}; echo MOAT_EXIT=$?; sleep 120`;
    await tmux.newSession(session, line, 160, 50);
    const screen = await tmux.waitForText(session, until, 120_000);
    expect(screen).toContain('MOAT_EXIT=0');
    return screen;
  };

  it("claude plugin list: the host's plugin is enabled and loads, the one moat.yaml disables is disabled", async () => {
    await writeFile(join(ws, 'moat.yaml'), 'claude:\n  plugins:\n    bye@moat-mkt: false\n');
    // The project itself enables it: moat.yaml still decides (it reaches Claude Code as --settings).
    await put(join(ws, '.claude', 'settings.json'), { enabledPlugins: { 'bye@moat-mkt': true } });
    const screen = await claude('list', '-n plugins-list --keep --approve-config -- plugin list', /MOAT_EXIT=\d+/);
    expect(screen).toMatch(
      /hello@moat-mkt\s+Version: 1\.0\.0\s+Read from: \/moat\/claude-plugins\/marketplaces\/moat-mkt\/plugins\/hello\s+Scope: user\s+Status: ✔ enabled/,
    );
    expect(screen).toMatch(/bye@moat-mkt[\s\S]*?Status: \S+ disabled/);
    expect(screen).not.toMatch(/failed to load|No plugins installed/);

    // Read-only mounts of the plugin files only: no host secret, no data folder, nothing writable.
    const ids = await containersOf(home);
    expect(ids).toHaveLength(1);
    const { stdout } = await execFileP('docker', ['inspect', '--format', '{{json .Mounts}}', ids[0] ?? '']);
    const mounts = (JSON.parse(stdout) as Array<{ Source: string; Destination: string; RW: boolean }>).filter((m) =>
      m.Destination.startsWith('/moat/claude-plugins'),
    );
    expect(mounts.map((m) => m.Destination).sort()).toEqual([
      '/moat/claude-plugins/cache/moat-mkt/bye/1.0.0',
      '/moat/claude-plugins/cache/moat-mkt/hello/1.0.0',
      '/moat/claude-plugins/marketplaces/moat-mkt/.claude-plugin',
      '/moat/claude-plugins/marketplaces/moat-mkt/plugins',
    ]);
    for (const m of mounts) {
      expect(m.RW).toBe(false);
      expect(m.Source.startsWith(host)).toBe(true);
      expect(m.Source).not.toMatch(/\.env|\/data|credentials/);
    }
    await execFileP('docker', ['rm', '-f', ...ids]);
  }, 180_000);

  it("claude plugin details: the plugin's slash command is in Claude Code's inventory", async () => {
    await rm(join(ws, '.claude'), { recursive: true, force: true });
    await writeFile(join(ws, 'moat.yaml'), 'claude:\n  plugins:\n    bye@moat-mkt: false\n');
    const screen = await claude('details', '-n plugins-details -- plugin details hello@moat-mkt', /MOAT_EXIT=\d+/);
    expect(screen).toMatch(/hello 1\.0\.0/);
    expect(screen).toMatch(/Skills \(1\)\s+hello-cmd/);
  }, 180_000);

  it("claude.host_plugins: false leaves the host's plugins out", async () => {
    await writeFile(join(ws, 'moat.yaml'), 'claude:\n  host_plugins: false\n');
    // Turning host_plugins off changes what moat.yaml shares from the host: approved on the command line.
    const screen = await claude('off', '-n plugins-off --approve-config -- plugin list', /MOAT_EXIT=\d+/);
    expect(screen).toContain('No plugins installed');
    expect(screen).not.toContain('hello@moat-mkt');
  }, 180_000);
});
