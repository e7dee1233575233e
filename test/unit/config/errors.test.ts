import { describe, expect, it } from 'vitest';
import { loadWorkspaceConfig } from '../../../src/config/load.js';
import { suggest } from '../../../src/config/parse.js';
import { errorOf, problemLines, workspace } from './helpers.js';

async function problems(yaml: string): Promise<string[]> {
  const dir = await workspace({ 'moat.yaml': yaml });
  return problemLines(await errorOf(loadWorkspaceConfig(dir)));
}

describe('moat.yaml errors carry FILE:LINE:COL', () => {
  it('reports a YAML syntax error at its position', async () => {
    const dir = await workspace({ 'moat.yaml': 'name: ok\nenv:\n  A: 1\n   B: 2\n' });
    const message = await errorOf(loadWorkspaceConfig(dir));
    expect(message).toMatch(/^moat\.yaml is invalid/);
    expect(problemLines(message)).toEqual(['moat.yaml:3:6: YAML syntax error: Nested mappings are not allowed in compact mappings']);
  });

  it('reports a duplicate key as a syntax error on its line', async () => {
    expect(await problems('name: a\nname: b\n')).toEqual(['moat.yaml:2:1: YAML syntax error: Map keys must be unique']);
  });

  it('points a wrong type at the value', async () => {
    expect(await problems('name: ok\ncontainer:\n  memory: 2g\n  cpus: "x"\n')).toEqual(['moat.yaml:4:9: container.cpus: expected a number, got string "x"']);
  });

  it('suggests quoting a number given where a string is expected', async () => {
    expect(await problems('env:\n  PORT: 8080\n')).toEqual(['moat.yaml:2:9: env.PORT: expected a string, got number 8080 (quote it: "8080")']);
  });

  it('points an unknown top-level key at the key itself, with did-you-mean', async () => {
    expect(await problems('name: ok\ninteractive: true\ncomand: claude\nzzz: 1\n')).toEqual([
      'moat.yaml:3:1: comand: unknown key "comand", did you mean "command"?',
      'moat.yaml:4:1: zzz: unknown key "zzz"',
    ]);
  });

  it('points a nested unknown key at its own line, not its parent', async () => {
    expect(await problems('name: ok\ncontainer:\n  cpus: 2\n  memroy: 2g\n')).toEqual([
      'moat.yaml:4:3: container.memroy: unknown key "memroy", did you mean "memory"?',
    ]);
  });

  it('handles unknown keys deep inside records and missing required fields', async () => {
    expect(await problems('claude:\n  mcp:\n    fs:\n      comand: npx\n')).toEqual([
      'moat.yaml:4:7: claude.mcp.fs: missing required field "command"',
      'moat.yaml:4:7: claude.mcp.fs.comand: unknown key "comand", did you mean "command"?',
    ]);
  });

  it('rejects bad env names in a mapping at the key', async () => {
    const lines = await problems('env:\n  GOOD: a\n  1BAD: b\n  bad-name: c\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^moat\.yaml:3:3: env\["1BAD"\]: invalid environment variable name/);
    expect(lines[1]).toMatch(/^moat\.yaml:4:3: env\.bad-name: invalid environment variable name/);
  });

  it('rejects bad entries in an env list', async () => {
    const lines = await problems('env:\n  - A=1\n  - 2X=3\n  - NOEQ\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('moat.yaml:3:5: env[1]: invalid environment variable name "2X" (use letters, digits and _, not starting with a digit)');
    expect(lines[1]).toBe('moat.yaml:4:5: env[2]: expected "NAME=value", e.g. "LOG_LEVEL=debug"');
  });

  it('rejects bad mounts with the reason', async () => {
    expect(await problems('mounts:\n  - ./a:relative\n  - onlyone\n  - a:/b:rx\n')).toEqual([
      'moat.yaml:2:5: mounts[0]: mount target "relative" must be an absolute path inside the container',
      'moat.yaml:3:5: mounts[1]: expected "source:target" or "source:target:ro"',
      'moat.yaml:4:5: mounts[2]: mount mode "rx" must be "ro" or "rw"',
    ]);
  });

  it('reports several kinds of problem in line order', async () => {
    const lines = await problems(
      'name: Bad_Name\ncommand: 3\nnetwork:\n  policy: lax\n  rules:\n    - h.com: ["allow GET"]\nports: {web: 0}\ncontainer: {memory: lots, cpus: -1}\n',
    );
    expect(lines.map((l) => l.split(': ')[0])).toEqual([
      'moat.yaml:1:7',
      'moat.yaml:2:10',
      'moat.yaml:4:11',
      'moat.yaml:6:15',
      'moat.yaml:7:14', // ports.web: 0 is no port
      'moat.yaml:8:21',
      'moat.yaml:8:33',
    ]);
    expect(lines[1]).toContain('command: expected a string or a list of strings');
    expect(lines[2]).toContain('network.policy: invalid option');
    expect(lines[3]).toContain('must have three parts: "allow|deny METHOD /path"');
  });

  it('a process limit must be a whole number a run can start with', async () => {
    expect(await problems('container:\n  pids: 8\n')).toEqual(['moat.yaml:2:9: container.pids: expected at least 16 processes']);
    expect(await problems('container:\n  pids: 64.5\n')).toEqual(['moat.yaml:2:9: container.pids: expected a whole number of processes, e.g. 1024']);
  });

  it('rejects a file that is not a mapping', async () => {
    expect(await problems('- a\n- b\n')).toEqual(['moat.yaml:1:1: (root): expected a mapping, got a list']);
  });

  it('puts a hint about the schema modeline on the error', async () => {
    const dir = await workspace({ 'moat.yaml': 'nme: x\n' });
    const err: unknown = await loadWorkspaceConfig(dir).catch((e: unknown) => e);
    expect((err as { hint?: string }).hint).toContain('yaml-language-server: $schema=');
    expect((err as Error).message).toContain('did you mean "name"?');
  });
});

describe('suggest', () => {
  it('offers only close matches', () => {
    const keys = ['name', 'command', 'interactive', 'env', 'mounts', 'base_image'];
    expect(suggest('base-image', keys)).toBe('base_image');
    expect(suggest('Command', keys)).toBe('command');
    expect(suggest('mount', keys)).toBe('mounts');
    expect(suggest('xyz', keys)).toBeUndefined();
    expect(suggest('dependencies', keys)).toBeUndefined();
  });
});
