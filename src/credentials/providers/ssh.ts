import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../../errors.js';
import { hostAgentSocket, listHostAgent } from '../ssh-agent-client.js';
import { fingerprint, knownHostKeys, keyType, parsePublicKeyLine, type KnownHostKey } from '../ssh-keys.js';
import type { CredentialStore } from '../store.js';
import type { StoredCredential } from '../types.js';

/**
 * `moat grant ssh --host HOST [--key PATH]`: maps a host to a key the host's ssh-agent holds, by its
 * public key (no secret is stored: the private key never leaves the agent). Stored encrypted as
 * `ssh_HOST` and named `ssh:HOST` everywhere the user sees it. The host's known_hosts entries are kept
 * with the grant: the container gets exactly them, and the daemon's agent filter signs only for a
 * session whose server proved it holds one of them.
 */

const STORE_PREFIX = 'ssh_';
const HOST_RE = /^(?=.{1,60}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** A grant name the user writes for SSH: `ssh:HOST`. */
export function isSshGrant(spec: string): boolean {
  return /^ssh(:|$)/i.test(spec.trim());
}

/** `ssh:HOST` → HOST (lower case), or a MoatError naming the fix. */
export function sshGrantHost(spec: string): string {
  const host = spec
    .trim()
    .replace(/^ssh:?/i, '')
    .toLowerCase();
  return validateSshHost(host, spec);
}

export function validateSshHost(host: string, as = host): string {
  if (!host) throw new MoatError(`The SSH grant "${as}" names no host.`, { code: 'E_USAGE', hint: 'Write ssh:HOST, e.g. -g ssh:github.com' });
  if (!HOST_RE.test(host)) {
    throw new MoatError(`"${host}" is not a host name moat can grant SSH for (letters, digits, "-" and ".", at most 60 characters).`, {
      code: 'E_USAGE',
      hint: 'moat grant ssh --host github.com',
    });
  }
  return host;
}

/** The credential store's name for an SSH grant (`ssh_HOST`: `_` never occurs in a host name). */
export const sshStoreName = (host: string): string => `${STORE_PREFIX}${host}`;

/** The name the user sees for a stored credential: `ssh_HOST` → `ssh:HOST`; others unchanged. */
export function displayGrantName(storeName: string): string {
  return storeName.startsWith(STORE_PREFIX) ? `ssh:${storeName.slice(STORE_PREFIX.length)}` : storeName;
}

/** The store name for what the user typed (`ssh:HOST` → `ssh_HOST`; others unchanged). */
export function storeNameOf(name: string): string {
  return isSshGrant(name) && name.includes(':') ? sshStoreName(sshGrantHost(name)) : name;
}

export interface SshGrantInput {
  host: string;
  keyPath?: string;
  env: NodeJS.ProcessEnv;
  hostHome: string;
  now: Date;
  log(message: string): void;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The public key of `--key PATH` (PATH.pub, or PATH itself when it is a public key). */
async function publicKeyOf(path: string): Promise<Buffer> {
  for (const candidate of path.endsWith('.pub') ? [path] : [`${path}.pub`, path]) {
    const text = await readText(candidate).catch(() => undefined);
    const blob = text === undefined ? undefined : parsePublicKeyLine(text.split(/\r?\n/)[0] ?? '');
    if (blob) return blob;
  }
  throw new MoatError(`No public key found at ${path.endsWith('.pub') ? path : `${path}.pub`}.`, {
    code: 'E_NOT_FOUND',
    hint: `Name the key's .pub file, or create it: ssh-keygen -y -f ${path} > ${path}.pub`,
  });
}

/** The known_hosts entries for host in the user's ~/.ssh/known_hosts (hashed or not). */
async function hostKnownHosts(hostHome: string, host: string): Promise<KnownHostKey[]> {
  const text = (await readText(join(hostHome, '.ssh', 'known_hosts'))) ?? '';
  return knownHostKeys(text, host);
}

/** Obtain the mapping host → agent key and the host's known keys; nothing is stored here. */
export async function grantSsh(input: SshGrantInput): Promise<StoredCredential> {
  const host = validateSshHost(input.host.toLowerCase());
  const socket = hostAgentSocket(input.env);
  const ids = await listHostAgent(socket);
  let chosen;
  if (input.keyPath) {
    const blob = await publicKeyOf(input.keyPath);
    chosen = ids.find((id) => id.blob.equals(blob));
    if (!chosen) {
      throw new MoatError(`The ssh-agent does not hold the key ${input.keyPath} (${fingerprint(blob)}).`, {
        code: 'E_CREDENTIAL',
        hint: `ssh-add ${input.keyPath.replace(/\.pub$/, '')}`,
      });
    }
  } else {
    chosen = ids[0];
    if (!chosen) throw new MoatError('The ssh-agent holds no keys.', { code: 'E_CREDENTIAL', hint: 'ssh-add ~/.ssh/id_ed25519' });
    input.log(`Using the agent's first key: ${fingerprint(chosen.blob)}${chosen.comment ? ` (${chosen.comment})` : ''}; choose another with --key PATH.`);
  }
  const known = await hostKnownHosts(input.hostHome, host);
  if (known.length === 0) {
    throw new MoatError(`Your ~/.ssh/known_hosts has no key for ${host}, so a run could not check that it talks to the real ${host}.`, {
      code: 'E_NOT_FOUND',
      hint: `Connect once from this machine (ssh -T git@${host}) and check the fingerprint it shows, then grant again.`,
    });
  }
  return {
    provider: 'ssh',
    kind: 'agent-key',
    secret: {},
    scopes: [],
    createdAt: input.now.toISOString(),
    source: 'ssh-agent',
    meta: {
      host,
      fingerprint: fingerprint(chosen.blob),
      keyType: keyType(chosen.blob) ?? 'unknown',
      publicKey: chosen.blob.toString('base64'),
      ...(chosen.comment ? { comment: chosen.comment.slice(0, 200) } : {}),
      knownHosts: known.map((k) => k.line).join('\n'),
    },
  };
}

/** What a run's agent filter and ssh client need of one SSH grant. */
export interface SshGrant {
  host: string;
  fingerprint: string;
  key: Buffer;
  knownHosts: KnownHostKey[];
}

export function sshGrantOf(cred: StoredCredential): SshGrant {
  const m = cred.meta ?? {};
  const host = m.host ?? '';
  const key = Buffer.from(m.publicKey ?? '', 'base64');
  const knownHosts = knownHostKeys(m.knownHosts ?? '', host);
  if (!host || key.length === 0 || knownHosts.length === 0) {
    throw new MoatError(`The SSH grant for "${host || '?'}" is incomplete.`, { code: 'E_CREDENTIAL', hint: `moat grant ssh --host ${host || 'HOST'}` });
  }
  return { host, fingerprint: fingerprint(key), key, knownHosts };
}

/**
 * The run's SSH grants, checked before anything is created: each stored, SSH_AUTH_SOCK set and its agent
 * holding each granted key. Returns the agent socket too (undefined when there are no SSH grants).
 */
export async function resolveSshGrants(specs: string[], store: CredentialStore, env: NodeJS.ProcessEnv): Promise<{ grants: SshGrant[]; agentSocket?: string }> {
  const hosts = [...new Set(specs.filter(isSshGrant).map(sshGrantHost))];
  if (hosts.length === 0) return { grants: [] };
  const grants: SshGrant[] = [];
  for (const host of hosts) {
    const cred = await store.get(sshStoreName(host));
    if (!cred) throw new MoatError(`The grant "ssh:${host}" does not exist yet.`, { code: 'E_NOT_FOUND', hint: `moat grant ssh --host ${host}` });
    grants.push(sshGrantOf(cred));
  }
  const agentSocket = hostAgentSocket(env);
  const held = await listHostAgent(agentSocket);
  for (const g of grants) {
    if (!held.some((id) => id.blob.equals(g.key))) {
      throw new MoatError(`The ssh-agent at SSH_AUTH_SOCK does not hold the key ${g.fingerprint} granted for ${g.host}.`, {
        code: 'E_CREDENTIAL',
        hint: `Add that key to the agent (ssh-add PATH), or grant another: moat grant ssh --host ${g.host} --key PATH`,
      });
    }
  }
  return { grants, agentSocket };
}
