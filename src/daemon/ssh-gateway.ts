import { lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { isSshGrant, sshGrantHost, sshGrantOf, sshStoreName, type SshGrant } from '../credentials/providers/ssh.js';
import type { CredentialStore } from '../credentials/store.js';
import type { GatewayEvent } from '../gateway/index.js';
import { SshTunnels } from '../gateway/ssh-tunnel.js';
import { listenInPlace, type GatewayTransport } from '../gateway/transport.js';
import type { RunMetadata } from '../store/types.js';
import { createAgentServer, hostAgent } from './ssh-agent-server.js';

/**
 * A run's SSH side in the daemon: the filtering agent on `runs/<id>/net/agent.sock` (the container's
 * SSH_AUTH_SOCK, /moat/net/agent.sock), bound elsewhere and moved in like the gateway's socket, and the
 * set of SSH tunnels the gateway has open, which the agent asks before it signs.
 */

const AGENT_SOCKET = 'agent.sock';

export interface RunSsh {
  tunnels: SshTunnels;
  close(): Promise<void>;
}

export async function startRunSsh(meta: RunMetadata, runDir: string, store: CredentialStore, emit: (ev: GatewayEvent) => void): Promise<RunSsh | undefined> {
  const hosts = [...new Set(meta.grants.filter(isSshGrant).map(sshGrantHost))];
  if (hosts.length === 0) return undefined;
  if (!meta.sshAgentSocket) throw new Error('the run has SSH grants but no ssh-agent socket was recorded for it');
  const grants: SshGrant[] = [];
  for (const host of hosts) {
    const cred = await store.get(sshStoreName(host));
    if (!cred) throw new Error(`the grant ssh:${host} no longer exists`);
    grants.push(sshGrantOf(cred));
  }
  const tunnels = new SshTunnels(hosts);
  const server = createAgentServer({
    grants,
    agent: hostAgent(meta.sshAgentSocket),
    tunnelOpen: (h) => tunnels.isOpen(h),
    report: (d) => emit({ type: 'ssh-agent', ts: new Date().toISOString(), ...d }),
  });
  const hostDir = join(runDir, 'net');
  const t: GatewayTransport = { kind: 'unix-socket', hostDir, socketPath: join(hostDir, AGENT_SOCKET), bindDir: join(runDir, '.ag') };
  const listening: Server = await listenInPlace(
    t,
    (path) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve(server));
      }),
  );
  const ino = (await lstat(t.socketPath)).ino;
  return {
    tunnels,
    close: async () => {
      await new Promise<void>((r) => {
        listening.close(() => r());
        setTimeout(r, 2000).unref();
      });
      // After a hand-over the socket there is the next daemon's: leave it.
      if ((await lstat(t.socketPath).catch(() => undefined))?.ino === ino) await unlink(t.socketPath).catch(() => undefined);
    },
  };
}
