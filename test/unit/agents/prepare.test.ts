import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENTS } from '../../../src/agents/index.js';
import { prepareAgentRun } from '../../../src/agents/prepare.js';
import { MoatHome } from '../../../src/home/paths.js';
import { workspaceKey } from '../../../src/agents/transcripts.js';
import type { StoredCredential } from '../../../src/credentials/types.js';
import { cred } from '../credentials/helpers.js';

describe('prepareAgentRun: an agent run as a RunSpec', () => {
  let dir: string;
  let home: MoatHome;
  const stored: Record<string, StoredCredential> = {};
  const lookup = (n: string): Promise<StoredCredential | undefined> => Promise.resolve(stored[n]);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-agents-'));
    home = new MoatHome(join(dir, 'home'));
    for (const k of Object.keys(stored)) delete stored[k];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('claude: grant, dependency, staged files, env and command', async () => {
    stored.anthropic = cred({ provider: 'anthropic', kind: 'api-key', secret: { token: 'sk-ant-api03-REALSECRET' } });
    const spec = await prepareAgentRun(
      AGENTS.claude,
      dir,
      { env: ['EXTRA=1'], grants: [] },
      { prompt: 'say hi', yolo: true, args: [] },
      { home, env: {}, lookup, hostHome: join(dir, 'nobody') },
    );
    expect(spec.grants).toEqual(['anthropic']);
    expect(spec.command.slice(-2)).toEqual(['-p', 'say hi']);
    expect(spec.imageExtra).toContain('@anthropic-ai/claude-code@2.1.331');
    expect(spec.imageExtra).toContain('ripgrep');
    expect(spec.homeFiles.map((f) => f.path).sort()).toEqual(['.claude.json', '.claude/settings.json']);
    expect(spec.env).toMatchObject({ IS_SANDBOX: '1', EXTRA: '1' });
    expect(spec.interactive).toBe(false);
    expect(spec.agent).toBe('claude');
    expect(JSON.stringify(spec)).not.toContain('REALSECRET');
  });

  it("transcripts: only the workspace's own folder is mounted, per agent and sync_logs", async () => {
    stored.anthropic = cred({ provider: 'anthropic' });
    stored.openai = cred({ provider: 'openai', kind: 'api-key' });
    const ws = join(dir, 'my.proj');
    await mkdir(ws);
    const real = await realpath(ws);
    const hostHome = join(dir, 'host');
    const transcripts = (spec: { mounts: Array<{ source: string; target: string; readOnly: boolean }> }) =>
      spec.mounts.filter((m) => m.target.startsWith('/home/moat/.claude/projects') || m.target.startsWith('/home/moat/.codex'));
    const claude = await prepareAgentRun(AGENTS.claude, ws, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup, hostHome });
    expect(transcripts(claude)).toEqual([
      { source: join(home.root, 'claude', 'projects', workspaceKey(real)), target: '/home/moat/.claude/projects/-workspace', readOnly: false },
    ]);
    // Checked again just before the start (and held to the spare rule), as moat.yaml's sources are.
    expect(claude.realSources).toEqual([real, join(home.root, 'claude', 'projects', workspaceKey(real))]);
    const codex = await prepareAgentRun(AGENTS.codex, ws, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup, hostHome });
    expect(transcripts(codex)).toEqual([
      { source: join(home.root, 'codex', 'workspaces', workspaceKey(real), 'sessions'), target: '/home/moat/.codex/sessions', readOnly: false },
    ]);

    await writeFile(join(ws, 'moat.yaml'), 'claude:\n  sync_logs: true\ncodex:\n  sync_logs: true\n');
    const synced = await prepareAgentRun(
      AGENTS.claude,
      ws,
      {},
      { prompt: 'p', yolo: true, args: [] },
      { home, env: { CLAUDE_CONFIG_DIR: join(dir, 'cfg') }, lookup, hostHome },
    );
    expect(transcripts(synced)).toEqual([
      { source: join(dir, 'cfg', 'projects', real.replace(/[^a-zA-Z0-9]/g, '-')), target: '/home/moat/.claude/projects/-workspace', readOnly: false },
    ]);
    const warnings: string[] = [];
    const shared = await prepareAgentRun(
      AGENTS.codex,
      ws,
      {},
      { prompt: 'p', yolo: true, args: [] },
      { home, env: {}, lookup, hostHome, warn: (m) => warnings.push(m) },
    );
    expect(transcripts(shared)).toEqual([{ source: join(hostHome, '.codex', 'sessions'), target: '/home/moat/.codex/sessions', readOnly: false }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('sync_logs');
    await prepareAgentRun(AGENTS.codex, ws, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup, hostHome, warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1); // once
  });

  it('claude: a new conversation gets an id chosen by moat (--session-id), a resume or a subcommand none', async () => {
    stored.anthropic = cred({ provider: 'anthropic' });
    const deps = { home, env: {}, lookup, hostHome: join(dir, 'nobody') };
    const argv = async (inv: Parameters<typeof prepareAgentRun>[3]): Promise<string[]> =>
      (await prepareAgentRun(AGENTS.claude, dir, {}, inv, deps)).command.slice(4);
    const headless = await argv({ prompt: 'p', yolo: true, args: [] });
    expect(headless.slice(0, 3)).toEqual(['claude', '--dangerously-skip-permissions', '--session-id']);
    expect(headless[3]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(headless.slice(4)).toEqual(['-p', 'p']);
    const tui = await argv({ yolo: true, args: [] });
    expect(tui[2]).toBe('--session-id');
    expect(tui[3]).not.toBe(headless[3]);
    expect(await argv({ yolo: true, args: [], resume: ['--resume', 'abc'] })).not.toContain('--session-id');
    expect(await argv({ yolo: true, args: ['mcp', 'list'], subcommand: true })).toEqual(['claude', 'mcp', 'list']);
    expect(await argv({ yolo: true, args: ['--continue'] })).not.toContain('--session-id');
    expect(await argv({ yolo: true, args: ['-r'] })).not.toContain('--session-id');
    expect(await argv({ yolo: true, args: ['--session-id=x'] })).toEqual(['claude', '--dangerously-skip-permissions', '--session-id=x']);
    const codex = (
      await prepareAgentRun(
        AGENTS.codex,
        dir,
        {},
        { prompt: 'p', yolo: true, args: [] },
        { ...deps, lookup: () => Promise.resolve(cred({ provider: 'openai', kind: 'api-key' })) },
      )
    ).command;
    expect(codex).not.toContain('--session-id');
  });

  it("moat.yaml: claude.version pins the CLI, env overrides the agent's, grants already named are kept", async () => {
    stored.claude = cred({ provider: 'claude', kind: 'oauth' });
    await writeFile(
      join(dir, 'moat.yaml'),
      'grants: [anthropic]\nenv:\n  IS_SANDBOX: "0"\nclaude:\n  version: 2.1.300\n  mcp:\n    files:\n      command: node\n      args: [srv.js]\n',
    );
    const spec = await prepareAgentRun(AGENTS.claude, dir, {}, { yolo: true, args: [] }, { home, env: {}, lookup, hostHome: join(dir, 'nobody') });
    expect(spec.grants).toEqual(['anthropic']);
    expect(spec.imageExtra).toContain('@anthropic-ai/claude-code@2.1.300');
    expect(spec.env.IS_SANDBOX).toBe('0');
    const claudeJson = JSON.parse(spec.homeFiles.find((f) => f.path === '.claude.json')?.content ?? '{}') as { mcpServers?: unknown };
    expect(claudeJson.mcpServers).toEqual({ files: { type: 'stdio', command: 'node', args: ['srv.js'] } });
  });

  it("claude: the host's enabled plugins are merged under moat.yaml's, their files mounted read-only with the seed variable", async () => {
    stored.anthropic = cred({ provider: 'anthropic' });
    const hostHome = join(dir, 'host');
    const cache = join(hostHome, '.claude', 'plugins', 'cache', 'm', 'p', '1.0.0');
    await mkdir(join(cache, 'commands'), { recursive: true });
    await writeFile(join(cache, 'commands', 'x.md'), 'x');
    await writeFile(join(hostHome, '.claude', 'settings.json'), JSON.stringify({ enabledPlugins: { 'p@m': true, 'q@m': true } }));
    await writeFile(
      join(hostHome, '.claude', 'plugins', 'installed_plugins.json'),
      JSON.stringify({ version: 2, plugins: { 'p@m': [{ scope: 'user', installPath: cache, version: '1.0.0' }] } }),
    );
    await writeFile(join(dir, 'moat.yaml'), 'claude:\n  plugins:\n    q@m: false\n');
    const warnings: string[] = [];
    const spec = await prepareAgentRun(
      AGENTS.claude,
      dir,
      {},
      { prompt: 'p', yolo: true, args: [] },
      { home, env: {}, lookup, hostHome, warn: (m) => warnings.push(m) },
    );
    const settings = JSON.parse(spec.homeFiles.find((f) => f.path === '.claude/settings.json')?.content ?? '{}') as { enabledPlugins?: unknown };
    expect(settings.enabledPlugins).toEqual({ 'p@m': true, 'q@m': false });
    expect(spec.homeFiles.map((f) => f.path)).toContain('.claude/plugins/installed_plugins.json');
    expect(spec.mounts).toContainEqual({ source: cache, target: '/moat/claude-plugins/cache/m/p/1.0.0', readOnly: true });
    expect(spec.realSources).toContain(cache);
    expect(spec.env.CLAUDE_CODE_PLUGIN_SEED_DIR).toBe('/moat/claude-plugins');
    expect(JSON.stringify(spec.homeFiles)).not.toContain(hostHome);
    expect(warnings).toEqual([]);
    // moat.yaml's own choices also reach Claude Code as --settings, which outranks the project's files.
    const flagFile = JSON.parse(spec.homeFiles.find((f) => f.path === '.claude/moat-settings.json')?.content ?? '{}') as { enabledPlugins?: unknown };
    expect(flagFile.enabledPlugins).toEqual({ 'q@m': false });
    const argv = spec.command.slice(spec.command.indexOf('claude'));
    expect(argv.slice(argv.indexOf('--settings'), argv.indexOf('--settings') + 2)).toEqual(['--settings', '/home/moat/.claude/moat-settings.json']);
    expect(argv.indexOf('--settings')).toBeLessThan(argv.indexOf('-p'));

    await writeFile(join(dir, 'moat.yaml'), 'claude:\n  host_plugins: false\n');
    const off = await prepareAgentRun(AGENTS.claude, dir, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup, hostHome });
    expect(off.homeFiles.map((f) => f.path).sort()).toEqual(['.claude.json', '.claude/settings.json']);
    expect(off.command).not.toContain('--settings');
    expect(off.mounts.some((m) => m.target.startsWith('/moat/claude-plugins'))).toBe(false);
    expect(off.env.CLAUDE_CODE_PLUGIN_SEED_DIR).toBeUndefined();
  });

  it('codex: openai grant, codex.version, config.toml with MCP servers', async () => {
    stored.openai = cred({ provider: 'openai', kind: 'api-key' });
    await writeFile(join(dir, 'moat.yaml'), 'codex:\n  version: 0.170.0\n  mcp:\n    files:\n      command: node\n');
    const spec = await prepareAgentRun(AGENTS.codex, dir, { grants: [] }, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup });
    expect(spec.grants).toEqual(['openai']);
    expect(spec.command.slice(4)).toEqual(['codex', 'exec', '--skip-git-repo-check', 'p']);
    expect(spec.imageExtra).toContain('@openai/codex@0.170.0');
    expect(spec.homeFiles[0]?.content).toContain('[mcp_servers.files]\ncommand = "node"');
  });

  it('a conflicting claude-code version in dependencies is a clear error', async () => {
    stored.anthropic = cred({ provider: 'anthropic' });
    await writeFile(join(dir, 'moat.yaml'), 'dependencies: [claude-code@2.1.1]\nclaude:\n  version: 2.1.2\n');
    await expect(
      prepareAgentRun(AGENTS.claude, dir, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup, hostHome: join(dir, 'nobody') }),
    ).rejects.toThrow(/conflicting versions of claude-code/);
  });

  it('a missing grant fails before anything else', async () => {
    await expect(prepareAgentRun(AGENTS.codex, dir, {}, { prompt: 'p', yolo: true, args: [] }, { home, env: {}, lookup })).rejects.toThrow(
      /Codex needs a credential/,
    );
  });
});
