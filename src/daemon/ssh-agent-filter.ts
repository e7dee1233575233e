import type { SshAgentEvent } from '../gateway/events.js';
import type { Identity } from '../credentials/ssh-agent-protocol.js';
import {
  SIGN_FLAGS_ALLOWED,
  encodeFailure,
  encodeIdentities,
  encodeSignResponse,
  encodeSuccess,
  parseRequest,
  parseUserauthData,
} from '../credentials/ssh-agent-protocol.js';
import { fingerprint, verifySshSignature } from '../credentials/ssh-keys.js';
import type { SshGrant } from '../credentials/providers/ssh.js';

/**
 * The decisions of a run's filtering ssh-agent, one connection at a time. This is the security boundary
 * between the container and the host's agent:
 *  - only REQUEST_IDENTITIES, SIGN_REQUEST and session-bind@openssh.com are understood; every other
 *    message (add/remove keys, lock, forwarding binds, other extensions) is answered FAILURE;
 *  - a list shows only granted keys (after a bind, only the bound host's);
 *  - a sign request is passed on only when this connection was bound (session-bind@openssh.com, sent by
 *    OpenSSH 8.9+ after key exchange) to a session whose server proved, by signing the session id, that
 *    it holds a known_hosts key of a granted host the run has an SSH tunnel open to; the key must be
 *    granted for that host, and the data must be a publickey userauth request for that very session.
 * Every list and sign decision is reported (host, fingerprint, allowed or refused with the reason).
 */

/** One decision of the filter: the gateway's `ssh-agent` event without its type and time. */
export type SshAgentDecision = Omit<SshAgentEvent, 'type' | 'ts'>;

export interface HostAgent {
  list(): Promise<Identity[]>;
  sign(key: Buffer, data: Buffer, flags: number): Promise<Buffer | undefined>;
}

export interface AgentFilterOptions {
  grants: SshGrant[];
  agent: HostAgent;
  /** Whether the run has an SSH tunnel to host open through its gateway now. */
  tunnelOpen(host: string): boolean;
  report(d: SshAgentDecision): void;
}

interface Binding {
  hostKey: Buffer;
  sessionId: Buffer;
  /** Granted hosts this host key is known for, with a tunnel open when bound. */
  hosts: string[];
}

/** One client connection's state and its answers (each a framed message). */
export class AgentFilterSession {
  private binding: Binding | undefined;

  constructor(private readonly opts: AgentFilterOptions) {}

  private refuse(d: Omit<SshAgentDecision, 'allowed'>): Buffer {
    this.opts.report({ ...d, allowed: false });
    return encodeFailure();
  }

  /** Answer one request message (its body, without the length). */
  async handle(msg: Buffer): Promise<Buffer> {
    let req;
    try {
      req = parseRequest(msg);
    } catch (err) {
      return this.refuse({ action: 'refuse', reason: `malformed agent message: ${(err as Error).message}` });
    }
    if (req.type === 'other') {
      const what = req.extension === undefined ? `message type ${req.code}` : `extension ${req.extension.slice(0, 64)}`;
      return this.refuse({ action: 'refuse', reason: `${what} is not allowed (only list, sign and session-bind)` });
    }
    if (req.type === 'list') return this.list();
    if (req.type === 'bind') return this.bind(req.hostKey, req.sessionId, req.signature, req.forwarding);
    return this.sign(req.key, req.data, req.flags);
  }

  private async list(): Promise<Buffer> {
    const allowed = this.binding ? this.opts.grants.filter((g) => this.binding!.hosts.includes(g.host)) : this.opts.grants;
    let held: Identity[];
    try {
      held = await this.opts.agent.list();
    } catch (err) {
      return this.refuse({ action: 'list', reason: `the host's ssh-agent failed: ${(err as Error).message}` });
    }
    const shown = held.filter((id) => allowed.some((g) => g.key.equals(id.blob)));
    const hosts = [...new Set(allowed.map((g) => g.host))].join(',');
    this.opts.report({
      action: 'list',
      allowed: true,
      listed: shown.map((id) => fingerprint(id.blob)),
      reason: this.binding ? `keys granted for ${hosts} (the bound session's host)` : 'granted keys',
      ...(hosts ? { host: hosts } : {}),
    });
    // Comments may name the user's machine or account; the container gets the grant's host instead.
    return encodeIdentities(shown.map((id) => ({ blob: id.blob, comment: `moat ssh:${allowed.find((g) => g.key.equals(id.blob))!.host}` })));
  }

