/**
 * Bad input: each case exits non-zero with a short message that says how to fix it (no stack trace), and
 * leaves no container, network or run directory of the test's home behind.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, containersOf, errorProblems, listRuns, moat, networksOf, parseDetached, runDirs, tempDir, waitFor, type MoatResult } from './helpers.js';

let home: string;
let root: string;
const extraHomes: string[] = [];

async function workspace(name: string, files: Record<string, string> = {}): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text);
  return d;
}

interface Snapshot {
  containers: string[];
  networks: string[];
  runs: string[];
}

async function snapshot(h: string): Promise<Snapshot> {
  return { containers: (await containersOf(h)).sort(), networks: (await networksOf(h)).sort(), runs: runDirs(h) };
}

/** Run a bad invocation and check that it left the home exactly as it found it. */
async function expectNothingLeft(h: string, run: () => Promise<MoatResult>): Promise<MoatResult> {
  const before = await snapshot(h);
  const r = await run();
  // A build or engine failure must not leave anything behind, not even a moment later.
  expect(await snapshot(h)).toEqual(before);
  return r;
}

beforeAll(async () => {
  home = await tempDir('bad-home');
  root = await tempDir('bad-ws');
});

afterAll(async () => {
  for (const h of extraHomes) await cleanupHome(h, root);
  await cleanupHome(home, root, [root]);
});

