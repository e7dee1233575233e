import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PREPARE, RELAY, freePort } from './init-script.js';

// moat-init's root preparation as one Perl with the egress relay (`perl -e PREPARE -e RELAY UID GID
// HOME STAGE PORT SOCKET`), run here with this machine's Perl on a home in a temporary folder. As root
// the home goes to another uid, so a link followed would show on its target.
const dirs: string[] = [];
const groups: number[] = [];
afterEach(async () => {
  for (const g of groups.splice(0)) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const me = process.getuid?.() ?? 0;
const target = me === 0 ? { uid: 4321, gid: 4322 } : { uid: me, gid: process.getgid?.() ?? 0 };

function prepareAndRelay(home: string, port: number, socket: string): Promise<{ code: number; stderr: string }> {
  const p = spawn('/usr/bin/perl', ['-e', PREPARE, '-e', RELAY, String(target.uid), String(target.gid), home, '', String(port), socket], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  groups.push(p.pid!);
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code: code ?? -1, stderr })));
}

describe("moat-init's root preparation (one Perl with the egress relay)", () => {
  it('gives every name in the home to the run user, links themselves and not their targets, then listens', async () => {
    expect(PREPARE).toContain('lchown');
    const dir = await mkdtemp(join(tmpdir(), 'moat-init-prepare-'));
    dirs.push(dir);
    const home = join(dir, 'home');
    const outside = join(dir, 'outside');
    await mkdir(join(home, '.config', 'deep'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(home, '.config', 'deep', 'settings.json'), '{}');
    await writeFile(join(outside, 'secret'), 'x');
    await symlink(outside, join(home, 'to-dir'));
    await symlink(join(outside, 'secret'), join(home, '.config', 'to-file'));
    const port = await freePort();
    const r = await prepareAndRelay(home, port, join(dir, 'proxy.sock'));
    expect(r).toEqual({ code: 0, stderr: '' });
    for (const rel of ['', '.config', '.config/deep', '.config/deep/settings.json', 'to-dir', '.config/to-file']) {
      const st = await lstat(join(home, rel));
      expect({ rel, uid: st.uid, gid: st.gid }).toEqual({ rel, ...target });
    }
    // Not through the links: their targets keep their owner.
    for (const p of [outside, join(outside, 'secret')]) expect((await lstat(p)).uid).toBe(me);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('x');
    // Listening once its first process exited.
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve()));
      c.on('error', reject);
    });
  });

  it('a step that fails says so on stderr and exits 72 (moat-init stops) without listening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-init-prepare-'));
    dirs.push(dir);
    const port = await freePort();
    const r = await prepareAndRelay(join(dir, 'no-such-home'), port, join(dir, 'proxy.sock'));
    expect(r.code).toBe(72);
    expect(r.stderr).toContain('moat-init: cannot look at');
    await expect(
      new Promise((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve('connected')));
        c.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code)));
      }),
    ).rejects.toThrow('ECONNREFUSED');
  });
});
