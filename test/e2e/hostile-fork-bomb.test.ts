/**
 * A run's container fork-bombs itself. Every container has a process limit (container.pids, --pids,
 * default 4096), so the bomb stops at the limit instead of exhausting the host's process ids: forks past it
 * fail, the cgroup's peak never exceeds it, and the next run in the same home starts as usual.
 * Under gVisor the run's processes live in gVisor's own kernel, whose cgroup files show no limit and no
 * peak; on the host the sandbox's processes sit in the container's cgroup, whose limit is the one asked,
 * so the bomb ends the sandbox at that wall instead of the host's process ids.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cleanupHome, moat, readMetadata, tempDir } from './helpers.js';
import { runIdOf } from './fixtures/gateway-kit.js';

const gvisor = process.env.MOAT_SANDBOX === 'gvisor';

let home: string;
let root: string;

/** The container's pids cgroup directory (cgroup v1 mounts it under pids/, v2 at the root). */
const CG = 'f=/sys/fs/cgroup/pids; [ -e $f/pids.max ] || f=/sys/fs/cgroup';

async function workspace(name: string, yaml: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  await writeFile(join(d, 'moat.yaml'), yaml);
  return d;
}

beforeAll(async () => {
  home = await tempDir('bomb-home');
  root = await tempDir('bomb-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

/** Under gVisor: the sandbox's host cgroup has the limit asked, the bomb ends the run, the next run works. */
async function gvisorBomb(): Promise<void> {
  const cwd = await workspace('bomb-gvisor', 'container:\n  pids: 64\n  cpus: 0.5\n');
  const script = "echo RUN=$MOAT_RUN_ID; timeout -s KILL 4 sh -c 'b() { b | b & }; b; exec sleep 60' 2>/dev/null; echo done";
  const r = await moat(['run', '--approve-config', '--keep', '--', 'sh', '-c', script], { home, cwd, timeoutMs: 60_000 });
  expect(r.code, r.stderr).not.toBeNull(); // it ended by itself, not killed by the test's timer
  const meta = await readMetadata(home, runIdOf(r.stdout));
  const inspect = await promisify(execFile)('docker', ['inspect', '-f', '{{.HostConfig.PidsLimit}} {{.HostConfig.Runtime}}', meta.containerId as string]);
  expect(inspect.stdout.trim()).toBe('64 runsc');
  await promisify(execFile)('docker', ['rm', '-f', meta.containerId as string]).catch(() => undefined);

  const plain = await workspace('plain-gvisor', '');
  const next = await moat(['run', '--approve-config', '--', 'sh', '-c', 'echo next-ok'], { home, cwd: plain });
  expect(next.code, next.stderr).toBe(0);
  expect(next.stdout).toMatch(/^next-ok$/m);
}

describe('hostile container: a fork bomb', () => {
  it("stops at the container's process limit (under gVisor: ends its sandbox there), and the next run in the same home works", async () => {
    if (gvisor) return gvisorBomb();
    const cwd = await workspace('bomb', 'container:\n  pids: 64\n  cpus: 0.5\n');
    const script = [
      CG,
      'echo "max=$(cat $f/pids.max)"',
      // The classic bomb, in its own process group that timeout kills whole after 4 s; `exec sleep`
      // keeps its first shell alive without a fork of its own.
      "timeout -s KILL 4 sh -c 'b() { b | b & }; b; exec sleep 60' 2>/dev/null",
      'i=0; while [ "$(cat $f/pids.current)" -gt 8 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      'echo "peak=$(cat $f/pids.peak)"',
      'echo "refused=$(sed -n "s/^max //p" $f/pids.events)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^max=64$/m);
    const peak = Number(/^peak=(\d+)$/m.exec(r.stdout)?.[1]);
    const refused = Number(/^refused=(\d+)$/m.exec(r.stdout)?.[1]);
    expect(peak, r.stdout).toBeLessThanOrEqual(64);
    expect(peak, r.stdout).toBeGreaterThan(32); // the bomb did grow to the wall
    expect(refused, r.stdout).toBeGreaterThan(0); // and forks past it were refused

    // The same home, right after: a normal run works, with the default limit; --pids sets another.
    const plain = await workspace('plain', '');
    const next = await moat(['run', '--approve-config', '--', 'sh', '-c', `${CG}; echo "max=$(cat $f/pids.max)"`], { home, cwd: plain });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/^max=4096$/m);
    const flagged = await moat(['run', '--approve-config', '--pids', '128', '--', 'sh', '-c', `${CG}; echo "max=$(cat $f/pids.max)"`], { home, cwd: plain });
    expect(flagged.code, flagged.stderr).toBe(0);
    expect(flagged.stdout).toMatch(/^max=128$/m);
  });
});
