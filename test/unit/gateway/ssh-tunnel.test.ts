import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy } from '../../../src/gateway/proxy.js';
import { SshTunnels } from '../../../src/gateway/ssh-tunnel.js';
import type { GatewayEvent } from '../../../src/gateway/events.js';
import { connectTunnel, testCA, waitFor } from './helpers.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A stand-in sshd: sends a banner, then echoes. */
let echo: net.Server;
let echoPort: number;
beforeAll(async () => {
  echo = net.createServer((s) => {
    s.write('SSH-2.0-Fake\r\n');
    s.on('data', (d) => s.write(d));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => echo.close(r));
});

async function gateway(opts: { ssh?: string[]; rules?: string[]; deny?: string[]; policy?: 'strict' | 'permissive' }) {
  const dir = await mkdtemp(join(tmpdir(), 'moat-sshgw-'));
  const events: GatewayEvent[] = [];
  const tunnels = opts.ssh ? new SshTunnels(opts.ssh) : undefined;
  const override = new Map(['git.a.test', 'git.b.test', 'rules.test', 'denied.test', 'example.com'].map((h) => [h, { host: '127.0.0.1', port: echoPort }]));
  const proxy = createProxy({
    ca: await testCA(),
    upstreamOverride: override,
    onEvent: (e) => events.push(e),
    policy: { policy: opts.policy ?? 'permissive', rules: opts.rules ?? [], deny: opts.deny ?? [], allowHosts: [] },
    ...(tunnels ? { sshTunnels: tunnels } : {}),
  });
  const socketPath = join(dir, 'proxy.sock');
  const server = await proxy.listen(socketPath);
  return {
    socketPath,
    events,
    tunnels,
    close: async () => {
      await proxy.close();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function firstBytes(sock: net.Socket, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    sock.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= n) resolve(got);
    });
  });
}

describe('SSH tunnels through the gateway (CONNECT host:22)', () => {
  it('tunnels raw bytes to a granted host and tracks the open tunnel until it closes', async () => {
    const g = await gateway({ ssh: ['git.a.test'] });
    const r = await connectTunnel(g.socketPath, 'git.a.test:22');
    if (!('socket' in r)) throw new Error(`refused: ${r.refused.body}`);
    const got = firstBytes(r.socket, 'SSH-2.0-Fake\r\nping'.length);
    r.socket.write('ping');
    expect(await got).toBe('SSH-2.0-Fake\r\nping');
    expect(g.tunnels!.isOpen('git.a.test')).toBe(true);
    expect(g.tunnels!.isOpen('git.b.test')).toBe(false);
    r.socket.destroy();
    await waitFor(() => (g.tunnels!.isOpen('git.a.test') ? undefined : true));
    await waitFor(() => g.events.find((e) => e.type === 'request' && e.status === 200 && e.host === 'git.a.test'));
    await g.close();
  });

  it('refuses port 22 to a host not granted for SSH, even under the permissive policy, with the fix', async () => {
    const g = await gateway({ ssh: ['git.a.test'] });
    const r = await connectTunnel(g.socketPath, 'git.b.test:22');
    if ('socket' in r) throw new Error('allowed');
    expect(r.refused.status).toBe(403);
    expect(r.refused.body).toContain('moat grant ssh --host git.b.test');
    expect(g.events).toContainEqual(expect.objectContaining({ type: 'request', method: 'CONNECT', host: 'git.b.test', status: 403, blocked: true }));
    // A run without SSH grants: no port 22 at all (example.com is public and the policy permissive).
    const none = await gateway({});
    const r2 = await connectTunnel(none.socketPath, 'example.com:22');
    expect('refused' in r2 && r2.refused.status).toBe(403);
    await none.close();
    await g.close();
  });

  it('allows network.rules entries that name port 22; network.deny wins over a grant', async () => {
    const g = await gateway({ ssh: ['denied.test'], rules: ['rules.test:22', 'git.b.test'], deny: ['denied.test'] });
    expect('socket' in (await connectTunnel(g.socketPath, 'rules.test:22'))).toBe(true);
    // A rule without :22 does not open SSH.
    expect('refused' in (await connectTunnel(g.socketPath, 'git.b.test:22'))).toBe(true);
    const denied = await connectTunnel(g.socketPath, 'denied.test:22');
    expect('refused' in denied && denied.refused.status).toBe(403);
    await g.close();
  });
});
