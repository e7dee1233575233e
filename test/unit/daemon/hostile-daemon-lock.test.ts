/**
 * One daemon per home (issue #19): a busy or stopped daemon is never replaced while it lives, its socket is
 * never removed, and a compromised lock (garbage, a foreign pid, a symlink, a folder) never stops a daemon
 * from starting nor makes it write through the link.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { daemonLockHolder, daemonLockPath, probeSocket, takeDaemonLock } from '../../../src/daemon/lock.js';
import { daemonState, ensureDaemon } from '../../../src/daemon/client.js';
import { DAEMON_PROTOCOL, daemonSocket } from '../../../src/daemon/protocol.js';
import { BUILD } from '../../../src/version.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function home(): Promise<MoatHome> {
  const root = await mkdtemp(join(tmpdir(), 'moat-dlock-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const h = new MoatHome(root);
  await mkdir(h.daemonDir, { recursive: true, mode: 0o700 });
  return h;
}

/** A stand-in daemon process of `h` (argv `__daemon`, MOAT_HOME): answers /health on the control socket. */
async function fakeDaemon(h: MoatHome): Promise<ChildProcess> {
  const health = JSON.stringify({ protocol: DAEMON_PROTOCOL, version: BUILD, startedAt: '', runs: [] });
  const code =
    `const http=require('node:http');const s=http.createServer((q,r)=>{r.setHeader('content-type','application/json');` +
    `r.end(JSON.stringify({...${health},pid:process.pid}))});s.listen(process.env.SOCK,()=>process.stdout.write('up\\n'));`;
  const child = spawn(process.execPath, ['-e', code, '__daemon'], {
    env: { ...process.env, MOAT_HOME: h.root, SOCK: daemonSocket(h) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`fake daemon exited ${String(c)}`)));
  });
  await writeFile(daemonLockPath(h), JSON.stringify({ pid: child.pid, startedAt: new Date().toISOString() }));
  return child;
}

describe('the daemon lock', () => {
  it('garbage in the lock is a stale lock: the daemon takes it and writes its own pid', async () => {
    const h = await home();
    await writeFile(daemonLockPath(h), '\u0000\u00ff{not json');
    const got = await takeDaemonLock(h);
    expect('release' in got).toBe(true);
    expect(JSON.parse(await readFile(daemonLockPath(h), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('a symlink lock is replaced, never written through', async () => {
    const h = await home();
    const target = join(h.root, 'precious.txt');
    await writeFile(target, 'keep me');
    await symlink(target, daemonLockPath(h));
    expect(await daemonLockHolder(h)).toBeUndefined();
    const got = await takeDaemonLock(h);
    expect('release' in got).toBe(true);
    expect(lstatSync(daemonLockPath(h)).isFile()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('keep me');
  });

  it('the pid of some other live process, a dead pid, a folder: all stale', async () => {
    const h = await home();
    for (const plant of [
      () => writeFile(daemonLockPath(h), JSON.stringify({ pid: process.ppid, startedAt: 'x' })), // alive, not a moat daemon
      () => writeFile(daemonLockPath(h), JSON.stringify({ pid: 2 ** 22 + 7, startedAt: 'x' })), // no such process
      () => writeFile(daemonLockPath(h), JSON.stringify({ pid: 'one' })),
      () => mkdir(join(daemonLockPath(h), 'inner'), { recursive: true }),
    ]) {
      await rm(daemonLockPath(h), { recursive: true, force: true });
      await plant();
      const got = await takeDaemonLock(h);
      expect('release' in got).toBe(true);
      if ('release' in got) await got.release();
      expect(existsSync(daemonLockPath(h))).toBe(false);
    }
  });

  it('a live daemon of the home keeps it: a second one is told who holds it', async () => {
    const h = await home();
    const d = await fakeDaemon(h);
    expect(await takeDaemonLock(h)).toEqual({ heldBy: { pid: d.pid, startedAt: expect.any(String) as string } });
  });
});

describe('a daemon stopped with SIGSTOP', () => {
  it('is reported busy, never replaced; its socket stays; after SIGCONT it serves again', async () => {
    const h = await home();
    const d = await fakeDaemon(h);
    expect((await ensureDaemon(h, { ...process.env, MOAT_DAEMON_BUSY_WAIT_MS: '200' })).pid).toBe(d.pid);
    d.kill('SIGSTOP');
    expect(await probeSocket(daemonSocket(h))).toBe('listening');
    expect((await daemonState(h, 300)).kind).toBe('silent');
    await expect(ensureDaemon(h, { ...process.env, MOAT_DAEMON_BUSY_WAIT_MS: '300' })).rejects.toThrow(
      new RegExp(`^The moat daemon is busy: pid ${String(d.pid)} holds this home but did not answer for \\d+ s\\.$`),
    );
    expect(lstatSync(daemonSocket(h)).isSocket()).toBe(true);
    expect(JSON.parse(await readFile(daemonLockPath(h), 'utf8'))).toMatchObject({ pid: d.pid });
    d.kill('SIGCONT');
    expect((await ensureDaemon(h, { ...process.env, MOAT_DAEMON_BUSY_WAIT_MS: '2000' })).pid).toBe(d.pid);
  });
});
