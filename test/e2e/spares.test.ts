/**
 * Spares (daemon/spares.ts): when a run of a plan seen before ends, the daemon starts a container for the
 * next run of that plan, waiting in moat-init before anything of a run's; the next run claims it, writes
 * its command and environment, and the daemon lets it go. The run must be the same as without a spare
 * (command, arguments, environment, stdin, exit code, its own name), and nothing an earlier run did to
 * the workspace may make a spare mount something else or a later run start in a stale one.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOAT_BIN, Tmux, cleanupHome, listRuns, moat, shq, tempDir, waitFor, type MoatResult } from './helpers.js';

const execFileP = promisify(execFile);
const ON = { MOAT_SPARES: '1', MOAT_DAEMON_IDLE_MS: '120000' };

let home: string;
let root: string;
let n = 0;

beforeAll(async () => {
  home = await tempDir('spares-home');
  root = await tempDir('spares-ws');
  const warm = await moat(['run', '--', 'true'], { home, cwd: await workspace(), timeoutMs: 600_000 });
  if (warm.code !== 0) throw new Error(`warming failed: ${warm.stderr}`);
});

const tmux = new Tmux(`moat-e2e-spares-${process.pid}`);

afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, root, [root]);
});

async function workspace(): Promise<string> {
  const d = join(root, `ws${++n}`);
  await mkdir(d, { recursive: true });
  return d;
}

function run(cwd: string, args: string[], input?: string): Promise<MoatResult> {
  return moat(['run', ...args], { home, cwd, env: ON, timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
}

/** The ids of the spares the daemon has said are ready (for that workspace), in order. */
function readySpares(cwd?: string): string[] {
  const log = join(home, 'daemon', 'daemon.log');
  if (!existsSync(log)) return [];
  return [...readFileSync(log, 'utf8').matchAll(/spare (run_[0-9a-f]{12}) ready for (".*")$/gm)]
    .filter((m) => cwd === undefined || JSON.parse(m[2] as string) === cwd)
    .map((m) => m[1] as string);
}

/** Run the plan twice (a plan that ended twice gets a spare) and wait for its spare; its id. */
async function spareFor(cwd: string, args: string[] = ['--', 'true']): Promise<string> {
  for (let i = 0; i < 2; i++) expect((await run(cwd, args)).code).toBe(0);
  return waitFor(() => readySpares(cwd)[0], 60_000, 'a spare to be ready');
}

async function spareContainers(): Promise<string[]> {
  const { stdout } = await execFileP('docker', ['ps', '-aq', '--filter', `label=moat.home=${home}`, '--filter', 'label=moat.spare=1']);
  return stdout.split('\n').filter(Boolean);
}

async function newestRun(cwd: string): Promise<string> {
  return ((await listRuns(home, cwd))[0] as { id: string }).id;
}

