/**
 * `dependencies:` in moat.yaml against the real engine: the image has the tools on PATH for the container
 * user, it is built once (a second run builds nothing), a changed dependency or --rebuild builds again,
 * and bad input fails early with a short message and nothing left behind.
 *
 * Builds are slow, so they start in beforeAll and the tests await them; each group has its own MOAT_HOME
 * so the image and run checks of one group never see another group's builds:
 *  - big:   one image with every dependency installable from the reachable registries (apt + npm);
 *  - small: `[node@20]`, then one dependency added, then --rebuild;
 *  - bad:   bad input (a non-Debian base image, an apt package that does not exist); entries moat.yaml's
 *           schema refuses are in deps-config.test.ts.
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, containersOf, listRuns, moat, networksOf, runDirs, tempDir, type MoatResult } from './helpers.js';

const execFileP = promisify(execFile);

/** A test's safety net for a run that builds an image (the CLI is killed after this long). */
const BUILD_MS = 420_000;
const TEST_MS = 450_000;

const BIG_DEPS = 'dependencies: [node@22, python, git, gh, ripgrep, jq, npm:typescript@5.9, apt:sqlite3]\n';
const NOT_DEBIAN = 'moat-test-notdebian:1';

/** Every check of the big image, one `label=value` line each, in one container run as uid 1234. */
const BIG_CHECKS = [
  'echo "uid=$(id -u)"',
  'echo "node=$(node --version)"',
  'echo "npm=$(npm --version)"',
  `echo "python=$(python3 -c 'print(1)')"`,
  'echo "venv=$(python3 -m venv /tmp/v && /tmp/v/bin/pip --version)"',
  'echo "git=$(git --version)"',
  'echo "gh=$(gh --version | head -n 1)"',
  'echo "rg=$(rg --version | head -n 1)"',
  'echo "jq=$(jq --version)"',
  'echo "tsc=$(tsc --version)"',
  'echo "sqlite3=$(sqlite3 --version)"',
].join('; ');

async function docker(args: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** Ids of the images labelled with a moat home (the images its builds made). */
async function imagesOf(home: string): Promise<string[]> {
  const out = await docker(['images', '-q', '--no-trunc', '--filter', `label=moat.home=${home}`]);
  return [...new Set(out.split('\n').filter(Boolean))].sort();
}

async function imageId(ref: string): Promise<string> {
  return docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
}

/** `label=value` lines of a run's stdout as a map. */
function fields(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

const BUILD_OUTPUT = /Building the image|\[\d+\/\d+\]|Image built in/;
/** What a build that happened prints at its end. */
const BUILT = /Image built in \d+(\.\d+)?\s?m?s/;

/** The image of a home's newest run. */
async function lastImage(home: string, cwd: string): Promise<string> {
  const runs = await listRuns(home, cwd);
  const newest = [...runs].sort((a, b) => String(a.createdAt ?? '').localeCompare(String(b.createdAt ?? ''))).at(-1);
  const image = newest?.image;
  if (typeof image !== 'string') throw new Error(`no image in the run records: ${JSON.stringify(runs)}`);
  return image;
}

/** A promise started once (a build several tests wait for). */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

let root: string;
let bigHome: string;
let smallHome: string;
let badHome: string;
let idleHome: string;
let bigWs: string;
let smallWs: string;

async function workspace(name: string, files: Record<string, string>, owner?: number): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text);
  if (owner !== undefined) await chown(d, owner, owner);
  return d;
}

const bigFirst = once(() => moat(['run', '--approve-config', '--', 'sh', '-c', BIG_CHECKS], { home: bigHome, cwd: bigWs, timeoutMs: BUILD_MS }));
const smallFirst = once(() => moat(['run', '--approve-config', '--', 'node', '--version'], { home: smallHome, cwd: smallWs, timeoutMs: BUILD_MS }));

/** A bad invocation in the bad home: returns its result and whether it left anything behind. */
async function badRun(name: string, files: Record<string, string>): Promise<{ r: MoatResult; left: string[] }> {
  const cwd = await workspace(name, files);
  const snap = async (): Promise<string[]> => [
    ...(await containersOf(badHome)).map((c) => `container ${c}`),
    ...(await networksOf(badHome)).map((n) => `network ${n}`),
    ...runDirs(badHome).map((d) => `run dir ${d}`),
    ...(await imagesOf(badHome)).map((i) => `image ${i}`),
  ];
  const before = await snap();
  const r = await moat(['run', '--approve-config', '--', 'true'], { home: badHome, cwd, timeoutMs: BUILD_MS });
  const after = await snap();
  return { r, left: after.filter((x) => !before.includes(x)) };
}

