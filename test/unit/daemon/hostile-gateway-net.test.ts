/**
 * A container that can write its gateway directory (`runs/<id>/net`, mounted at /moat/net) attacks the
 * daemon, which may run as root, through what the daemon does there: create the socket, set its mode,
 * re-create it after a restart, and clean the directory up at the end.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayHost } from '../../../src/daemon/gateways.js';
import type * as GatewayIndex from '../../../src/gateway/index.js';
import type { RunMetadata } from '../../../src/store/types.js';
import { FILE_ENV, tempHome, type TempHome } from '../credentials/helpers.js';

/** Runs right after the proxy's server listens, before start() goes on: the container's chance to act. */
const attack = vi.hoisted(() => ({ afterListen: undefined as undefined | (() => Promise<void>) }));

type GatewayModule = typeof GatewayIndex;

vi.mock('../../../src/gateway/index.js', async (importOriginal) => {
  const real = await importOriginal<GatewayModule>();
  return {
    ...real,
    createProxy: (opts: Parameters<typeof real.createProxy>[0]) => {
      const proxy = real.createProxy(opts);
      const listen = proxy.listen.bind(proxy);
      proxy.listen = async (target, host) => {
        const server = await listen(target, host);
        await attack.afterListen?.();
        return server;
      };
      return proxy;
    },
  };
});

let t: TempHome;
let runDir: string;
let net: string;
let victim: string;
let victimDir: string;
const logs: string[] = [];
const meta = {
  id: 'run_000000000001',
  name: 'r1',
  workspace: '/w',
  command: ['sh'],
  image: 'x',
  grants: [],
  interactive: false,
  keep: false,
  state: 'running',
  createdAt: new Date().toISOString(),
  home: '',
} as unknown as RunMetadata;

beforeEach(async () => {
  t = await tempHome();
  runDir = join(t.dir, 'runs', meta.id);
  net = join(runDir, 'net');
  await mkdir(net, { recursive: true, mode: 0o700 });
  // A host file and folder the container must never get the daemon to touch.
  victim = join(t.dir, 'victim.txt');
  await writeFile(victim, 'host file\n');
  await chmod(victim, 0o644);
  victimDir = join(t.dir, 'victim-dir');
  await mkdir(victimDir);
  for (let i = 0; i < 50; i++) await writeFile(join(victimDir, `f${i}`), 'x');
  attack.afterListen = undefined;
  logs.length = 0;
});

afterEach(async () => {
  attack.afterListen = undefined;
  await t.cleanup();
});

const host = (): GatewayHost => new GatewayHost(t.home, FILE_ENV, (m) => void logs.push(m));
const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;

/** Whether a client can connect to the unix socket at `path`. */
function connects(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('hostile net/: the socket the daemon creates', () => {
  it('a symlink swapped in for proxy.sock right after listen never gets the daemon to chmod its target', async () => {
    const sock = join(net, 'proxy.sock');
    attack.afterListen = async () => {
      await rename(sock, join(net, 'moved.sock')).catch(() => undefined);
      await symlink(victim, sock).catch(() => undefined);
    };
    const gw = await host().start(meta, runDir, () => undefined);
    try {
      expect(await modeOf(victim)).toBe(0o644);
      const s = await lstat(sock);
      expect(s.isSocket()).toBe(true);
      expect(s.mode & 0o777).toBe(0o600);
      expect(await connects(sock)).toBe(true);
    } finally {
      await gw.close();
    }
    expect(await modeOf(victim)).toBe(0o644);
  });

  it('after a restart, a net/ rigged with symlinks, a FIFO and a folder where the socket goes is not followed', async () => {
    const sock = join(net, 'proxy.sock');
    await symlink(victim, sock);
    await symlink(victimDir, join(net, 'link-to-host-dir'));
    execFileSync('mkfifo', [join(net, 'fifo')]);
    const gw = await host().start(meta, runDir, () => undefined);
    try {
      expect((await lstat(sock)).isSocket()).toBe(true);
      expect(await connects(sock)).toBe(true);
    } finally {
      await gw.close();
    }
    expect(await modeOf(victim)).toBe(0o644);
    expect((await readdir(victimDir)).length).toBe(50);
  });

  it('a folder planted where the socket goes makes the start fail with a clear error, touching nothing', async () => {
    await mkdir(join(net, 'proxy.sock'));
    await symlink(victim, join(net, 'proxy.sock', 'x'));
    await expect(host().start(meta, runDir, () => undefined)).rejects.toThrow(/proxy\.sock/);
    expect(await modeOf(victim)).toBe(0o644);
  });
});

describe('hostile net/: the clean-up when the gateway closes', () => {
  it('a container swapping a folder of net/ for a symlink while the daemon removes it deletes nothing on the host', async () => {
    const gw = await host().start(meta, runDir, () => undefined);
    // The container's folder holds files named like the host folder's, many of them, to keep the removal busy.
    const sub = join(net, 'sub');
    await mkdir(sub);
    for (let i = 0; i < 3000; i++) await writeFile(join(sub, `f${i % 50 === 0 ? i / 50 : 1000 + i}`), 'x');
    // The attacker runs in its own process, as a container's would: once the daemon has started emptying
    // the folder, it moves the folder away and leaves a symlink to the host folder in its place.
    const attacker = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('node:fs');
      const [sub, target] = process.argv.slice(1);
      process.stdout.write('ready\\n');
      for (;;) {
        let n;
        try { n = fs.readdirSync(sub).length; } catch { continue; }
        if (n < 3000) break;
      }
      fs.renameSync(sub, sub + '.moved');
      fs.symlinkSync(target, sub);
    `,
        sub,
        victimDir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((r) => attacker.once('exit', () => r()));
    await new Promise<void>((r) => attacker.stdout.once('data', () => r()));
    try {
      await gw.close().catch((err: unknown) => void logs.push(String(err)));
      // Give the attacker the moment it needs if the daemon never touched the folder at all.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
    } finally {
      attacker.kill('SIGKILL');
    }
    expect((await readdir(victimDir)).length).toBe(50);
  });
});
