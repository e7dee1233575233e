import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import { CONTAINER_CA_FILE, PROXY_ENV_NAMES, gatewayEnv } from '../gateway/transport.js';
import type { ContainerExtras } from './launch.js';
import type { RunSpec } from './spec.js';
import type { ResolvedSecret } from '../credentials/secrets/types.js';
import { sshExtras } from './ssh-extras.js';

/** The moat CA certificate (created on first use); only this file, never the key, enters containers. */
async function ensureCaCert(home: MoatHome): Promise<string> {
  const cert = join(home.caDir, 'ca.pem');
  try {
    await access(cert);
  } catch {
    const { loadOrCreateCA } = await import('../gateway/ca.js');
    await loadOrCreateCA(home.caDir);
  }
  return cert;
}

/**
 * Everything a run's container needs for its gateway and grants: proxy and CA variables, the transport
 * and CA mounts, and the placeholders of its grants. Resolving the grants here makes a missing or expired
 * grant fail before anything is created.
 */
export async function containerExtras(home: MoatHome, spec: RunSpec, env: NodeJS.ProcessEnv, warn: (m: string) => void): Promise<ContainerExtras> {
  const dropped = Object.keys(spec.env).filter((k) => PROXY_ENV_NAMES.includes(k));
  for (const k of dropped) {
    warn(`${k} is ignored: a run's only way out is the moat gateway (allow hosts with --allow-host or network.rules in moat.yaml).`);
    delete spec.env[k];
  }
  let placeholders: { env: Record<string, string>; files: Array<{ path: string; content: string; mode: number }> } = { env: {}, files: [] };
  if (spec.grants.length > 0) {
    const { CredentialStore } = await import('../credentials/store.js');
    const { resolveGrants } = await import('../credentials/resolve.js');
    // Placeholders only: the daemon alone refreshes (and saves rotated tokens), so two processes never
    // spend the same refresh token.
    placeholders = (await resolveGrants(spec.grants, new CredentialStore(home, { env }), { env, refresh: false })).placeholders;
  }
  // Before anything is created: a secret that cannot be read stops the run here, with its fix.
  let secrets: ResolvedSecret[] = [];
  let secretEnv: Record<string, string> = {};
  if (spec.secrets && spec.secrets.length > 0) {
    const s = await import('../credentials/secrets/resolve.js');
    secrets = await s.resolveSecrets(spec.secrets, { env });
    secretEnv = s.secretEnv(secrets);
    for (const w of s.secretWarnings(secrets)) warn(w);
  }
  const ssh = await sshExtras(home, spec, env);
  if (env.MOAT_TESTING === '1' && env.MOAT_TEST_UPSTREAMS) {
    warn(`test-only upstream override is active (MOAT_TEST_UPSTREAMS=${env.MOAT_TEST_UPSTREAMS}); never use it outside tests.`);
  }
  const caCert = await ensureCaCert(home);
  return {
    env: { ...gatewayEnv(), ...placeholders.env, ...secretEnv, ...ssh.env },
    // The gateway's folder (the transport) is the run's own: container/plan.ts mounts it.
    mounts: [{ source: caCert, target: CONTAINER_CA_FILE, readOnly: true }],
    homeFiles: [...spec.homeFiles, ...placeholders.files, ...ssh.files],
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(ssh.agentSocket ? { sshAgentSocket: ssh.agentSocket } : {}),
  };
}
