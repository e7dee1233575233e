import { Command } from '@commander-js/extra-typings';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerDepsCommands } from '../../../src/cli/deps.js';

async function run(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const program = new Command().name('moat').exitOverride();
  registerDepsCommands(program);
  for (const c of program.commands) c.exitOverride();
  await program.parseAsync(['node', 'moat', 'deps', ...args]);
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('moat deps', () => {
  it('lists the built-in dependencies, filtered by type', async () => {
    const all = await run('list');
    expect(all).toMatch(/^NAME\s+TYPE\s+DEFAULT\s+INTERNET\s+DESCRIPTION/);
    expect(all).toMatch(/\nnode\s+runtime\s+22\s+no\s+Node\.js/);
    expect(all).toContain('npm:<package>[@version]');
    const runtimes = await run('list', '--type', 'runtime');
    expect(runtimes).toContain('deno');
    expect(runtimes).not.toMatch(/\nripgrep/);
  });

  it('prints JSON with --json', async () => {
    const out = await run('list', '--type', 'npm', '--json');
    expect(out.trim().split('\n')).toHaveLength(1); // one document, on one line (docs/json.md)
    const list = (JSON.parse(out) as { dependencies: { name: string; type: string; needsInternet: boolean; install: object }[] }).dependencies;
    for (const e of list) expect(Object.keys(e)).toEqual(expect.arrayContaining(['name', 'type', 'description', 'needsInternet', 'install']));
    expect(list.map((e) => e.name)).toContain('codex');
    expect(new Set(list.map((e) => e.type))).toEqual(new Set(['npm']));
  });

  it('refuses an unknown type, naming the flag', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(run('list', '--type', 'brew')).rejects.toThrow(
      "option '--type <type>' argument 'brew' is invalid. Allowed choices are runtime, tool, npm, apt, pip, meta.",
    );
  });

  it('shows versions, default, requirements, installs and internet need', async () => {
    const node = await run('info', 'node');
    expect(node).toMatch(/versions\s+18, 20, 22, 24/);
    expect(node).toMatch(/default\s+22/);
    expect(node).toMatch(/internet\s+not needed/);
    expect(node).toMatch(/installs\s+apt: ca-certificates curl jq/);
    const go = await run('info', 'go');
    expect(go).toMatch(/internet\s+needed/);
    const ts = await run('info', 'typescript');
    expect(ts).toMatch(/requires\s+node/);
    expect(ts).toMatch(/npm \(global\): typescript@<version>/);
    expect(await run('info', 'python-dev')).toMatch(/bundle of: python, uv, git, build-essential/);
    expect(await run('info', 'npm:@scope/pkg')).toMatch(/type\s+npm/);
    const info = JSON.parse(await run('info', 'node', '--json')) as { name: string; type: string; defaultVersion: string; versions: unknown };
    expect(info).toMatchObject({ name: 'node', type: 'runtime', defaultVersion: expect.any(String) });
  });

  it('suggests a name for an unknown dependency', async () => {
    await expect(run('info', 'ripgrap')).rejects.toThrow(/did you mean "ripgrep"/);
  });
});
