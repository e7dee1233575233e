import { describe, expect, it } from 'vitest';
import { claudeAgent, claudeCommand, claudeStartsNewConversation, CLAUDE_PRELUDE } from '../../../src/agents/claude/index.js';
import { API_KEY_SUFFIX_MARKER, stageClaude } from '../../../src/agents/claude/staging.js';
import { agentDependencies } from '../../../src/agents/common.js';
import type { AgentInvocation } from '../../../src/agents/types.js';

const yolo: AgentInvocation = { yolo: true, args: [] };
const parse = (files: { path: string; content: string }[], path: string): Record<string, unknown> => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} not staged`);
  return JSON.parse(f.content) as Record<string, unknown>;
};

describe('claude: command line', () => {
  it('TUI with full permissions by default', () => {
    expect(claudeCommand(yolo)).toEqual(['claude', '--dangerously-skip-permissions']);
  });
  it('headless with -p, agent args after', () => {
    expect(claudeCommand({ ...yolo, prompt: 'say hi', args: ['--model', 'opus'] })).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '-p',
      'say hi',
      '--model',
      'opus',
    ]);
  });
  it('--noyolo keeps the permission prompts', () => {
    expect(claudeCommand({ yolo: false, args: [], prompt: 'x' })).toEqual(['claude', '-p', 'x']);
  });
  it("moat's conversation options come before -p (the recorded command names the conversation)", () => {
    expect(claudeCommand({ ...yolo, prompt: 'hi', sessionId: 'S', args: ['--model', 'o'] })).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--session-id',
      'S',
      '-p',
      'hi',
      '--model',
      'o',
    ]);
    expect(claudeCommand({ ...yolo, prompt: 'hi', sessionId: 'S', resume: ['--resume', 'R'], args: [] })).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--resume',
      'R',
      '-p',
      'hi',
    ]);
    expect(claudeCommand({ ...yolo, args: ['mcp'], subcommand: true, sessionId: 'S' })).toEqual(['claude', 'mcp']);
  });
  it('moat chooses the id only for a new conversation', () => {
    expect(claudeStartsNewConversation(yolo)).toBe(true);
    expect(claudeStartsNewConversation({ ...yolo, prompt: 'x', args: ['--model', 'opus'] })).toBe(true);
    for (const args of [['-c'], ['--resume', 'x'], ['--resume=x'], ['--fork-session'], ['--from-pr', '1'], ['--session-id', 'x']]) {
      expect(claudeStartsNewConversation({ ...yolo, args }), args.join(' ')).toBe(false);
    }
    expect(claudeStartsNewConversation({ ...yolo, resume: ['--resume', 'x'] })).toBe(false);
    expect(claudeStartsNewConversation({ ...yolo, subcommand: true, args: ['doctor'] })).toBe(false);
  });
  it('a piped prompt is read by claude -p from stdin', () => {
    expect(claudeCommand({ yolo: false, args: [], promptFromStdin: true })).toEqual(['claude', '-p']);
  });
  it('the container command runs the agent argv behind a prelude, never interpolating it', () => {
    const cmd = claudeAgent.containerCommand({ ...yolo, prompt: '$(rm -rf /); "quoted"' });
    expect(cmd.slice(0, 4)).toEqual(['/bin/sh', '-c', CLAUDE_PRELUDE, 'moat-claude']);
    expect(cmd.slice(4)).toEqual(['claude', '--dangerously-skip-permissions', '-p', '$(rm -rf /); "quoted"']);
    expect(CLAUDE_PRELUDE).toMatch(/exec "\$@"$/);
    expect(CLAUDE_PRELUDE).toContain(API_KEY_SUFFIX_MARKER);
  });
});

describe('claude: image and grants', () => {
  it('installs the pinned CLI with git and ripgrep, or the configured version', () => {
    expect(agentDependencies(claudeAgent, {})).toEqual(['claude-code', 'git', 'ripgrep']);
    expect(agentDependencies(claudeAgent, { version: '2.1.300' })).toEqual(['claude-code@2.1.300', 'git', 'ripgrep']);
  });
  it('prefers the subscription grant, then the API key', () => {
    expect(claudeAgent.grants.map((g) => g.name)).toEqual(['claude', 'anthropic']);
  });
});

describe('claude: staged files', () => {
  it('~/.claude.json: onboarding done, /workspace trusted, no dialogs', () => {
    const { files } = stageClaude({}, yolo);
    const j = parse(files, '.claude.json');
    expect(j).toMatchObject({
      hasCompletedOnboarding: true,
      bypassPermissionsModeAccepted: true,
      hasSeenAutoDefaultNudge: true,
      autoUpdates: false,
      customApiKeyResponses: { approved: [API_KEY_SUFFIX_MARKER], rejected: [] },
      projects: { '/workspace': { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
    });
    expect(typeof j.lastOnboardingVersion).toBe('string');
    expect(j.mcpServers).toBeUndefined();
    for (const f of files) expect(f.mode).toBe(0o600);
  });

  it('settings.json carries the permission mode', () => {
    expect(parse(stageClaude({}, yolo).files, '.claude/settings.json')).toEqual({
      permissions: { defaultMode: 'bypassPermissions' },
      skipDangerousModePermissionPrompt: true,
    });
    expect(parse(stageClaude({}, { yolo: false, args: [] }).files, '.claude/settings.json')).toEqual({ permissions: { defaultMode: 'default' } });
    expect(parse(stageClaude({}, { yolo: false, args: [] }).files, '.claude.json').bypassPermissionsModeAccepted).toBe(false);
  });

  it('MCP servers from claude.mcp run inside the container (cwd through a wrapper)', () => {
    const j = parse(
      stageClaude(
        {
          mcp: {
            files: { command: 'node', args: ['server.js', '--root', '/workspace'], env: { LOG: 'debug' } },
            tools: { command: 'python3', args: ['-m', 'tools'], cwd: '/workspace/tools dir' },
          },
        },
        yolo,
      ).files,
      '.claude.json',
    );
    expect(j.mcpServers).toEqual({
      files: { type: 'stdio', command: 'node', args: ['server.js', '--root', '/workspace'], env: { LOG: 'debug' } },
      tools: { type: 'stdio', command: '/bin/sh', args: ['-c', 'cd "$0" && exec "$@"', '/workspace/tools dir', 'python3', '-m', 'tools'] },
    });
  });

  it('plugins and marketplaces go to settings.json', () => {
    const s = parse(
      stageClaude({ plugins: { 'lint@acme': true, 'old@acme': false }, marketplaces: { acme: { source: { source: 'github', repo: 'acme/plugins' } } } }, yolo)
        .files,
      '.claude/settings.json',
    );
    expect(s.enabledPlugins).toEqual({ 'lint@acme': true, 'old@acme': false });
    expect(s.extraKnownMarketplaces).toEqual({ acme: { source: { source: 'github', repo: 'acme/plugins' } } });
  });

  it('environment: IS_SANDBOX so skip-permissions works as root; no credential variables', () => {
    const { env } = stageClaude({}, yolo);
    expect(env.IS_SANDBOX).toBe('1');
    expect(Object.keys(env).filter((k) => /KEY|TOKEN|SECRET|AUTH/i.test(k))).toEqual([]);
  });

  it('never holds a credential', () => {
    const { files, env } = stageClaude({ mcp: { a: { command: 'x' } } }, yolo);
    const all = files.map((f) => f.content).join('\n') + JSON.stringify(env);
    expect(all).not.toMatch(/sk-ant-(api|oat|ort)\d\d-/);
    expect(all).not.toMatch(/accessToken|refreshToken|apiKey"/);
    expect(files.map((f) => f.path)).not.toContain('.claude/.credentials.json');
  });
});
