/**
 * The working directory of moat-init's privileged part. The image's WORKDIR is /workspace, which a run
 * controls (an earlier run may have planted files, links or FIFOs there): every program moat-init starts
 * as root (the egress relay's Perl, cp, find, keytool, socat) must run in /, where nothing is the run's,
 * and only the run's own command starts in the workspace. Seen from the host's /proc (this test runs as
 * root), so the run is under runc: gVisor's processes live in its own kernel, out of the host's sight.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, parseDetached, readMetadata, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);
const OWNER = 1000;

let home: string;
let root: string;

interface Proc {
  pid: number;
  uid: number;
  cmd: string;
  cwd: string;
  /** The working directory's device and inode, as the host sees it. */
  dir: string;
}

/** Every process in the pid namespace of host pid `init` (the container's first process): who, running what, where. */
async function processesBeside(init: number): Promise<Proc[]> {
  const ns = await readlink(`/proc/${init}/ns/pid`);
  const out: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readlink(`/proc/${name}/ns/pid`)) !== ns) continue;
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      const cwd = await readlink(`/proc/${name}/cwd`);
      const s = await stat(`/proc/${name}/cwd`);
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').slice(0, 3).join(' ');
      out.push({ pid: Number(name), uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), cmd, cwd, dir: `${s.dev}:${s.ino}` });
    } catch {
      // A process that ended while it was read.
    }
  }
  return out;
}

beforeAll(async () => {
  home = await tempDir('initcwd-home');
  root = await tempDir('initcwd-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('hostile workspace: the privileged start does not work inside it', () => {
  it("a workspace planted with links and a FIFO: root's relay runs in /, the run's command in /workspace (host /proc, runc)", async () => {
    const ws = join(root, 'planted');
    await mkdir(ws, { recursive: true, mode: 0o755 });
    // What an earlier run could leave for a privileged process that works here.
    await symlink('/etc/shadow', join(ws, 'core'));
    await symlink('/etc', join(ws, 'etc'));
    await execFileP('mkfifo', [join(ws, 'fifo')]);
    await writeFile(join(ws, 'POSIX.pm'), 'package POSIX; system("touch /workspace/hit.posix"); 1;\n');
    await execFileP('chown', ['-hR', `${OWNER}:${OWNER}`, ws]);
    const wsDir = await stat(ws);

    const r = await moat(['run', '-d', '--sandbox', 'runc', '--', 'sleep', '120'], { home, cwd: ws, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    const meta = await readMetadata(home, id);
    const { stdout } = await execFileP('docker', ['inspect', '--format', '{{.State.Pid}}', meta.containerId as string]);
    const init = Number(stdout.trim());
    expect(init).toBeGreaterThan(0);

    // Once the run's command has started (moat-init has dropped to it), root's relay is still there.
    const procs = await waitFor(
      async () => {
        const all = await processesBeside(init);
        const started = all.some((p) => p.uid === OWNER && p.cmd.startsWith('sleep'));
        // Root's relay, not only the engine's init: the relay may still be starting when the command has.
        return started && all.some((p) => p.uid === 0 && p.pid !== init) ? all : undefined;
      },
      30_000,
      "the run's command and root's relay",
    );
    const shown = JSON.stringify(procs);
    // Root's processes but the engine's own init (docker-init, the container's first process: the engine
    // starts it in the container's WORKDIR before moat-init; it only reaps children and passes on signals).
    const privileged = procs.filter((p) => p.uid === 0 && p.pid !== init);
    expect(
      privileged.some((p) => p.cmd.startsWith('/usr/bin/perl')),
      shown,
    ).toBe(true);
    for (const p of privileged) {
      expect(p.cwd, shown).toBe('/');
      expect(p.dir, shown).not.toBe(`${wsDir.dev}:${wsDir.ino}`);
    }
    // The measure sees the workspace where it is: the run's own command is there.
    const command = procs.find((p) => p.uid === OWNER && p.cmd.startsWith('sleep'));
    expect(command?.cwd, shown).toBe('/workspace');
    expect(command?.dir, shown).toBe(`${wsDir.dev}:${wsDir.ino}`);

    expect((await moat(['stop', id], { home, cwd: ws })).code).toBe(0);
    expect(await readdir(ws)).not.toContain('hit.posix');
  }, 180_000);

  it("the run's command starts in its working directory, with PWD naming it and no OLDPWD of moat-init's", async () => {
    const ws = join(root, 'plain');
    await mkdir(ws, { recursive: true, mode: 0o755 });
    // Perl, started by moat-init's last shell itself: its directory and the variables it was given.
    const show = 'print "cwd=", readlink("/proc/self/cwd"), "\\n"; print "$_=$ENV{$_}\\n" for grep { /PWD/ } sort keys %ENV';
    const r = await moat(['run', '--', 'perl', '-e', show], { home, cwd: ws, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('cwd=/workspace\nPWD=/workspace\n');
  }, 180_000);
});
