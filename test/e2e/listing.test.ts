/**
 * `moat list` shows what a person recognises: the agent or the command as it was typed (never moat's
 * prelude around an agent), the workspace with "~" for the home, the state and the age in words.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, grantToken, moat, tempDir, type MoatOptions } from './helpers.js';

let home: string;
let user: string;
let ws: string;
let opts: MoatOptions;

beforeAll(async () => {
  home = await tempDir('list-home');
  user = await tempDir('list-user'); // the HOME of these commands: the workspace is ~/src/app
  ws = join(user, 'src', 'app');
  await mkdir(ws, { recursive: true });
  opts = { home, cwd: ws, env: { HOME: user, MOAT_KEYRING_BACKEND: 'file' }, timeoutMs: 600_000 };
  await grantToken('anthropic', 'sk-ant-api03-E2ELISTKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-AA', opts);
});

afterAll(async () => {
  await cleanupHome(home, ws, [user]);
});

/** The table's rows as cells (columns are two or more spaces apart). */
function table(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {2,}/));
}

describe('moat list', () => {
  it('a command run and an agent run: the command as typed, ~/… for the workspace, state and age in words', async () => {
    const cmd = await moat(['run', '-n', 'cmd-row', '--', 'echo', 'hello world'], opts);
    expect(cmd.code, cmd.stderr).toBe(0);
    // The agent's own --version: a real Claude Code run (the image is shared with the agents tests).
    const agent = await moat(['claude', '-n', 'agent-row', '--', '--version'], opts);
    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toMatch(/Claude Code/);

    const r = await moat(['list'], opts);
    expect(r.code, r.stderr).toBe(0);
    const [head, ...rows] = table(r.stdout);
    expect(head).toEqual(['NAME', 'COMMAND', 'WORKSPACE', 'STATE', 'AGE', 'ID']);
    const row = (name: string): string[] | undefined => rows.find((c) => c[0] === name);
    expect(row('agent-row')?.slice(1, 4)).toEqual(['claude --version', '~/src/app', 'stopped (0)']);
    expect(row('cmd-row')?.slice(1, 4)).toEqual(["echo 'hello world'", '~/src/app', 'stopped (0)']);
    for (const c of rows) expect(c[4]).toMatch(/^(just now|\d+ s ago|\d+ min ago)$/);
    expect(r.stdout).not.toContain('moat-claude');
    expect(r.stdout).not.toContain('/bin/sh');
    // The record keeps what the container ran; the typed command is recorded beside it.
    const json = (JSON.parse((await moat(['list', '--json'], opts)).stdout) as { runs: Array<{ name: string; command: string[]; commandLine?: string }> }).runs;
    const a = json.find((x) => x.name === 'agent-row');
    expect(a?.commandLine).toBe('claude --version');
    expect(a?.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
  }, 600_000);

  it("moat.yaml's command is shown as written in the file, not inside its sh -c", async () => {
    const dir = join(user, 'yaml-app');
    await mkdir(dir);
    await writeFile(join(dir, 'moat.yaml'), 'command: "echo from yaml && true"\n');
    const run = await moat(['run', '-n', 'yaml-row'], { ...opts, cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const rows = table((await moat(['list'], opts)).stdout);
    expect(rows.find((c) => c[0] === 'yaml-row')?.slice(1, 4)).toEqual(['echo from yaml && true', '~/yaml-app', 'stopped (0)']);
  }, 120_000);

  it('a run recorded by an older moat (no typed command) shows its agent, not the prelude argv', async () => {
    const id = 'run_0ad0ad0ad0ad';
    await mkdir(join(home, 'runs', id), { recursive: true });
    await writeFile(
      join(home, 'runs', id, 'metadata.json'),
      JSON.stringify({
        id,
        name: 'old-agent',
        workspace: join(user, 'src', 'app'),
        command: ['/bin/sh', '-c', 'exec "$@"', 'moat-codex', 'codex', '--yolo'],
        image: 'x',
        grants: [],
        interactive: true,
        keep: false,
        agent: 'codex',
        state: 'stopped',
        exitCode: 0,
        createdAt: new Date(Date.now() - 26 * 3600_000).toISOString(),
        home,
      }),
    );
    const rows = table((await moat(['list'], opts)).stdout);
    expect(rows.find((c) => c[0] === 'old-agent')?.slice(1, 5)).toEqual(['codex', '~/src/app', 'stopped (0)', 'yesterday']);
  });
});
