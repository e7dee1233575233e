/**
 * The container's egress relay (moat-init's Perl), attacked the way a run's own processes can: too many
 * connections, a gateway that stops accepting, no descriptors left. The script is taken from
 * moat-init.sh as shipped and run with this machine's Perl against a fake gateway on a unix socket.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RELAY, freePort } from './init-script.js';

const CAP = 500;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Relay {
  port: number;
  /** The relaying process (the first one exits once it listens, printing this PID). */
  pid: number;
  alive: () => boolean;
  stderr: () => string;
}

/** Starts the relay (with at most `files` descriptors when given) in front of the unix socket `path`. */
async function startRelay(path: string, files?: number): Promise<Relay> {
  const port = await freePort();
  const limit = files ? `ulimit -n ${files}; ` : '';
  const proc = spawn('/bin/sh', ['-c', `${limit}exec /usr/bin/perl -e "$0" "$@"`, RELAY, String(port), path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  const pid = Number(/^(\d+)\n/.exec(out)?.[1]);
  expect(code, err).toBe(0);
  expect(pid).toBeGreaterThan(1);
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  cleanups.push(() => {
    if (alive()) process.kill(pid, 'SIGKILL');
  });
  return { port, pid, alive, stderr: () => err };
}

/** A gateway that echoes every byte and counts connections: open now, most at once, ever. */
async function echoGateway(dir: string): Promise<{ path: string; open: () => number; peak: () => number; total: () => number }> {
  const path = join(dir, 'proxy.sock');
  let open = 0;
  let peak = 0;
  let total = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    open += 1;
    total += 1;
    peak = Math.max(peak, open);
    s.on('error', () => undefined);
    s.on('close', () => {
      open -= 1;
      sockets.delete(s);
    });
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { path, open: () => open, peak: () => peak, total: () => total };
}

/** A client of the relay that collects what comes back. */
interface Client {
  s: net.Socket;
  got: () => string;
}

async function client(port: number): Promise<Client> {
  const s = net.connect(port, '127.0.0.1');
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.on('error', () => undefined);
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  cleanups.push(() => {
    s.destroy();
  });
  return { s, got: () => got };
}

async function echoes(c: Client, text: string): Promise<void> {
  const before = c.got().length;
  c.s.write(text);
  await until(`the echo of ${text}`, () => c.got().slice(before).includes(text));
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-relay-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** CPU time (user + system, in clock ticks) the process has used so far. */
async function cpuTicks(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

describe("the container's egress relay under a run's own abuse", () => {
  it(`holding ${CAP + 20} connections: the relay keeps at most ${CAP} gateway connections, says so once, and serves the queued ones as others close`, async () => {
    const gw = await echoGateway(await tempDir());
    const relay = await startRelay(gw.path);
    const held: Client[] = [];
    for (let i = 0; i < CAP; i += 1) held.push(await client(relay.port));
    await until(`${CAP} gateway connections`, () => gw.open() === CAP);
    const queued: Client[] = [];
    for (let i = 0; i < 20; i += 1) queued.push(await client(relay.port));
    await until('the notice at the cap', () => relay.stderr().includes(`holds ${CAP} connections`));
    // A queued client's bytes wait; a relayed one is still served.
    queued[0]?.s.write('early');
    await echoes(held[0]!, 'still-served');
    expect(gw.total()).toBe(CAP);
    for (const c of held.slice(0, 20)) c.s.destroy();
    await until('the queued clients to reach the gateway', () => gw.total() === CAP + 20);
    await until('the queued bytes to come back', () => queued[0]?.got() === 'early');
    await echoes(queued[19]!, 'late');
    expect(gw.peak()).toBe(CAP);
    expect(relay.stderr().split('holds').length - 1).toBe(1);
  }, 60_000);

  it('a gateway that stops accepting (its queue full) does not stall the connections already relayed', async () => {
    const dir = await tempDir();
    const path = join(dir, 'proxy.sock');
    // Accepts one connection, echoes it, and never accepts another (listen queue of 1).
    const gw = spawn(
      '/usr/bin/perl',
      [
        '-e',
        'use IO::Socket::UNIX; $| = 1; my $l = IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 1) or die; print "up\\n"; my $c = $l->accept; $c->autoflush(1); while (sysread($c, my $b, 4096)) { syswrite($c, $b) } sleep 600',
        path,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    cleanups.push(() => {
      gw.kill('SIGKILL');
    });
    await new Promise((r) => gw.stdout.once('data', r));
    const relay = await startRelay(path);
    const first = await client(relay.port);
    await echoes(first, 'one');
    // Several more: the gateway's queue fills and its connect would block.
    const more: Client[] = [];
    for (let i = 0; i < 6; i += 1) {
      const c = await client(relay.port);
      c.s.write('waiting');
      more.push(c);
    }
    await echoes(first, 'two');
    await echoes(first, 'three');
    expect(relay.alive()).toBe(true);
  }, 60_000);

  it('out of file descriptors: the relay backs off instead of spinning, and relays again once connections close', async () => {
    const gw = await echoGateway(await tempDir());
    const relay = await startRelay(gw.path, 40);
    const flood: Client[] = [];
    for (let i = 0; i < 60; i += 1) flood.push(await client(relay.port));
    await until('the descriptor notice', () => relay.stderr().includes('ran out of file descriptors'));
    // Over a second of being starved, a spinning accept loop would use most of a core; backing off
    // (a pause until the next second per failed accept) uses next to nothing.
    const pid = relay.pid;
    const before = await cpuTicks(pid);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await cpuTicks(pid)) - before).toBeLessThan(20);
    for (const c of flood) c.s.destroy();
    await until('the flood to drain', () => gw.open() === 0);
    await echoes(await client(relay.port), 'after');
  }, 60_000);
});
