/**
 * What an ssh or aws grant relies on outside moat, still there: for ssh, the agent at SSH_AUTH_SOCK holding
 * the granted key; for aws, the profile the grant names (or some source of the default credential chain)
 * in the host's AWS files. Only names, paths and fingerprints are said: never a key, never a file's values.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import type { StoredCredential } from '../credentials/types.js';
import type { Identity } from '../credentials/ssh-agent-protocol.js';

/** A problem of a grant's outside source (status and the exact fix), or a note to add to an OK line. */
export type SourceAnswer = { ok: true; note: string } | { ok: false; status: 'warn' | 'fail'; detail: string; fix: string };

/** The host agent's keys, asked once per doctor however many ssh grants there are. */
export type AgentKeys = () => Promise<{ socket: string; keys: Identity[] } | { error: string; fix: string }>;

export function agentKeysOnce(env: NodeJS.ProcessEnv): AgentKeys {
  let answer: ReturnType<AgentKeys> | undefined;
  return () =>
    (answer ??= (async () => {
      const { hostAgentSocket, listHostAgent } = await import('../credentials/ssh-agent-client.js');
      try {
        const socket = hostAgentSocket(env);
        return { socket, keys: await listHostAgent(socket) };
      } catch (err) {
        const e = err as { message?: string; hint?: string };
        return { error: e.message ?? String(err), fix: e.hint ?? 'eval "$(ssh-agent)" && ssh-add ~/.ssh/id_ed25519' };
      }
    })());
}

export async function sshSource(c: StoredCredential, agent: AgentKeys): Promise<SourceAnswer> {
  const host = c.meta?.host ?? '';
  const key = Buffer.from(c.meta?.publicKey ?? '', 'base64');
  const fp = c.meta?.fingerprint ?? '?';
  if (!host || key.length === 0) return { ok: false, status: 'fail', detail: 'the grant is incomplete', fix: `moat grant ssh --host ${host || 'HOST'}` };
  const a = await agent();
  if ('error' in a) return { ok: false, status: 'fail', detail: a.error, fix: a.fix };
  if (!a.keys.some((k) => k.blob.equals(key))) {
    return {
      ok: false,
      status: 'fail',
      detail: `the ssh-agent at SSH_AUTH_SOCK=${a.socket} does not hold the granted key ${fp}`,
      fix: `ssh-add PATH (the key ${fp}${c.meta?.comment ? `, "${c.meta.comment}"` : ''}), or grant another: moat grant ssh --host ${host} --key PATH`,
    };
  }
  return { ok: true, note: `key ${fp} held by the agent at SSH_AUTH_SOCK` };
}

async function readIf(file: string): Promise<string | undefined | Error> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? undefined : (err as Error);
  }
}

/** The section names of an AWS ini file (`[profile NAME]` in config, `[NAME]` in credentials); no value is read. */
function sections(text: string, config: boolean): Set<string> {
  const out = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*\[\s*([^\]]+?)\s*\]\s*(?:[#;].*)?$/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (!config) out.add(name);
    else if (name === 'default') out.add(name);
    else if (name.startsWith('profile ')) out.add(name.slice('profile '.length).trim());
  }
  return out;
}

export async function awsSource(c: StoredCredential, env: NodeJS.ProcessEnv): Promise<SourceAnswer> {
  const home = env.HOME || homedir();
  const configFile = env.AWS_CONFIG_FILE || join(home, '.aws', 'config');
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials');
  const [config, creds] = await Promise.all([readIf(configFile), readIf(credentialsFile)]);
  for (const [file, t] of [
    [configFile, config],
    [credentialsFile, creds],
  ] as const) {
    if (t instanceof Error) {
      const code = errnoCode(t);
      const fix = code === 'EACCES' ? `chmod u+r ${file}` : `Make ${file} an AWS ini file (or remove it)`;
      return { ok: false, status: 'fail', detail: `${file} cannot be read (${code ?? t.message})`, fix };
    }
  }
  const role = c.meta?.roleArn ? `role ${c.meta.roleArn}, ` : '';
  const profile = c.meta?.profile;
  if (profile) {
    const inConfig = typeof config === 'string' && sections(config, true).has(profile);
    const inCreds = typeof creds === 'string' && sections(creds, false).has(profile);
    if (!inConfig && !inCreds) {
      return {
        ok: false,
        status: 'fail',
        detail: `the profile ${profile} the grant uses is in neither ${configFile} nor ${credentialsFile}`,
        fix: `aws configure --profile ${profile} (or aws configure sso --profile ${profile}), or grant another: moat grant aws --profile NAME`,
      };
    }
    return { ok: true, note: `${role}profile ${profile} found in ${inConfig ? configFile : credentialsFile}` };
  }
  // The default chain: environment keys, a profile file, web identity, a container's credentials, or an
  // instance role (which cannot be seen from here without asking the network).
  const fromEnv = [
    'AWS_ACCESS_KEY_ID',
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  ].find((k) => (env[k] ?? '') !== '');
  if (fromEnv) return { ok: true, note: `${role}the default AWS credential chain (${fromEnv} is set)` };
  const file =
    typeof creds === 'string' && sections(creds, false).size > 0
      ? credentialsFile
      : typeof config === 'string' && sections(config, true).has('default')
        ? configFile
        : undefined;
  if (file) return { ok: true, note: `${role}the default AWS credential chain (${file})` };
  return {
    ok: false,
    status: 'warn',
    detail: `${role}no AWS credentials for the default chain on this host (no AWS_* variables, no ${credentialsFile}, no [default] in ${configFile}); only an instance or container role could serve`,
    fix: 'aws configure (or aws sso login), then check with aws sts get-caller-identity',
  };
}
