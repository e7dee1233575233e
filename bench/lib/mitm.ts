/**
 * mitmproxy (Debian's `mitmdump`) as a reference TLS-intercepting proxy for bench:proxy, when installed.
 * Regular (forward) mode on a loopback port; upstream certificates are not verified (--ssl-insecure),
 * which only makes it faster than it would be in real use.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'undici';
import { makePool, tunnelConnect } from './gateway.js';

export interface Mitm {
  version: string;
  /** Its loopback port, the PEM of its CA, and the CONNECT authority that reaches the bench upstream. */
  port: number;
  ca: string;
  authority: string;
  pool(connections: number): Pool;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startMitm(upstreamPort: number): Promise<Mitm | undefined> {
  const probe = spawnSync('mitmdump', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  const version = /Mitmproxy: (\S+)/.exec(probe.stdout)?.[1] ?? 'unknown';
  const confdir = await mkdtemp(join(tmpdir(), 'moat-bench-mitm-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    'mitmdump',
    [
      '--listen-host',
      '127.0.0.1',
      '--listen-port',
      String(port),
      '--set',
      `confdir=${confdir}`,
      '--ssl-insecure',
      '--quiet',
      '--set',
      'flow_detail=0',
      '--set',
      'http2=false',
    ],
    { stdio: 'ignore' },
  );
  let ca = '';
  for (let i = 0; i < 200 && !ca; i++) {
    await new Promise((r) => setTimeout(r, 50));
    ca = await readFile(join(confdir, 'mitmproxy-ca-cert.pem'), 'utf8').catch(() => '');
  }
  await new Promise((r) => setTimeout(r, 500)); // the listener comes up right after the CA is written
  const connect = tunnelConnect(port, ca, `127.0.0.1:${upstreamPort}`);
  return {
    version,
    port,
    ca,
    authority: `127.0.0.1:${upstreamPort}`,
    pool: (c) => makePool(connect, c),
    stop: async () => {
      child.kill();
      await rm(confdir, { recursive: true, force: true });
    },
  };
}
