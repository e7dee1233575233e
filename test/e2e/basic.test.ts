/**
 * `moat run` basics against the real engine: output, exit codes, stdin, env, moat.yaml, the user the
 * process runs as, its capabilities and its network; `version`; run references that match badly.
 */
import { chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, errorProblems, listRuns, moat, readLogs, tempDir, waitFor } from './helpers.js';

let home: string;
let root: string;
const dirs: string[] = [];

/** A fresh workspace (root-owned unless chowned). */
async function workspace(name: string, files: Record<string, string> = {}): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text);
  return d;
}

beforeAll(async () => {
  home = await tempDir('basic-home');
  root = await tempDir('basic-ws');
  dirs.push(root);
});

afterAll(async () => {
  await cleanupHome(home, root, dirs);
});

describe.concurrent('moat run', () => {
  it('prints the output of echo and exits 0', async () => {
    const cwd = await workspace('echo');
    const r = await moat(['run', '--', 'echo', 'hello'], { home, cwd });
    expect(r.stderr).not.toContain('    at ');
    expect(r.stdout).toBe('hello\n');
    expect(r.code).toBe(0);
  });

  it("exits with the command's exit code (3)", async () => {
    const cwd = await workspace('exit3');
    const r = await moat(['run', '--', 'sh', '-c', 'exit 3'], { home, cwd });
    expect(r.code).toBe(3);
  });

  it('exits 127 for a command that does not exist', async () => {
    const cwd = await workspace('exit127');
    const r = await moat(['run', '--', 'moat-no-such-command'], { home, cwd });
    expect(r.code).toBe(127);
    expect(r.stdout).toBe('');
  });

  it('keeps stdout and stderr apart', async () => {
    const cwd = await workspace('streams');
    const r = await moat(['run', '--', 'sh', '-c', 'echo to-out; echo to-err >&2; echo more-out'], { home, cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('to-out\nmore-out\n');
    expect(r.stderr).toContain('to-err');
    expect(r.stderr).not.toContain('to-out');
  });

  it('forwards piped stdin (echo x | moat run -- cat)', async () => {
    const cwd = await workspace('stdin');
    const r = await moat(['run', '--', 'cat'], { home, cwd, input: 'x\nsecond line\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('x\nsecond line\n');
  });

  it('passes -e KEY=VAL to the command', async () => {
    const cwd = await workspace('env-flag');
    const r = await moat(['run', '-e', 'A=B', '-e', 'SPACED=two words', '--', 'sh', '-c', 'echo "$A|$SPACED"'], { home, cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('B|two words\n');
  });

  it('uses env: and command: from moat.yaml, and -e adds to the file', async () => {
    const cwd = await workspace('yaml', {
      'moat.yaml': 'env:\n  FROM_YAML: yaml-value\ncommand: echo "cmd-from-yaml $FROM_YAML $FROM_FLAG"\n',
    });
    const r = await moat(['run', '-e', 'FROM_FLAG=flag-value'], { home, cwd });
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('cmd-from-yaml yaml-value flag-value\n');
  });

  it('a command after -- overrides command: of moat.yaml', async () => {
    const cwd = await workspace('yaml-override', { 'moat.yaml': 'command: echo from-yaml\n' });
    const r = await moat(['run', '--', 'echo', 'from-args'], { home, cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from-args\n');
  });

  it('runs as the workspace owner (uid 1234) with no capabilities; files it writes belong to 1234', async () => {
    const cwd = await workspace('uid1234');
    await chown(cwd, 1234, 1234);
    const r = await moat(['run', '--', 'sh', '-c', 'id -u; id -g; grep CapEff /proc/self/status; echo data > written.txt; mkdir sub'], {
      home,
      cwd,
    });
    // Nothing on stderr but the line that says what the run changed in the workspace (its snapshots).
    expect(r.stderr).toMatch(/^moat: the run changed 1 file \(\+1 −0\) — moat diff [a-z-]+ \/ moat rollback [a-z-]+\n$/);
    expect(r.code).toBe(0);
    const [uid, gid, capEff] = r.stdout.split('\n');
    expect(uid).toBe('1234');
    expect(gid).toBe('1234');
    expect(capEff).toMatch(/^CapEff:\s+0{16}$/);
    const file = await stat(join(cwd, 'written.txt'));
    expect(file.uid).toBe(1234);
    expect(file.gid).toBe(1234);
    expect((await stat(join(cwd, 'sub'))).uid).toBe(1234);
  });

  it('runs as uid 0 in a root-owned workspace, still with zero effective capabilities, with a writable HOME', async () => {
    const cwd = await workspace('uid0');
    const r = await moat(
      ['run', '--', 'sh', '-c', 'id -u; grep CapEff /proc/self/status; touch root-file; touch ~/home-file && mkdir -p ~/.cache/tool && echo home-writable'],
      { home, cwd },
    );
    expect(r.stderr).toMatch(/^moat: the run changed 1 file \(\+0 −0\) — moat diff [a-z-]+ \/ moat rollback [a-z-]+\n$/);
    expect(r.code).toBe(0);
    const [uid, capEff, homeWritable] = r.stdout.split('\n');
    expect(uid).toBe('0');
    expect(capEff).toMatch(/^CapEff:\s+0{16}$/);
    // Its HOME is its own: tools that keep caches there (npm, pip, Codex) work.
    expect(homeWritable).toBe('home-writable');
    expect((await stat(join(cwd, 'root-file'))).uid).toBe(0);
  });

  it('has no network interface but lo', async () => {
    const cwd = await workspace('net');
    const r = await moat(['run', '--', 'cat', '/proc/net/dev'], { home, cwd });
    expect(r.code).toBe(0);
    const ifaces = r.stdout
      .split('\n')
      .slice(2)
      .filter((l) => l.includes(':'))
      .map((l) => l.split(':')[0]?.trim());
    expect(ifaces).toEqual(['lo']);
  });

  it('takes the workspace as a path argument and mounts it at /workspace', async () => {
    const ws = await workspace('path-arg', { 'marker.txt': 'marker-content\n' });
    const cwd = await workspace('elsewhere');
    const r = await moat(['run', ws, '--', 'sh', '-c', 'pwd; cat marker.txt'], { home, cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('/workspace\nmarker-content\n');
  });

  it('records the output of an attached run in logs.jsonl, with streams and timestamps', async () => {
    const cwd = await workspace('logs-attached');
    const r = await moat(['run', '-n', 'logged-run', '--', 'sh', '-c', 'echo logged-out; echo logged-err >&2'], { home, cwd });
    expect(r.code).toBe(0);
    const run = (await listRuns(home, cwd)).find((x) => x.name === 'logged-run');
    expect(run).toBeDefined();
    expect(run?.state).toBe('stopped');
    expect(run?.exitCode).toBe(0);
    // The daemon records the output; give it a moment to write the tail after the exit.
    const logs = await waitFor(
      async () => {
        const l = await readLogs(home, run?.id ?? '');
        return l.length >= 2 ? l : undefined;
      },
      10_000,
      'two lines in logs.jsonl',
    );
    expect(logs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stream: 'stdout', line: 'logged-out' }),
        expect.objectContaining({ stream: 'stderr', line: 'logged-err' }),
      ]),
    );
    for (const l of logs) expect(Number.isNaN(Date.parse(l.ts))).toBe(false);
    const out = await moat(['logs', 'logged-run'], { home, cwd });
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('logged-out\n');
    expect(out.stderr).toContain('logged-err');
  });
});

describe('other commands', () => {
  it('version prints the version', async () => {
    const r = await moat(['version'], { home, cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^moat \d+\.\d+\.\d+/);
    const v = await moat(['--version'], { home, cwd: root });
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('an ambiguous name is an error that lists the candidates; an id still works', async () => {
    const cwd = await workspace('ambiguous');
    const a = await moat(['run', '-n', 'twin', '--', 'echo', 'first'], { home, cwd });
    const b = await moat(['run', '-n', 'twin', '--', 'echo', 'second'], { home, cwd });
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const twins = (await listRuns(home, cwd)).filter((x) => x.name === 'twin');
    expect(twins).toHaveLength(2);
    const r = await moat(['logs', 'twin'], { home, cwd });
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toMatch(/ambiguous|matches 2 runs/i);
    for (const t of twins) expect(r.stderr).toContain(t.id);
    // Without a run argument: the most recent run, and it says which.
    for (const t of twins) await waitFor(async () => (await readLogs(home, t.id)).length > 0, 10_000, `logs of ${t.id}`);
    const latest = await moat(['logs'], { home, cwd });
    expect(latest.code).toBe(0);
    expect(latest.stdout).toBe('second\n');
    expect(latest.stderr).toContain('twin');
    const byId = await moat(['logs', twins[0]?.id ?? ''], { home, cwd });
    expect(byId.code).toBe(0);
    expect(['first\n', 'second\n']).toContain(byId.stdout);
  });

  it('status --json reports the engine and this home', async () => {
    const r = await moat(['status', '--json'], { home, cwd: root });
    expect(r.code).toBe(0);
    const st = JSON.parse(r.stdout) as { home: string; engine: { reachable: boolean; version?: string } };
    expect(st.home).toBe(home);
    expect(st.engine.version).toBeTruthy();
  });

  it('an unknown run id is an error that says how to list runs', async () => {
    for (const cmd of [['logs'], ['stop'], ['attach'], ['destroy']]) {
      const r = await moat([...cmd, 'run_000000000000'], { home, cwd: root });
      expect(errorProblems(r), `moat ${cmd.join(' ')}`).toEqual([]);
      expect(r.stderr).toMatch(/No run matches "run_000000000000"/);
      expect(r.stderr).toContain('moat list');
    }
  });
});