/** The failure message of a failed build (from "moat:" on), for the "short message" checks. */
function failure(r: MoatResult): string {
  const at = r.stderr.indexOf('moat: ');
  return at < 0 ? '' : r.stderr.slice(at);
}

const aptMissing = once(() => badRun('apt-missing', { 'moat.yaml': 'dependencies: [apt:moat-no-such-pkg]\n' }));

beforeAll(async () => {
  root = await tempDir('deps-ws');
  bigHome = await tempDir('deps-big-home');
  smallHome = await tempDir('deps-small-home');
  badHome = await tempDir('deps-bad-home');
  idleHome = await tempDir('deps-idle-home');
  bigWs = await workspace('big', { 'moat.yaml': BIG_DEPS }, 1234);
  smallWs = await workspace('small', { 'moat.yaml': 'dependencies: [node@20]\n' });
  // A local base image that is not Debian-based: debian's files with an os-release that says alpine.
  const osRelease = join(root, 'os-release');
  await writeFile(osRelease, 'ID=alpine\nNAME="Alpine Linux"\n');
  const c = await docker(['create', 'debian:bookworm-slim', 'true']);
  try {
    await docker(['cp', osRelease, `${c}:/etc/os-release`]);
    await docker(['commit', c, NOT_DEBIAN]);
  } finally {
    await docker(['rm', '-f', c]);
  }
  // Start the slow builds now; the tests wait for them.
  void bigFirst().catch(() => undefined);
  void smallFirst().catch(() => undefined);
});

afterAll(async () => {
  for (const h of [bigHome, smallHome, badHome, idleHome]) {
    if (!h) continue;
    await moat(['clean', '-y', '--images'], { home: h, cwd: root, timeoutMs: 60_000 }).catch(() => undefined);
    // What the clean left (an image replaced by --rebuild keeps its label): only this home's, none in use.
    const left = await imagesOf(h).catch(() => [] as string[]);
    if (left.length > 0) await docker(['rmi', ...left]).catch(() => undefined);
    await cleanupHome(h, root);
  }
  await docker(['rmi', '-f', NOT_DEBIAN]).catch(() => undefined);
  if (root) await rm(root, { recursive: true, force: true });
}, 180_000);

