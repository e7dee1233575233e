import { describe, expect, it } from 'vitest';
import { CLAUDE_PRELUDE, claudeAgent, claudeCommand } from '../../../src/agents/claude/index.js';
import { codexAgent, codexCommand } from '../../../src/agents/codex/index.js';
import { agentMode, agentSubcommand } from '../../../src/agents/common.js';
import { MoatError } from '../../../src/errors.js';

describe('agent subcommands: which first words are subcommands', () => {
  it('each agent has its own list; a first word that is not on it is a prompt for the TUI', () => {
    expect(agentSubcommand(claudeAgent, ['mcp', 'list'])).toBe('mcp');
    expect(agentSubcommand(claudeAgent, ['setup-token'])).toBe('setup-token');
    expect(agentSubcommand(claudeAgent, ['plugins', 'list'])).toBe('plugins'); // an alias
    expect(agentSubcommand(claudeAgent, ['fix the bug'])).toBeUndefined();
    expect(agentSubcommand(claudeAgent, ['mcpx'])).toBeUndefined();
    expect(agentSubcommand(claudeAgent, ['--model', 'opus', 'mcp'])).toBeUndefined(); // only the first word counts
    expect(agentSubcommand(claudeAgent, [])).toBeUndefined();
    // `help` is Codex's subcommand, while Claude Code would take it as a prompt.
    expect(agentSubcommand(claudeAgent, ['help'])).toBeUndefined();
    expect(agentSubcommand(codexAgent, ['help'])).toBe('help');
    expect(agentSubcommand(codexAgent, ['login', '--with-api-key'])).toBe('login');
    expect(agentSubcommand(codexAgent, ['features', 'list'])).toBe('features');
    expect(agentSubcommand(codexAgent, ['setup-token'])).toBeUndefined();
  });
});

describe('agent subcommands: mode', () => {
  const piped = { tty: false } as const;
  it('piped stdin: a subcommand runs without a terminal and stdin is never the prompt', () => {
    expect(agentMode(claudeAgent, { ...piped, args: ['mcp', 'list'] })).toEqual({ interactive: false, promptFromStdin: false, subcommand: 'mcp' });
    expect(agentMode(codexAgent, { ...piped, args: ['mcp', 'list'] })).toEqual({ interactive: false, promptFromStdin: false, subcommand: 'mcp' });
    // Detached without a terminal: still no TTY (its output is recorded for moat logs).
    expect(agentMode(claudeAgent, { ...piped, args: ['doctor'], detach: true })).toMatchObject({ interactive: false, promptFromStdin: false });
  });
  it('on a terminal, or with -i, a subcommand gets a terminal', () => {
    expect(agentMode(claudeAgent, { tty: true, args: ['mcp', 'list'] })).toEqual({ interactive: true, promptFromStdin: false, subcommand: 'mcp' });
    expect(agentMode(codexAgent, { ...piped, args: ['login'], interactive: true })).toMatchObject({ interactive: true, promptFromStdin: false });
  });
  it('sessions are unchanged: piped stdin is the prompt, a terminal gets the TUI, -p is headless', () => {
    expect(agentMode(claudeAgent, { ...piped, args: [] })).toEqual({ interactive: false, promptFromStdin: true });
    expect(agentMode(claudeAgent, { ...piped, args: ['fix the bug'] })).toEqual({ interactive: false, promptFromStdin: true });
    expect(agentMode(claudeAgent, { tty: true, args: ['fix the bug'] })).toEqual({ interactive: true, promptFromStdin: false });
    expect(agentMode(codexAgent, { ...piped, args: [], detach: true })).toEqual({ interactive: true, promptFromStdin: false });
    expect(agentMode(codexAgent, { tty: true, args: [], prompt: 'hi' })).toEqual({ interactive: false, promptFromStdin: false });
  });
  it('a subcommand with -p, --continue or --resume is an error naming both', () => {
    const fail = (f: () => unknown): MoatError => {
      try {
        f();
      } catch (err) {
        if (err instanceof MoatError) return err;
        throw err;
      }
      throw new Error('no error');
    };
    const e = fail(() => agentMode(claudeAgent, { ...piped, args: ['mcp', 'list'], prompt: 'hi' }));
    expect(e.message).toBe('-p starts a Claude Code session, but "mcp" after -- is one of Claude Code\'s subcommands; use one.');
    expect(fail(() => agentMode(codexAgent, { ...piped, args: ['mcp'], resuming: true })).message).toContain('--continue/--resume');
  });
});

describe('agent subcommands: command lines', () => {
  it('claude: the subcommand as typed, no -p and no skip-permissions flag (yolo or not)', () => {
    expect(claudeCommand({ yolo: true, args: ['mcp', 'list'], subcommand: true })).toEqual(['claude', 'mcp', 'list']);
    expect(claudeCommand({ yolo: false, args: ['doctor'], subcommand: true })).toEqual(['claude', 'doctor']);
    // Without the subcommand flag the same words are the TUI's prompt (what a terminal user gets for `claude "mcp list"`).
    expect(claudeCommand({ yolo: true, args: ['mcp list'] })).toEqual(['claude', '--dangerously-skip-permissions', 'mcp list']);
  });
  it('claude: the container command keeps the prelude (the placeholder key is approved for subcommands too)', () => {
    expect(claudeAgent.containerCommand({ yolo: true, args: ['mcp', 'list'], subcommand: true })).toEqual([
      '/bin/sh',
      '-c',
      CLAUDE_PRELUDE,
      'moat-claude',
      'claude',
      'mcp',
      'list',
    ]);
  });
  it('codex: the subcommand behind --no-daemon, never codex exec', () => {
    expect(codexCommand({ yolo: true, args: ['mcp', 'list'], subcommand: true })).toEqual(['codex', '--no-daemon', 'mcp', 'list']);
    expect(codexCommand({ yolo: false, args: ['login', '--with-api-key'], subcommand: true })).toEqual(['codex', '--no-daemon', 'login', '--with-api-key']);
    expect(codexAgent.containerCommand({ yolo: true, args: ['features', 'list'], subcommand: true }).slice(4)).toEqual([
      'codex',
      '--no-daemon',
      'features',
      'list',
    ]);
  });
});