describe('bad input', () => {
  it('a workspace that does not exist', async () => {
    const cwd = await workspace('cwd-missing');
    const missing = join(root, 'no-such-dir');
    const r = await expectNothingLeft(home, () => moat(['run', missing, '--', 'true'], { home, cwd }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).toMatch(/mkdir|another directory/);
  });

  it('a workspace that is a file', async () => {
    const cwd = await workspace('cwd-file', { 'afile.txt': 'x' });
    const r = await expectNothingLeft(home, () => moat(['run', 'afile.txt', '--', 'true'], { home, cwd }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toMatch(/not a directory/);
  });

  it('a malformed moat.yaml points at moat.yaml:LINE:COL', async () => {
    const cwd = await workspace('yaml-malformed', { 'moat.yaml': 'env:\n  A: b\ncommand: [unclosed\nname: x\n' });
    const r = await expectNothingLeft(home, () => moat(['run'], { home, cwd }));
    // "moat.yaml is invalid (1 problem):", the problem with its position, and the fix.
    expect(errorProblems(r, 3)).toEqual([]);
    expect(r.stderr).toMatch(/moat\.yaml:\d+:\d+/);
  });

  it('an unknown key in moat.yaml suggests the right one', async () => {
    const cwd = await workspace('yaml-unknown', { 'moat.yaml': 'env:\n  A: b\ncomand: echo hi\n' });
    const r = await expectNothingLeft(home, () => moat(['run'], { home, cwd }));
    expect(errorProblems(r, 3)).toEqual([]);
    expect(r.stderr).toMatch(/moat\.yaml:3:1/);
    expect(r.stderr).toMatch(/did you mean "command"/);
  });

  it('a path rule the gateway would refuse (a lower-case method) is refused at moat.yaml:LINE:COL before anything starts', async () => {
    // The schema once checked path rules with a looser regex than the gateway's parser: this passed
    // moat.yaml and failed later, in the gateway, with no position in the file.
    const cwd = await workspace('yaml-path-rule', { 'moat.yaml': 'network:\n  rules:\n    - api.example.com:\n        - allow get /repos/**\n' });
    const r = await expectNothingLeft(home, () => moat(['run', '--approve-config', '--', 'true'], { home, cwd }));
    expect(errorProblems(r, 3)).toEqual([]);
    expect(r.stderr).toContain(
      'moat.yaml:4:11: network.rules[0]["api.example.com"][0]: path rule "allow get /repos/**": method "get" must be an upper-case HTTP method or "*"',
    );
  });

  it('an unknown flag', async () => {
    const cwd = await workspace('flag');
    const r = await expectNothingLeft(home, () => moat(['run', '--no-such-flag', '--', 'true'], { home, cwd }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toContain('--no-such-flag');
    expect(r.stderr).toContain('--help');
  });

  it('-e with an invalid variable name (-e 1BAD=x)', async () => {
    const cwd = await workspace('env-bad');
    const r = await expectNothingLeft(home, () => moat(['run', '-e', '1BAD=x', '--', 'true'], { home, cwd }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toContain('1BAD');
  });

  it('an invalid run name (-n) or memory size (--memory)', async () => {
    const cwd = await workspace('bad-name');
    const n = await expectNothingLeft(home, () => moat(['run', '-n', 'Bad Name', '--', 'true'], { home, cwd }));
    expect(errorProblems(n)).toEqual([]);
    expect(n.stderr).toContain('Bad Name');
    const m = await expectNothingLeft(home, () => moat(['run', '--memory', 'lots', '--', 'true'], { home, cwd }));
    expect(errorProblems(m)).toEqual([]);
    expect(m.stderr).toContain('lots');
  });

  it("--cpus or container.cpus above the engine's CPU count: refused before anything is created, naming the count and the fix", async () => {
    const cwd = await workspace('too-many-cpus', { 'moat.yaml': 'container:\n  memory: 1g\n  cpus: 4096\n' });
    const f = await expectNothingLeft(home, () => moat(['run', '--cpus', '4096', '--', 'true'], { home, cwd }));
    expect(errorProblems(f)).toEqual([]);
    const n = /the engine has (\d+) CPUs?\./.exec(f.stderr)?.[1];
    expect(n, f.stderr).toBeDefined();
    expect(f.stderr).toContain(`--cpus 4096 asks for more CPUs than the engine has ${n} CPU`);
    expect(f.stderr).toContain(`Use --cpus ${n} or less.`);
    const y = await expectNothingLeft(home, () => moat(['run', '--', 'true'], { home, cwd }));
    expect(errorProblems(y)).toEqual([]);
    expect(y.stderr).toContain(`moat.yaml:3:9: container.cpus: 4096 is more CPUs than the engine has ${n} CPU`);
    expect(y.stderr).toContain(`Set container.cpus to ${n} or less in moat.yaml, or override it with --cpus ${n}.`);
  });

  it('a name already used by a live run (-n)', async () => {
    const cwd = await workspace('name-taken');
    const live = await moat(['run', '-d', '-n', 'taken-name', '--', 'sleep', '300'], { home, cwd });
    expect(live.code).toBe(0);
    const { id } = parseDetached(live.stdout);
    await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === id && x.state === 'running'), 20_000, 'running');
    const r = await expectNothingLeft(home, () => moat(['run', '-n', 'taken-name', '--', 'true'], { home, cwd }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toContain('taken-name');
    expect(r.stderr).toMatch(/-n|another name/);
    const s = await moat(['stop', '-t', '1', id], { home, cwd });
    expect(s.code).toBe(0);
  });

  it('a Docker engine that is down says how to start it', async () => {
    // Its own home: the daemon a run starts inherits the CLI's DOCKER_HOST.
    const down = await tempDir('bad-down-home');
    extraHomes.push(down);
    const cwd = await workspace('engine-down');
    const env = { DOCKER_HOST: 'unix:///nonexistent.sock' };
    const r = await expectNothingLeft(down, () => moat(['run', '--', 'true'], { home: down, cwd, env }));
    expect(errorProblems(r)).toEqual([]);
    expect(r.stderr).toMatch(/Docker engine/);
    expect(r.stderr).toMatch(/systemctl start docker|setup\.sh/);
    expect(runDirs(down)).toEqual([]);
    expect(await containersOf(down)).toEqual([]);
  });

  it('an image build that fails names the failing step and leaves no container', async () => {
    const cwd = await workspace('build-fails', { 'moat.yaml': 'base_image: moat-test-nonexistent:latest\n' });
    const r = await expectNothingLeft(home, () => moat(['run', '--approve-config', '--', 'true'], { home, cwd }));
    // Build failures show the failing step and its last lines, so no line limit here.
    expect(errorProblems(r, Number.POSITIVE_INFINITY)).toEqual([]);
    expect(r.stderr).toMatch(/build failed/i);
    expect(r.stderr).toContain('FROM moat-test-nonexistent:latest');
    expect(r.stderr).toMatch(/base_image|--rebuild/);
  });

  it('nothing of any failed case is listed as a run', async () => {
    const runs = await listRuns(home, root);
    // Only the live run that held the name, stopped since.
    expect(runs.map((x) => x.name)).toEqual(['taken-name']);
  });
});