describe.concurrent('dependencies: builds the image', () => {
  it(
    'one image has node@22, npm, python3 with venv, git, gh, rg, jq, tsc 5.9 and sqlite3 for the container user',
    async () => {
      const r = await bigFirst();
      expect(r.stderr).not.toContain('    at ');
      expect(r.code, r.stderr).toBe(0);
      const f = fields(r.stdout);
      expect(f.uid).toBe('1234');
      expect(f.node).toMatch(/^v22\.\d+\.\d+$/);
      expect(f.npm).toMatch(/^\d+\.\d+\.\d+$/);
      expect(f.python).toBe('1');
      expect(f.venv).toMatch(/^pip \d+\.\d+(\.\d+)? from \/tmp\/v\//);
      expect(f.git).toMatch(/^git version 2\.\d+/);
      expect(f.gh).toMatch(/^gh version 2\.\d+/);
      expect(f.rg).toMatch(/^ripgrep \d+\.\d+/);
      expect(f.jq).toMatch(/^jq-1\.\d+/);
      expect(f.tsc).toMatch(/^Version 5\.9\.\d+$/);
      expect(f.sqlite3).toMatch(/^3\.\d+\.\d+ /);
    },
    TEST_MS,
  );

  it(
    'node@20 reports v20',
    async () => {
      const r = await smallFirst();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toMatch(/^v20\.\d+\.\d+$/);
    },
    TEST_MS,
  );

  it(
    'a second run with the same moat.yaml builds nothing and adds no image',
    async () => {
      const first = await bigFirst();
      expect(first.code, first.stderr).toBe(0);
      const image = await lastImage(bigHome, bigWs);
      const id = await imageId(image);
      const before = await imagesOf(bigHome);
      const r = await moat(['run', '--approve-config', '--', 'node', '--version'], { home: bigHome, cwd: bigWs, timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toMatch(/^v22\./);
      expect(r.stderr).not.toMatch(BUILD_OUTPUT);
      expect(await imagesOf(bigHome)).toEqual(before);
      expect(await lastImage(bigHome, bigWs)).toBe(image);
      expect(await imageId(image)).toBe(id);
    },
    TEST_MS,
  );

  it(
    'changing one dependency builds again (node@20 → node@20 + make), then --rebuild builds again',
    async () => {
      const first = await smallFirst();
      expect(first.code, first.stderr).toBe(0);
      const image = await lastImage(smallHome, smallWs);

      await writeFile(join(smallWs, 'moat.yaml'), 'dependencies: [node@20, make]\n');
      const changed = await moat(['run', '--approve-config', '--', 'sh', '-c', 'node --version; make --version | head -n 1'], {
        home: smallHome,
        cwd: smallWs,
        timeoutMs: BUILD_MS,
      });
      expect(changed.code, changed.stderr).toBe(0);
      expect(changed.stderr).toMatch(BUILT);
      expect(changed.stdout).toMatch(/^v20\.\d+\.\d+\nGNU Make \d/);
      const changedImage = await lastImage(smallHome, smallWs);
      expect(changedImage).not.toBe(image);

      // --rebuild: the same tag, built again from scratch (a new image id).
      const before = await imageId(changedImage);
      const rebuilt = await moat(['run', '--approve-config', '--rebuild', '--', 'node', '--version'], { home: smallHome, cwd: smallWs, timeoutMs: BUILD_MS });
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      expect(rebuilt.stderr).toMatch(BUILT);
      expect(rebuilt.stdout.trim()).toMatch(/^v20\./);
      expect(await lastImage(smallHome, smallWs)).toBe(changedImage);
      expect(await imageId(changedImage)).not.toBe(before);
    },
    TEST_MS,
  );
});

describe.concurrent('dependencies: bad input fails early, briefly, and leaves nothing behind', () => {
  // Entries moat.yaml's schema refuses (unknown names, versions, forms, conflicts): deps-config.test.ts.
  it(
    'a base image that is not Debian- or Ubuntu-based',
    async () => {
      const { r, left } = await badRun('not-debian', { 'moat.yaml': `base_image: ${NOT_DEBIAN}\n` });
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toContain('    at ');
      const msg = failure(r);
      expect(msg).toMatch(/base image is alpine, not Debian- or Ubuntu-based/);
      expect(msg).toMatch(/Set base_image in moat\.yaml to a Debian- or Ubuntu-based image/);
      expect(msg.trim().split('\n').length).toBeLessThanOrEqual(16);
      expect(left).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'an apt package that does not exist: the build fails naming it, with a "not found" hint',
    async () => {
      const { r, left } = await aptMissing();
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toContain('    at ');
      const msg = failure(r);
      expect(msg).toMatch(/^moat: The image build failed at .*\(apt:moat-no-such-pkg\)/);
      expect(msg).toMatch(/Unable to locate package moat-no-such-pkg/);
      expect(msg).toMatch(/A package was not found/);
      expect(msg).toMatch(/Full log: \S+\.log/);
      expect(msg.trim().split('\n').length).toBeLessThanOrEqual(16);
      expect(left).toEqual([]);
    },
    TEST_MS,
  );

  // Regression: the engine's build stream wraps each step's stderr in ESC[91m … ESC[0m; moat once copied
  // those lines verbatim into the failure message (fixed in 2b4a691: src/image/build.ts strips them).
  it(
    'a failed build prints no raw terminal escapes when stderr is not a terminal (NO_COLOR=1)',
    async () => {
      const { r } = await aptMissing();
      expect(r.code).not.toBe(0);
      expect(r.stderr).not.toMatch(/\x1b\[/); // eslint-disable-line no-control-regex
    },
    TEST_MS,
  );
});

describe('dependencies: the first run after a slow build', () => {
  // Regression: executeRun (src/run/execute.ts) spawns the daemon before the build; with no runs it shut
  // down after its idle time (MOAT_DAEMON_IDLE_MS, 60 s by default) while the image built, and the run
  // then failed with "moat: unexpected error: connect ENOENT …/daemon/daemon.sock" (fixed in 2b4a691:
  // the daemon is checked again after a build and watchRun restarts it once). The builds above also run
  // under the helpers' 5 s idle time; here a 1 s idle time and a forced build of a few seconds.
  it(
    'starts the command even when the build outlasts the daemon idle time',
    async () => {
      const cwd = await workspace('idle', { 'moat.yaml': 'dependencies: [apt:bc]\n' });
      const r = await moat(['run', '--approve-config', '--rebuild', '--', 'sh', '-c', 'echo 1+1 | bc'], {
        home: idleHome,
        cwd,
        env: { MOAT_DAEMON_IDLE_MS: '1000' },
        timeoutMs: BUILD_MS,
      });
      expect(r.stderr).toMatch(BUILT);
      expect(r.stderr).not.toMatch(/unexpected error/);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('2\n');
    },
    TEST_MS,
  );
});
