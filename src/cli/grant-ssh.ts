import pc from 'picocolors';
import { MoatError } from '../errors.js';
import { grantSsh, sshStoreName, validateSshHost } from '../credentials/providers/ssh.js';
import type { CredentialStore } from '../credentials/store.js';
import type { GrantContext } from '../credentials/types.js';

/** `moat grant ssh --host HOST [--key PATH]`: the SSH branch of `moat grant`. */

export interface SshGrantOptions {
  host?: string;
  key?: string;
  tokenStdin?: boolean;
  import?: boolean;
}

export async function sshGrantAction(
  spec: string | undefined,
  opts: SshGrantOptions,
  io: { store: CredentialStore; out(s: string): void; err(s: string): void; gctx: GrantContext },
): Promise<void> {
  if (spec?.trim().toLowerCase() !== 'ssh') {
    throw new MoatError('--host and --key belong to SSH grants.', { code: 'E_USAGE', hint: `moat grant ssh --host ${opts.host ?? 'HOST'}` });
  }
  if (!opts.host) throw new MoatError('Name the host the key is for.', { code: 'E_USAGE', hint: 'moat grant ssh --host github.com [--key ~/.ssh/id_ed25519]' });
  if (opts.tokenStdin || opts.import)
    throw new MoatError('SSH grants take no token: the key stays in your ssh-agent.', { code: 'E_USAGE', hint: `moat grant ssh --host ${opts.host}` });
  const host = validateSshHost(opts.host.trim().toLowerCase());
  const { env, hostHome } = io.gctx;
  const cred = await grantSsh({ host, ...(opts.key ? { keyPath: opts.key } : {}), env, hostHome, now: io.gctx.now(), log: io.err });
  await io.store.put(sshStoreName(host), cred);
  const known = (cred.meta?.knownHosts ?? '').split('\n').filter(Boolean).length;
  io.out(
    `${pc.green('✓')} Granted ${pc.bold(`ssh:${host}`)}: key ${cred.meta?.fingerprint ?? '?'} from your ssh-agent; ${known} known_hosts ${known === 1 ? 'entry' : 'entries'} for ${host} kept with it.`,
  );
  io.err(`Use it with: moat run -g ssh:${host}   (the key never enters the container; sign requests are checked per connection)`);
}
