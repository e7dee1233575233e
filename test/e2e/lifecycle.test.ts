/**
 * The run lifecycle against the real engine: detach, logs -f, stop, attach, a CLI killed with SIGKILL,
 * destroy and clean.
 */
import { spawnSync, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RUN_ID_RE,
  cleanupHome,
  containerExists,
  containersOf,
  errorProblems,
  listRuns,
  moat,
  parseDetached,
  readLogs,
  readMetadata,
  startMoat,
  tempDir,
  waitFor,
} from './helpers.js';

const execFileP = promisify(execFile);

let home: string;
let root: string;

async function workspace(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  return d;
}

beforeAll(async () => {
  home = await tempDir('life-home');
  root = await tempDir('life-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe.concurrent('lifecycle', () => {
  it('-d prints the id, the name and how to follow; logs -f follows until the end', async () => {
    const cwd = await workspace('detach');
    const r = await moat(['run', '-d', '--', 'sh', '-c', 'for i in 1 2 3 4 5; do echo tick$i; sleep 0.3; done; echo bye >&2'], { home, cwd });
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(0);
    const { id, name } = parseDetached(r.stdout);
    expect(id).toMatch(RUN_ID_RE);
    expect(r.stdout).toContain(`moat logs -f ${name}`);
    expect(r.stdout).toContain(`moat attach ${name}`);
    expect(r.stdout).toContain(`moat stop ${name}`);

    const logs = await moat(['logs', '-f', name], { home, cwd });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('tick1\ntick2\ntick3\ntick4\ntick5\n');
    expect(logs.stderr).toContain('bye');

    const run = (await listRuns(home, cwd)).find((x) => x.id === id);
    expect(run?.state).toBe('stopped');
    expect(run?.exitCode).toBe(0);

    const tail = await moat(['logs', '-n', '2', id], { home, cwd });
    expect(tail.code).toBe(0);
    // The last two recorded lines, whichever stream they were on.
    expect(`${tail.stdout}${tail.stderr}`.split('\n').filter(Boolean)).toEqual(['tick5', 'bye']);
  });

  it('stop ends a long detached run; its state is stopped', async () => {
    const cwd = await workspace('stop');
    const r = await moat(['run', '-d', '--', 'sleep', '300'], { home, cwd });
    expect(r.code).toBe(0);
    const { id, name } = parseDetached(r.stdout);
    const running = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === id && x.state === 'running'), 20_000, 'running');
    expect(running.containerId).toBeTruthy();

    const s = await moat(['stop', '-t', '1', name], { home, cwd });
    expect(s.stderr).not.toContain('    at ');
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(`Stopped run ${name}`);
    const after = (await listRuns(home, cwd)).find((x) => x.id === id);
    expect(after?.state).toBe('stopped');
    expect(typeof after?.exitCode).toBe('number');
    // The container goes (the run does not --keep).
    await waitFor(async () => !(await containerExists(running.containerId ?? '')), 20_000, 'container removed');
  });

  it('attach to a detached run shows its later output and propagates its exit code', async () => {
    const cwd = await workspace('attach');
    // The run ticks until the test has seen its attach receive a tick (so the attach is surely in before
    // the lines, however slow the machine), then prints 20 lines and exits 7.
    const script = 'while [ ! -e go ]; do echo tick; sleep 0.2; done; i=1; while [ $i -le 20 ]; do echo line$i; i=$((i+1)); done; exit 7';
    const r = await moat(['run', '-d', '--', 'sh', '-c', script], { home, cwd });
    expect(r.code).toBe(0);
    const { id } = parseDetached(r.stdout);
    const attach = startMoat(['attach', id], { home, cwd });
    await waitFor(() => attach.stdout().includes('tick\n'), 30_000, 'the attach to show a tick');
    await writeFile(join(cwd, 'go'), '');
    const a = await attach.done;
    expect(a.stderr).not.toContain('    at ');
    expect(a.stdout).toContain('line20\n');
    expect(a.code).toBe(7);
    const run = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === id && x.state === 'stopped'), 20_000, 'stopped');
    expect(run.exitCode).toBe(7);
    // The daemon recorded every line, before and after the attach.
    const logs = await waitFor(
      async () => {
        const l = (await readLogs(home, id)).filter((x) => x.line.startsWith('line'));
        return l.length >= 20 ? l : undefined;
      },
      10_000,
      '20 log lines',
    );
    expect(logs.map((l) => l.line)).toEqual(Array.from({ length: 20 }, (_, i) => `line${i + 1}`));
  });

  it('the CLI killed with SIGKILL mid-run: list shows running, then stopped with the exit code', async () => {
    // The run goes on until the test has seen it running after the CLI was reaped (a file it waits for),
    // however slow the machine: a fixed sleep ended first under a loaded CI.
    const cwd = await workspace('sigkill');
    const cli = startMoat(['run', '-n', 'killed-cli', '--', 'sh', '-c', 'while [ ! -e go ]; do sleep 0.2; done; exit 4'], { home, cwd });
    const id = await waitFor(
      async () => {
        const run = (await listRuns(home, cwd)).find((x) => x.name === 'killed-cli');
        return run?.state === 'running' ? run.id : undefined;
      },
      60_000,
      'the run to be running',
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- the CLI so far ---\n${cli.stdout()}\n${cli.stderr()}`);
    });
    cli.child.kill('SIGKILL');
    const ended = await cli.done;
    expect(ended.signal).toBe('SIGKILL');

    const now = (await listRuns(home, cwd)).find((x) => x.id === id);
    expect(now?.state).toBe('running');
    await writeFile(join(cwd, 'go'), '');

    // Every state list shows on the way must be the truth: running, then stopped (never "failed").
    const seen: string[] = [];
    const stopped = await waitFor(
      async () => {
        const run = (await listRuns(home, cwd)).find((x) => x.id === id);
        if (run) seen.push(run.state + (run.reason ? ` (${String(run.reason)})` : ''));
        return run && run.state !== 'running' ? run : undefined;
      },
      30_000,
      'the run to end',
    );
    expect(seen.filter((x) => x !== 'running' && x !== 'stopped')).toEqual([]);
    expect(stopped.state).toBe('stopped');
    expect(stopped.exitCode).toBe(4);
    // And the record on disk catches up (the daemon owns the run, not the killed CLI).
    const meta = await waitFor(
      async () => {
        const m = await readMetadata(home, id);
        return m.state === 'stopped' ? m : undefined;
      },
      20_000,
      'metadata.json to say stopped',
    );
    expect(meta.exitCode).toBe(4);
  }, 180_000);

  it('list shows runs that end while it looks as stopped with their exit code, never as failed', async () => {
    // Several `moat list` in parallel while the daemon records the exits and removes the containers.
    const cwd = await workspace('list-race');
    const started = await Promise.all([1, 2, 3, 4, 5, 6].map(() => moat(['run', '-d', '--', 'sh', '-c', 'sleep 2; exit 4'], { home, cwd })));
    const ids = started.map((r) => parseDetached(r.stdout).id);
    const seen: string[] = [];
    const poll = async (): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const runs = (await listRuns(home, cwd)).filter((x) => ids.includes(x.id));
        for (const r of runs) seen.push(`${r.state}${r.exitCode !== undefined ? ` ${r.exitCode}` : ''}${r.reason ? ` (${String(r.reason)})` : ''}`);
        if (runs.length === ids.length && runs.every((r) => r.state === 'stopped')) return;
      }
    };
    await Promise.all(Array.from({ length: 6 }, () => poll()));
    expect(seen.filter((x) => x !== 'running' && x !== 'stopped 4')).toEqual([]);
    const final = (await listRuns(home, cwd)).filter((x) => ids.includes(x.id));
    expect(final.map((x) => [x.state, x.exitCode])).toEqual(ids.map(() => ['stopped', 4]));
  });

  it('destroy refuses a running run without -f, and with -f removes its container and directory', async () => {
    const cwd = await workspace('destroy');
    const r = await moat(['run', '-d', '-n', 'to-destroy', '--', 'sleep', '300'], { home, cwd });
    expect(r.code).toBe(0);
    const { id } = parseDetached(r.stdout);
    const running = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === id && x.state === 'running'), 20_000, 'running');
    const containerId = running.containerId ?? '';

    const refused = await moat(['destroy', 'to-destroy'], { home, cwd });
    expect(errorProblems(refused)).toEqual([]);
    expect(refused.stderr).toMatch(/still running/);
    expect(refused.stderr).toContain('-f');
    expect(await containerExists(containerId)).toBe(true);
    expect(existsSync(join(home, 'runs', id))).toBe(true);

    const forced = await moat(['destroy', '-f', 'to-destroy'], { home, cwd });
    expect(forced.stderr).not.toContain('    at ');
    expect(forced.code).toBe(0);
    expect(await containerExists(containerId)).toBe(false);
    expect(existsSync(join(home, 'runs', id))).toBe(false);
    expect((await listRuns(home, cwd)).find((x) => x.id === id)).toBeUndefined();
  });
});

describe('clean', () => {
  it('--dry-run lists the stopped runs and removes nothing; -y removes them and spares live runs', async () => {
    const cwd = await workspace('clean');
    const a = await moat(['run', '-n', 'clean-a', '--', 'true'], { home, cwd });
    const b = await moat(['run', '--keep', '-n', 'clean-b', '--', 'sh', '-c', 'exit 2'], { home, cwd });
    expect(a.code).toBe(0);
    expect(b.code).toBe(2);
    const live = await moat(['run', '-d', '-n', 'clean-live', '--', 'sleep', '300'], { home, cwd });
    expect(live.code).toBe(0);
    const liveId = parseDetached(live.stdout).id;
    await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === liveId && x.state === 'running'), 20_000, 'running');
    const stopped = await waitFor(
      async () => {
        const runs = (await listRuns(home, cwd)).filter((x) => x.name === 'clean-a' || x.name === 'clean-b');
        return runs.length === 2 && runs.every((x) => x.state === 'stopped') ? runs : undefined;
      },
      20_000,
      'two stopped runs',
    );
    const kept = stopped.find((x) => x.name === 'clean-b')?.containerId ?? '';
    expect(await containerExists(kept)).toBe(true);

    const dry = await moat(['clean', '--dry-run'], { home, cwd });
    expect(dry.stderr).not.toContain('    at ');
    expect(dry.code).toBe(0);
    for (const s of stopped) expect(dry.stdout).toContain(s.id);
    expect(dry.stdout).not.toContain(liveId);
    for (const s of stopped) expect(existsSync(join(home, 'runs', s.id))).toBe(true);
    expect(await containerExists(kept)).toBe(true);

    // Without -y and without a terminal, clean asks nobody and deletes nothing.
    const ask = await moat(['clean'], { home, cwd });
    expect(errorProblems(ask)).toEqual([]);
    expect(ask.stderr).toContain('-y');
    for (const s of stopped) expect(existsSync(join(home, 'runs', s.id))).toBe(true);

    const yes = await moat(['clean', '-y'], { home, cwd });
    expect(yes.stderr).not.toContain('    at ');
    expect(yes.code).toBe(0);
    for (const s of stopped) expect(existsSync(join(home, 'runs', s.id))).toBe(false);
    expect(await containerExists(kept)).toBe(false);
    const left = await listRuns(home, cwd);
    expect(left.find((x) => x.id === liveId)?.state).toBe('running');
    expect(left.filter((x) => x.state !== 'running')).toEqual([]);

    const s = await moat(['stop', '-t', '1', liveId], { home, cwd });
    expect(s.code).toBe(0);
    await waitFor(async () => (await containersOf(home)).length === 0, 20_000, 'no containers left');
  });

  it("-y keeps a build relay whose building CLI still lives (another terminal's build) and removes one whose CLI is gone", async () => {
    const cwd = await workspace('clean-relays');
    const gone = spawnSync('true').pid as number; // a process that has ended: its pid names nobody now
    const create = async (pid: number): Promise<string> =>
      (
        await execFileP('docker', [
          'create',
          '--network',
          'none',
          '--label',
          'moat.managed=true',
          '--label',
          `moat.home=${home}`,
          '--label',
          'moat.build-relay=true',
          '--label',
          `moat.owner-pid=${pid}`,
          'debian:bookworm-slim',
          'true',
        ])
      ).stdout.trim();
    const inUse = await create(process.pid);
    const orphan = await create(gone);
    try {
      const r = await moat(['clean', '-y'], { home, cwd });
      expect(r.code, r.stderr).toBe(0);
      expect(await containerExists(inUse)).toBe(true);
      expect(await containerExists(orphan)).toBe(false);
    } finally {
      await execFileP('docker', ['rm', '-f', inUse, orphan]).catch(() => undefined);
    }
  });
});
