/**
 * Agents, end to end, beyond a turn: a stdio MCP server declared in moat.yaml (`claude.mcp`, `codex.mcp`)
 * is staged by moat and listed as connected/enabled by the real Claude Code and Codex CLIs inside the
 * container, on a terminal and with piped stdin (an agent subcommand runs as it is, never as a headless
 * prompt); a pinned agent version that does not exist fails with a clear message and leaves nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MOAT_BIN,
  REPO_ROOT,
  Tmux,
  cleanupHome,
  containersOf,
  errorProblems,
  grantToken,
  listRuns,
  moat,
  moatEnv,
  runDirs,
  shq,
  tempDir,
  waitFor,
} from './helpers.js';

const MCP_YAML = (agent: 'claude' | 'codex'): string => `${agent}:\n  mcp:\n    echo:\n      command: node\n      args: [/workspace/mcp-echo.mjs]\n`;

describe('agents: MCP servers from moat.yaml, and a version that does not exist', () => {
  let home: string;
  let ws: string;
  let warm: string;
  const env: NodeJS.ProcessEnv = { MOAT_KEYRING_BACKEND: 'file', MOAT_TESTING: '1' };
  const tmux = new Tmux(`moat-agents-mcp-${process.pid}`);

  const grant = (name: string, secret: string): Promise<void> => grantToken(name, secret, { home, cwd: ws, env });

  beforeAll(async () => {
    home = await tempDir('agents-mcp-home');
    ws = await tempDir('agents-mcp-ws');
    warm = await tempDir('agents-mcp-warm');
    await copyFile(join(REPO_ROOT, 'test', 'fixtures', 'mcp-echo.mjs'), join(ws, 'mcp-echo.mjs'));
    // The CLIs only start with a grant; `mcp list` never reaches the provider, so placeholders do.
    await grant('anthropic', 'sk-ant-api03-E2EMCPKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-AA');
    await grant('openai', 'sk-proj-E2EMCPKEY-cccccccccccccccccccccccccccccccccccccccccccccc');
    // The same dependency sets as the agents test: cached images, or built once here.
    for (const dep of ['claude-code', 'codex']) {
      const dir = join(warm, dep);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'moat.yaml'), `dependencies: [${dep}, git, ripgrep]\n`);
      const r = await moat(['run', '--approve-config', dir, '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
      if (r.code !== 0) throw new Error(`building the ${dep} image failed (${String(r.code)}):\n${r.stderr}`);
    }
  }, 900_000);

  afterAll(async () => {
    await tmux.killServer();
    await cleanupHome(home, ws, [warm]);
  });

  /**
   * `moat AGENT -- mcp list` on a terminal (the agent's own subcommand gets a TTY, as a user's would;
   * headless mode would take "mcp list" as a prompt), then its exit code.
   */
  const mcpList = async (agent: 'claude' | 'codex', listed: RegExp): Promise<string> => {
    await writeFile(join(ws, 'moat.yaml'), MCP_YAML(agent));
    const e = moatEnv(home, env);
    const vars = ['MOAT_HOME', 'MOAT_DAEMON_IDLE_MS', 'MOAT_SPARES', 'NO_COLOR', 'MOAT_KEYRING_BACKEND', 'MOAT_TESTING', 'PATH']
      .map((k) => `${k}=${shq(e[k] ?? '')}`)
      .join(' ');
    const line = `cd ${shq(ws)} && env ${vars} TERM=xterm-256color ${shq(process.execPath)} ${shq(MOAT_BIN)} ${agent} -n mcp-${agent} -- mcp list; echo MOAT_EXIT=$?; sleep 120`;
    await tmux.newSession(agent, line, 160, 30);
    const screen = await tmux.waitForText(agent, /MOAT_EXIT=\d+/, 120_000);
    expect(screen).toMatch(listed);
    expect(screen).toContain('MOAT_EXIT=0');
    return screen;
  };

  it('claude: the echo server from claude.mcp is staged and listed as connected', async () => {
    const screen = await mcpList('claude', /echo:\s+node \/workspace\/mcp-echo\.mjs\s.*Connected/);
    expect(screen).not.toMatch(/Failed to connect/);
  }, 180_000);

  it('codex: the echo server from codex.mcp is staged in config.toml and listed as enabled', async () => {
    await mcpList('codex', /^echo\s+node\s+\/workspace\/mcp-echo\.mjs\s.*enabled/m);
  }, 180_000);

  /**
   * `moat AGENT -- mcp list` with piped stdin (no terminal): the agent's own subcommand, not `claude -p` /
   * `codex exec` with stdin as the prompt; no TTY; its output and exit code are moat's; nothing left behind.
   */
  const pipedMcpList = async (agent: 'claude' | 'codex', listed: RegExp, argv: string[]): Promise<void> => {
    await writeFile(join(ws, 'moat.yaml'), MCP_YAML(agent));
    const name = `piped-${agent}`;
    const r = await moat([agent, '-n', name, '--', 'mcp', 'list'], { home, cwd: ws, env, input: 'this is not a prompt\n', timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(listed);
    const run = (await listRuns(home, ws)).find((x) => x.name === name);
    expect(run?.interactive).toBe(false);
    expect(run?.command.slice(4)).toEqual(argv);
    expect(run?.state).toBe('stopped');
    expect(run?.exitCode).toBe(0);
    await waitFor(async () => (await containersOf(home)).length === 0, 20_000, "the run's container to be removed");
  };

  it('claude -- mcp list with piped stdin: runs `claude mcp list` (no -p) and lists the echo server as connected', async () => {
    await pipedMcpList('claude', /^echo: node \/workspace\/mcp-echo\.mjs - . Connected$/m, ['claude', 'mcp', 'list']);
  }, 180_000);

  it('codex -- mcp list with piped stdin: runs `codex mcp list` (not codex exec) and lists the echo server as enabled', async () => {
    await pipedMcpList('codex', /^echo\s+node\s+\/workspace\/mcp-echo\.mjs\s.*enabled/m, ['codex', '--no-daemon', 'mcp', 'list']);
  }, 180_000);

  it('a pinned version that does not exist: the build fails naming it, and no run or container is left', async () => {
    const bad = await tempDir('agents-mcp-bad');
    try {
      await writeFile(join(bad, 'moat.yaml'), 'claude:\n  version: "0.0.0-nope"\n');
      const runsBefore = runDirs(home).length;
      const containersBefore = await containersOf(home);
      const r = await moat(['claude', '--approve-config', bad, '-p', 'say hi'], { home, cwd: bad, env, timeoutMs: 600_000 });
      expect(errorProblems(r, 1000)).toEqual([]);
      expect(r.stderr).toContain('claude-code@0.0.0-nope');
      expect(r.stderr).toMatch(/ETARGET|No matching version/);
      expect(r.stderr).toContain('A requested version does not exist');
      expect(runDirs(home)).toHaveLength(runsBefore);
      expect(await containersOf(home)).toEqual(containersBefore);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  }, 660_000);
});
