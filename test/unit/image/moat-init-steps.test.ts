import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { INIT, RELAY, freePort } from './init-script.js';

// moat-init's steps that avoid starting programs (each costs a process, ~60 ms under gVisor), run here
// with this machine's /bin/sh and /usr/bin/perl.
const execFileP = promisify(execFile);
const HAS_ID = /^has_id\(\) \{[\s\S]*?\n\}\n/m.exec(INIT)?.[0] ?? '';

const dirs: string[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'moat-init-steps-'));
  dirs.push(d);
  return d;
}

async function hasId(content: string, id: string): Promise<boolean> {
  const file = join(await tempDir(), 'group');
  await writeFile(file, content);
  const r = await execFileP('/bin/sh', ['-c', `${HAS_ID}has_id "$1" "$2" && echo yes || echo no`, 'sh', file, id]);
  return r.stdout.trim() === 'yes';
}

describe("moat-init's account lookup (has_id, the shell's own read)", () => {
  it('matches the third field only, whole', async () => {
    expect(HAS_ID).toContain('has_id()');
    const group = 'root:x:0:\nusers:x:100:moat\nmoat:x:1000:\n';
    expect(await hasId(group, '1000')).toBe(true);
    expect(await hasId(group, '0')).toBe(true);
    // A prefix, a suffix, or the id as a member's name is not the id.
    expect(await hasId(group, '100')).toBe(true);
    expect(await hasId(group, '10')).toBe(false);
    expect(await hasId(group, '10000')).toBe(false);
    expect(await hasId('a:x:5:1000\n', '1000')).toBe(false);
    expect(await hasId('1000:x:5:\n', '1000')).toBe(false);
  });

  it('reads a last line without a newline, and an empty file', async () => {
    expect(await hasId('root:x:0:\nmoat:x:1001:', '1001')).toBe(true);
    expect(await hasId('', '1000')).toBe(false);
  });
});

/** Starts the relay as moat-init does and resolves when its first process exits (it listens by then). */
async function startRelay(port: number, socket: string): Promise<number> {
  const p = spawn('/usr/bin/perl', ['-e', RELAY, String(port), socket], { stdio: 'ignore', detached: true });
  // The listening child stays in this process group: end the group after the test.
  cleanups.push(() => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return new Promise((resolve) => p.once('exit', (code) => resolve(code ?? -1)));
}

/** Sends `data`, half-closes, returns all that came back before the relay closed. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('end', () => resolve(Buffer.concat(got)));
    c.on('close', () => resolve(Buffer.concat(got)));
    c.on('error', reject);
    c.end(data);
  });
}

describe("moat-init's egress relay (one Perl process)", () => {
  it('listens before its first process exits, and carries a half-closed exchange both ways', async () => {
    expect(RELAY).toContain('fork');
    const dir = await tempDir();
    const socket = join(dir, 'proxy.sock');
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(socket, r));
    cleanups.push(() => echo.close());
    const port = await freePort();
    expect(await startRelay(port, socket)).toBe(0);
    // No retry: the first connection right after the exit must find it listening.
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    const [a, b] = await Promise.all([exchange(port, big), exchange(port, Buffer.from('hello'))]);
    expect(a.equals(big)).toBe(true);
    expect(b.toString()).toBe('hello');
  });

  it('drops a connection when the gateway socket is missing and keeps relaying the next ones', async () => {
    const dir = await tempDir();
    const socket = join(dir, 'proxy.sock');
    const port = await freePort();
    expect(await startRelay(port, socket)).toBe(0);
    // Closed at once: nothing comes back (a reset, as the bytes sent were never read).
    const first = await exchange(port, Buffer.from('nobody')).then(
      (b) => b.length,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect([0, 'ECONNRESET']).toContain(first);
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(socket, r));
    cleanups.push(() => echo.close());
    expect((await exchange(port, Buffer.from('again'))).toString()).toBe('again');
  });

  it('exits non-zero without forking when the port is taken (moat-init goes on)', async () => {
    const dir = await tempDir();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanups.push(() => taken.close());
    const { port } = taken.address() as net.AddressInfo;
    expect(await startRelay(port, join(dir, 'proxy.sock'))).toBe(71);
  });

  it('refuses a port that is not a number', async () => {
    const dir = await tempDir();
    expect(await startRelay(Number.NaN, join(dir, 'proxy.sock'))).toBe(64);
  });
});