  private bind(hostKey: Buffer, sessionId: Buffer, signature: Buffer, forwarding: boolean): Buffer {
    const fp = fingerprint(hostKey);
    if (forwarding) return this.refuse({ action: 'bind', fingerprint: fp, reason: 'agent forwarding is not allowed' });
    if (sessionId.length < 16 || sessionId.length > 64)
      return this.refuse({ action: 'bind', fingerprint: fp, reason: 'the session id has an impossible length' });
    if (this.binding) {
      if (this.binding.sessionId.equals(sessionId) && this.binding.hostKey.equals(hostKey)) return encodeSuccess();
      return this.refuse({ action: 'bind', fingerprint: fp, reason: 'this agent connection is already bound to another session' });
    }
    if (!verifySshSignature(hostKey, sessionId, signature)) {
      return this.refuse({ action: 'bind', fingerprint: fp, reason: 'the server signature over the session id does not verify with its host key' });
    }
    const known = this.opts.grants.filter((g) => g.knownHosts.some((k) => k.blob.equals(hostKey))).map((g) => g.host);
    if (known.length === 0) return this.refuse({ action: 'bind', fingerprint: fp, reason: 'the host key is not a known_hosts key of any granted host' });
    const hosts = known.filter((h) => this.opts.tunnelOpen(h));
    if (hosts.length === 0) {
      return this.refuse({
        action: 'bind',
        host: known.join(','),
        fingerprint: fp,
        reason: `the run has no SSH connection to ${known.join(', ')} open through its gateway`,
      });
    }
    this.binding = { hostKey, sessionId: Buffer.from(sessionId), hosts };
    this.opts.report({ action: 'bind', allowed: true, host: hosts.join(','), fingerprint: fp, reason: 'server proved a known host key' });
    return encodeSuccess();
  }

  private async sign(key: Buffer, data: Buffer, flags: number): Promise<Buffer> {
    const fp = fingerprint(key);
    const grants = this.opts.grants.filter((g) => g.key.equals(key));
    const granted = grants.map((g) => g.host).join(',');
    if (grants.length === 0) return this.refuse({ action: 'sign', fingerprint: fp, reason: 'the key is not granted to this run' });
    const b = this.binding;
    if (!b)
      return this.refuse({
        action: 'sign',
        host: granted,
        fingerprint: fp,
        reason: 'the connection was never bound to a session (session-bind@openssh.com, OpenSSH 8.9+ needed)',
      });
    const bound = b.hosts.join(',');
    const host = grants.find((g) => b.hosts.includes(g.host))?.host;
    if (!host)
      return this.refuse({ action: 'sign', host: bound, fingerprint: fp, reason: `the key is granted for ${granted}, but the session is with ${bound}` });
    if ((flags & ~SIGN_FLAGS_ALLOWED) !== 0) return this.refuse({ action: 'sign', host, fingerprint: fp, reason: `sign flags ${flags} are not allowed` });
    const auth = parseUserauthData(data);
    if (!auth) return this.refuse({ action: 'sign', host, fingerprint: fp, reason: 'the data to sign is not an SSH publickey authentication request' });
    if (!auth.sessionId.equals(b.sessionId))
      return this.refuse({ action: 'sign', host, fingerprint: fp, reason: 'the data to sign is for another session than the bound one' });
    if (!auth.key.equals(key)) return this.refuse({ action: 'sign', host, fingerprint: fp, reason: 'the data to sign names another key' });
    if (auth.hostKey && !auth.hostKey.equals(b.hostKey))
      return this.refuse({ action: 'sign', host, fingerprint: fp, reason: 'the data to sign names another server host key' });
    if (!this.opts.tunnelOpen(host)) return this.refuse({ action: 'sign', host, fingerprint: fp, reason: `the run's SSH connection to ${host} is closed` });
    let sig: Buffer | undefined;
    try {
      sig = await this.opts.agent.sign(key, data, flags);
    } catch (err) {
      return this.refuse({ action: 'sign', host, fingerprint: fp, reason: `the host's ssh-agent failed: ${(err as Error).message}` });
    }
    if (!sig) return this.refuse({ action: 'sign', host, fingerprint: fp, reason: "the host's ssh-agent refused to sign" });
    this.opts.report({ action: 'sign', allowed: true, host, fingerprint: fp, reason: `session bound to ${host}` });
    return encodeSignResponse(sig);
  }
}
