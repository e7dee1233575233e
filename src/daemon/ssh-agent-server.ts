import net from 'node:net';
import { FrameReader } from '../credentials/ssh-agent-protocol.js';
import { agentIdentities, agentSign } from '../credentials/ssh-agent-client.js';
import { AgentFilterSession, type AgentFilterOptions, type HostAgent } from './ssh-agent-filter.js';

/**
 * Serves a run's filtering ssh-agent on a unix socket (bound by the caller in the run's socket directory,
 * mounted at /moat/net). One AgentFilterSession per connection; requests are answered one at a time
 * (the socket is paused meanwhile, so a client that floods requests only fills its own buffers); a bad
 * frame closes the connection. Bounded: connections at once, idle time.
 */

const AGENT_LIMITS = { maxConnections: 32, idleMs: 120_000 } as const;

/** The host's agent at socketPath, one connection per request. */
export function hostAgent(socketPath: string): HostAgent {
  return { list: () => agentIdentities(socketPath), sign: (key, data, flags) => agentSign(socketPath, key, data, flags) };
}

export function createAgentServer(opts: AgentFilterOptions, limits: { maxConnections?: number; idleMs?: number } = {}): net.Server {
  const max = limits.maxConnections ?? AGENT_LIMITS.maxConnections;
  let open = 0;
  const server = net.createServer((sock) => {
    sock.on('error', () => sock.destroy());
    if (open >= max) {
      opts.report({ action: 'refuse', allowed: false, reason: `${max} agent connections are open; refusing more` });
      sock.destroy();
      return;
    }
    open++;
    sock.once('close', () => open--);
    sock.setTimeout(limits.idleMs ?? AGENT_LIMITS.idleMs, () => sock.destroy());
    const session = new AgentFilterSession(opts);
    const frames = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = frames.push(chunk);
      } catch (err) {
        opts.report({ action: 'refuse', allowed: false, reason: `bad agent frame: ${(err as Error).message}; connection closed` });
        sock.destroy();
        return;
      }
      if (msgs.length === 0) return;
      sock.pause();
      void (async () => {
        for (const m of msgs) {
          if (sock.destroyed) return;
          sock.write(await session.handle(m));
        }
        sock.resume();
      })();
    });
  });
  server.maxConnections = max + 16;
  return server;
}
