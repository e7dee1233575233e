import type net from 'node:net';
import type { GatewayEvent } from './events.js';
import { closeRaw, errorCode, writeRawBlocked } from './http-util.js';
import { matchHost, parseHostPattern } from './hosts.js';
import type { CompiledPolicy, Decision } from './policy.js';
import type { Upstream } from './upstream.js';

/**
 * SSH through the gateway: `CONNECT host:22` (the container's ssh_config makes every ssh connection one)
 * becomes a plain TCP tunnel, never intercepted: SSH has its own end-to-end encryption and host keys.
 * Port 22 is allowed only to the run's SSH-granted hosts and to network.rules entries that name port 22
 * (`"host:22"`); network.deny still wins. The gateway counts each host's open tunnels, which the run's
 * filtering ssh-agent asks before it signs for that host.
 */

export const SSH_PORT = 22;

export class SshTunnels {
  private readonly open = new Map<string, number>();
  constructor(readonly hosts: readonly string[]) {}

  isOpen(host: string): boolean {
    return (this.open.get(host) ?? 0) > 0;
  }

  track(host: string, sock: net.Socket): void {
    this.open.set(host, (this.open.get(host) ?? 0) + 1);
    sock.once('close', () => {
      const n = (this.open.get(host) ?? 1) - 1;
      if (n <= 0) this.open.delete(host);
      else this.open.set(host, n);
    });
  }
}

/** Whether the run may open an SSH tunnel to host (on port 22). */
function sshDecision(policy: CompiledPolicy, tunnels: SshTunnels | undefined, host: string): Decision {
  const d = policy.checkHost(host, SSH_PORT);
  if (!d.allowed && d.kind === 'deny') return d;
  if (tunnels?.hosts.includes(host)) return { allowed: true, reason: `${host} is granted for SSH`, rule: `ssh:${host}` };
  const rule = policy.data.rules
    .flatMap((e) => (typeof e === 'string' ? [e] : Object.keys(e)))
    .map(parseHostPattern)
    .find((p) => p.port === SSH_PORT && matchHost(p, host, SSH_PORT));
  if (rule) return { allowed: true, reason: `${host}:22 is in network.rules`, rule: rule.source };
  return {
    allowed: false,
    kind: 'strict',
    reason: `SSH to ${host} is not granted (port 22 is open only to SSH grants and network.rules entries with :22)`,
    suggestion: `moat grant ssh --host ${host}, then: moat run -g ssh:${host}`,
  };
}

/** Answer `CONNECT host:22`: refuse, or dial and splice bytes both ways. */
export function handleSshConnect(opts: {
  socket: net.Socket;
  head: Buffer;
  host: string;
  policy: CompiledPolicy;
  tunnels: SshTunnels | undefined;
  upstream: Upstream;
  emit(ev: GatewayEvent): void;
}): void {
  const { socket, head, host, emit } = opts;
  const started = Date.now();
  const ts = new Date(started).toISOString();
  const decision = sshDecision(opts.policy, opts.tunnels, host);
  emit({ type: 'connect', ts, host, port: SSH_PORT, allowed: decision.allowed, ...(decision.allowed ? {} : { reason: decision.reason }) });
  const done = (status: number, up: number, down: number, extra: { error?: string; blocked?: true; reason?: string } = {}): void =>
    emit({
      type: 'request',
      ts,
      method: 'CONNECT',
      url: `${host}:${SSH_PORT}`,
      host,
      status,
      ttfbMs: 0,
      durationMs: Date.now() - started,
      bytesUp: up,
      bytesDown: down,
      port: SSH_PORT,
      ...extra,
    });
  if (!decision.allowed) {
    done(403, 0, 0, { blocked: true, reason: decision.reason });
    writeRawBlocked(socket, `CONNECT ${host}:${SSH_PORT}`, decision);
    closeRaw(socket);
    return;
  }
  socket.pause();
  opts.upstream.dial(host, SSH_PORT, false).then(
    (up) => {
      if (socket.destroyed) {
        up.destroy();
        return;
      }
      opts.tunnels?.track(host, socket);
      let bytesUp = head.length;
      let bytesDown = 0;
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      socket.on('data', (c: Buffer) => {
        bytesUp += c.length;
      });
      up.on('data', (c: Buffer) => {
        bytesDown += c.length;
      });
      socket.pipe(up);
      up.pipe(socket);
      const end = (): void => {
        socket.destroy();
        up.destroy();
      };
      up.on('error', end);
      socket.on('error', end);
      up.once('close', end);
      socket.once('close', () => {
        end();
        done(200, bytesUp, bytesDown);
      });
      socket.resume();
    },
    (err: unknown) => {
      const code = errorCode(err);
      done(502, 0, 0, { error: code });
      socket.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nMoat could not reach ${host}:22 (${code}).\n`);
      closeRaw(socket);
    },
  );
}
