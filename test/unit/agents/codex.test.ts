import { describe, expect, it } from 'vitest';
import { CODEX_PRELUDE, codexAgent, codexCommand } from '../../../src/agents/codex/index.js';
import { codexConfig, stageCodex } from '../../../src/agents/codex/staging.js';
import { agentDependencies } from '../../../src/agents/common.js';
import type { AgentInvocation } from '../../../src/agents/types.js';

const yolo: AgentInvocation = { yolo: true, args: [] };

describe('codex: command line', () => {
  it('TUI without a prompt, codex exec with one (agent args before the prompt)', () => {
    expect(codexCommand(yolo)).toEqual(['codex', '--no-daemon']);
    expect(codexCommand({ ...yolo, args: ['-m', 'o4'] })).toEqual(['codex', '--no-daemon', '-m', 'o4']);
    expect(codexCommand({ ...yolo, prompt: 'say hi' })).toEqual(['codex', 'exec', '--skip-git-repo-check', 'say hi']);
    expect(codexCommand({ ...yolo, prompt: '-x', args: ['-m', 'o4'] })).toEqual(['codex', 'exec', '--skip-git-repo-check', '-m', 'o4', '-x']);
    expect(codexCommand({ ...yolo, promptFromStdin: true })).toEqual(['codex', 'exec', '--skip-git-repo-check']);
  });
  it('runs behind a prelude that records the placeholder key as the API-key login (argv never interpolated)', () => {
    const cmd = codexAgent.containerCommand({ ...yolo, prompt: '$(id) "q"' });
    expect(cmd.slice(0, 4)).toEqual(['/bin/sh', '-c', CODEX_PRELUDE, 'moat-codex']);
    expect(cmd.slice(4)).toEqual(codexCommand({ ...yolo, prompt: '$(id) "q"' }));
    expect(CODEX_PRELUDE).toContain('[ ! -e "$HOME/.codex/auth.json" ]'); // a ChatGPT placeholder auth.json is kept
    expect(CODEX_PRELUDE).toMatch(/exec "\$@"$/);
  });
  it('installs the pinned CLI with git and ripgrep; needs the openai grant', () => {
    expect(agentDependencies(codexAgent, {})).toEqual(['codex', 'git', 'ripgrep']);
    expect(agentDependencies(codexAgent, { version: '0.170.0' })).toEqual(['codex@0.170.0', 'git', 'ripgrep']);
    expect(codexAgent.grants.map((g) => g.name)).toEqual(['openai']);
  });
});

describe('codex: ~/.codex/config.toml', () => {
  it('yolo: approvals never, its own sandbox off, /workspace trusted, full shell environment', () => {
    const { files, env } = stageCodex({}, yolo);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ path: '.codex/config.toml', mode: 0o600 });
    expect(files[0]?.content).toBe(
      [
        'approval_policy = "never"',
        'sandbox_mode = "danger-full-access"',
        '',
        '[projects."/workspace"]',
        'trust_level = "trusted"',
        '',
        '[shell_environment_policy]',
        'inherit = "all"',
        '',
      ].join('\n'),
    );
    expect(env).toEqual({});
  });

  it('--noyolo restores prompting', () => {
    expect(codexConfig({}, { yolo: false, args: [] })).toMatchObject({ approval_policy: 'on-request', sandbox_mode: 'workspace-write' });
  });

  it('MCP servers under [mcp_servers.NAME], values escaped', () => {
    const text =
      stageCodex(
        {
          mcp: {
            files: { command: 'node', args: ['srv.js', 'a "quoted" arg'], env: { TOKEN_HINT: 'line1\nline2' }, cwd: '/workspace/x' },
            'my.server': { command: 'python3' },
          },
        },
        yolo,
      ).files[0]?.content ?? '';
    expect(text).toContain(
      [
        '[mcp_servers.files]',
        'command = "node"',
        'args = ["srv.js", "a \\"quoted\\" arg"]',
        'cwd = "/workspace/x"',
        '',
        '[mcp_servers.files.env]',
        'TOKEN_HINT = "line1\\nline2"',
      ].join('\n'),
    );
    expect(text).toContain('[mcp_servers."my.server"]\ncommand = "python3"\n');
  });

  it('never holds a credential', () => {
    const text = stageCodex({}, yolo)
      .files.map((f) => f.content)
      .join('\n');
    expect(text).not.toMatch(/sk-|api_key|access_token|refresh_token/i);
  });
});
