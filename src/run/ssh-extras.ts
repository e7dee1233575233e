import type { MoatHome } from '../home/paths.js';
import { CONTAINER_NET_DIR } from '../gateway/transport.js';
import type { RunSpec } from './spec.js';

/**
 * A run's SSH grants, checked before anything is created (stored, SSH_AUTH_SOCK set, its agent holding
 * each key), and what the container gets for them: SSH_AUTH_SOCK naming the daemon's filtering agent in
 * the mounted socket directory, and the granted hosts' known_hosts entries. No key material.
 */
export async function sshExtras(
  home: MoatHome,
  spec: RunSpec,
  env: NodeJS.ProcessEnv,
): Promise<{
  env: Record<string, string>;
  files: Array<{ path: string; content: string; mode: number }>;
  agentSocket?: string;
}> {
  const { isSshGrant, resolveSshGrants } = await import('../credentials/providers/ssh.js');
  if (!spec.grants.some(isSshGrant)) return { env: {}, files: [] };
  const { CredentialStore } = await import('../credentials/store.js');
  const { grants, agentSocket } = await resolveSshGrants(spec.grants, new CredentialStore(home, { env }), env);
  const knownHosts = grants.flatMap((g) => g.knownHosts.map((k) => k.line)).join('\n');
  return {
    env: { SSH_AUTH_SOCK: `${CONTAINER_NET_DIR}/agent.sock` },
    files: [{ path: '.ssh/known_hosts', content: `${knownHosts}\n`, mode: 0o600 }],
    ...(agentSocket ? { agentSocket } : {}),
  };
}