describe('spares', () => {
  it('a repeated run starts in the spare: the same command, arguments, environment, name and exit code', async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd);
    const script = 'printf "[%s]" "$@"; echo; echo "$MOAT_RUN_NAME $HOSTNAME $(hostname)"; pwd; ls /moat/net; exit 7';
    const r = await run(cwd, ['--', 'sh', '-c', script, 'sh', 'a b', '', 'line\nbreak', 'back\\slash', '-e', '$(id)']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(7);
    const id = await newestRun(cwd);
    expect(id).toBe(spare);
    const name = (await listRuns(home, cwd)).find((x) => x.id === id)?.name;
    // Each argument as given; the run's own name everywhere; its go socket gone before the command
    // started (only the gateway's remains).
    expect(r.stdout).toBe(`[a b][][line\nbreak][back\\slash][-e][$(id)]\n${name} ${name} ${name}\n/workspace\nproxy.sock\n`);
  });

  it('stdin reaches a run in a spare', async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd, ['--', 'cat']);
    const r = await run(cwd, ['--', 'cat'], 'from stdin\nsecond line\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from stdin\nsecond line\n');
    expect(await newestRun(cwd)).toBe(spare);
  });

  it('a run in a spare writes the workspace as its owner, without capabilities', async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd);
    const r = await run(cwd, ['--', 'sh', '-c', 'grep CapEff /proc/self/status; echo made > out.txt']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(readFileSync(join(cwd, 'out.txt'), 'utf8')).toBe('made\n');
    expect(await newestRun(cwd)).toBe(spare);
  });

  it('a terminal run starts in a spare, with the size of the terminal and its TERM', async () => {
    const cwd = await workspace();
    // Three runs on one terminal: the third starts in the spare the second left.
    const once = `${shq(process.execPath)} ${shq(MOAT_BIN)} run -i -- sh -c 'echo "size=$(stty size) term=$TERM id=$MOAT_RUN_ID"'`;
    // Until the daemon says this workspace's spare is ready (a loaded machine can take seconds under gVisor).
    const waitSpare = `until grep -qF ${shq(`ready for ${JSON.stringify(cwd)}`)} ${shq(join(home, 'daemon', 'daemon.log'))}; do sleep 0.2; done`;
    const env = `MOAT_HOME=${shq(home)} MOAT_SPARES=1 MOAT_DAEMON_IDLE_MS=120000 NO_COLOR=1 TERM=xterm-256color`;
    await tmux.newSession('tty', `cd ${shq(cwd)} && export ${env} && ${once} && ${once} && ${waitSpare} && ${once}; echo "MOAT_EXIT=$?"; sleep 600`, 120, 35);
    const screen = await tmux.waitForText('tty', /MOAT_EXIT=\d+/, 120_000);
    expect(screen).toContain('MOAT_EXIT=0');
    const ids = [...screen.matchAll(/size=(\d+ \d+) term=(\S+) id=(run_[0-9a-f]{12})/g)];
    expect(ids).toHaveLength(3);
    for (const m of ids) expect(m[2]).toBe('xterm-256color');
    // The run in the spare has the size before its command starts (a new container can only be sized once
    // started, so a command that looks at once may see 0 0 there: engine API 1.41 has no size at creation).
    expect(ids[2]?.[1]).toBe('35 120');
    expect(readySpares(cwd)).toContain(ids[2]?.[3]);
  });

  it('hostile: a workspace removed and made again after its spare was made is not run in that spare', async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd);
    await rm(cwd, { recursive: true });
    await mkdir(cwd);
    await writeFile(join(cwd, 'new.txt'), 'the new workspace\n');
    const r = await run(cwd, ['--', 'cat', 'new.txt']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('the new workspace\n');
    expect(await newestRun(cwd)).not.toBe(spare);
  });

  it('hostile: a run that swaps an approved mount source for a link to / as it ends leaves no spare mounting /', async () => {
    const cwd = await workspace();
    await mkdir(join(cwd, 'data'));
    await writeFile(join(cwd, 'data', 'file.txt'), 'data\n');
    await writeFile(join(cwd, 'moat.yaml'), 'mounts: ["./data:/data:ro"]\n');
    expect((await moat(['trust', 'approve'], { home, cwd })).code).toBe(0);
    expect((await run(cwd, ['--', 'true'])).code).toBe(0);
    // The second run of the plan (a spare would follow it) plants the link before it ends.
    const swap = await run(cwd, ['--', 'sh', '-c', 'rm -rf data && ln -s / data']);
    expect(swap.code).toBe(0);
    await waitFor(() => readFileSync(join(home, 'daemon', 'daemon.log'), 'utf8').includes('not made'), 30_000, 'the daemon to refuse the spare');
    expect(readySpares(cwd)).toEqual([]);
    const mounts = await Promise.all(
      (await spareContainers()).map(async (c) => (await execFileP('docker', ['inspect', '--format', '{{range .Mounts}}{{.Source}} {{end}}', c])).stdout),
    );
    expect(mounts.join(' ')).not.toMatch(/(^| )\/ /);
  });

  it('spares go when the daemon stops: no container, no folder left', async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd);
    expect(await spareContainers()).not.toEqual([]);
    const status = JSON.parse((await moat(['proxy', 'status', '--json'], { home, cwd })).stdout) as { spares: number };
    expect(status.spares).toBeGreaterThanOrEqual(1);
    // A running daemon's spare is its own: moat clean leaves it alone.
    expect((await moat(['clean', '--dry-run'], { home, cwd })).stdout).not.toMatch(/orphaned|spare/);
    expect((await moat(['proxy', 'stop'], { home, cwd })).code).toBe(0);
    expect(await spareContainers()).toEqual([]);
    expect(readdirSync(join(home, 'runs'))).not.toContain(spare);
  });

  it("a killed daemon's spare is removed by moat clean, with its folder", async () => {
    const cwd = await workspace();
    const spare = await spareFor(cwd);
    const { pid } = JSON.parse((await moat(['proxy', 'status', '--json'], { home, cwd })).stdout) as { pid: number };
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await moat(['proxy', 'status', '--json'], { home, cwd })).stdout.includes('"running":false'), 10_000, 'the daemon to be gone');
    const dry = await moat(['clean', '--dry-run'], { home, cwd });
    expect(dry.stdout).toContain('container (spare of a stopped daemon)');
    expect((await moat(['clean', '-y'], { home, cwd })).code).toBe(0);
    expect(await spareContainers()).toEqual([]);
    expect(readdirSync(join(home, 'runs'))).not.toContain(spare);
  });

  it('MOAT_SPARES=0: a run neither takes nor leaves a spare', async () => {
    const cwd = await workspace();
    for (let i = 0; i < 3; i++) expect((await moat(['run', '--', 'true'], { home, cwd, env: { MOAT_SPARES: '0' } })).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(readySpares(cwd)).toEqual([]);
    const mine = (await listRuns(home, cwd)).filter((r) => r.workspace === cwd);
    expect(mine).toHaveLength(3);
    for (const r of mine) expect(existsSync(join(home, 'runs', r.id, 'spare-plan.json'))).toBe(false);
  });
});
