/**
 * `moat doctor` on what an ssh or aws grant relies on outside moat: the agent still holds the granted key;
 * the aws grant's profile is still in the host's AWS files, or the default chain has some source. Never a
 * secret in a detail or a fix: the AWS files' values are not even parsed.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentKeysOnce, awsSource, sshSource } from '../../../src/doctor/grant-sources.js';
import { fingerprint } from '../../../src/credentials/ssh-keys.js';
import type { StoredCredential } from '../../../src/credentials/types.js';
import { ed25519Key, fakeAgent, type TestKey } from '../credentials/ssh-helpers.js';

let dir: string;
let held: TestKey;
let other: TestKey;
let agent: Awaited<ReturnType<typeof fakeAgent>>;
let sock: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-doctor-sources-'));
  held = ed25519Key();
  other = ed25519Key();
  sock = join(dir, 'agent.sock');
  agent = await fakeAgent(sock, [{ key: held, comment: 'me@laptop' }]);
});
afterAll(async () => {
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

const sshGrant = (key: TestKey): StoredCredential => ({
  provider: 'ssh',
  kind: 'agent-key',
  secret: {},
  scopes: [],
  createdAt: new Date().toISOString(),
  source: 'ssh-agent',
  meta: { host: 'git.example.test', fingerprint: fingerprint(key.blob), publicKey: key.blob.toString('base64'), comment: 'me@laptop' },
});

describe('ssh grants', () => {
  it('the agent holds the key: OK with its fingerprint; the agent is asked once for several grants', async () => {
    const keys = agentKeysOnce({ SSH_AUTH_SOCK: sock });
    const before = agent.requests.length;
    expect(await sshSource(sshGrant(held), keys)).toEqual({ ok: true, note: `key ${fingerprint(held.blob)} held by the agent at SSH_AUTH_SOCK` });
    await sshSource(sshGrant(other), keys);
    expect(agent.requests.length - before).toBe(1);
  });

  it('the agent no longer holds it: FAIL naming the fingerprint, with ssh-add and the re-grant', async () => {
    const r = await sshSource(sshGrant(other), agentKeysOnce({ SSH_AUTH_SOCK: sock }));
    expect(r).toEqual({
      ok: false,
      status: 'fail',
      detail: `the ssh-agent at SSH_AUTH_SOCK=${sock} does not hold the granted key ${fingerprint(other.blob)}`,
      fix: `ssh-add PATH (the key ${fingerprint(other.blob)}, "me@laptop"), or grant another: moat grant ssh --host git.example.test --key PATH`,
    });
  });

  it('no SSH_AUTH_SOCK, or a socket nobody listens on: FAIL with how to start an agent', async () => {
    const unset = await sshSource(sshGrant(held), agentKeysOnce({}));
    expect(unset).toMatchObject({ ok: false, status: 'fail', fix: 'Start one and add your key: eval "$(ssh-agent)" && ssh-add ~/.ssh/id_ed25519' });
    expect(!unset.ok && unset.detail).toBe('SSH_AUTH_SOCK is not set, so moat cannot reach an ssh-agent holding your key.');
    const gone = await sshSource(sshGrant(held), agentKeysOnce({ SSH_AUTH_SOCK: join(dir, 'none.sock') }));
    expect(gone).toMatchObject({ ok: false, status: 'fail' });
    expect(!gone.ok && gone.detail).toContain(`The ssh-agent at SSH_AUTH_SOCK=${join(dir, 'none.sock')} cannot be reached`);
  });
});

describe('aws grants', () => {
  const awsGrant = (meta: Record<string, string>): StoredCredential => ({
    provider: 'aws',
    kind: meta.roleArn ? 'role' : 'profile',
    secret: { placeholderAccessKeyId: 'ASIAPLACEHOLDER', placeholderSecretAccessKey: 'p', placeholderSessionToken: 't' },
    scopes: [],
    createdAt: new Date().toISOString(),
    source: 'x',
    meta: { region: 'us-east-1', ...meta },
  });
  const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  let home: string;
  beforeAll(async () => {
    home = join(dir, 'home');
    await mkdir(join(home, '.aws'), { recursive: true });
    await writeFile(join(home, '.aws', 'config'), '[default]\nregion = eu-west-1\n\n[profile work] # the office\nsso_session = corp\n');
    await writeFile(join(home, '.aws', 'credentials'), `[ci]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${SECRET}\n`);
  });

  it('a profile in config ([profile NAME]) or in credentials ([NAME]): OK, naming the file and never a value', async () => {
    const env = { HOME: home };
    expect(await awsSource(awsGrant({ profile: 'work' }), env)).toEqual({ ok: true, note: `profile work found in ${join(home, '.aws', 'config')}` });
    const ci = await awsSource(awsGrant({ profile: 'ci', roleArn: 'arn:aws:iam::123456789012:role/r' }), env);
    expect(ci).toEqual({ ok: true, note: `role arn:aws:iam::123456789012:role/r, profile ci found in ${join(home, '.aws', 'credentials')}` });
    expect(JSON.stringify(ci)).not.toContain('AKIAEXAMPLE');
  });

  it('a profile that is gone: FAIL with aws configure --profile and the re-grant', async () => {
    const r = await awsSource(awsGrant({ profile: 'gone' }), { HOME: home });
    expect(r).toEqual({
      ok: false,
      status: 'fail',
      detail: `the profile gone the grant uses is in neither ${join(home, '.aws', 'config')} nor ${join(home, '.aws', 'credentials')}`,
      fix: 'aws configure --profile gone (or aws configure sso --profile gone), or grant another: moat grant aws --profile NAME',
    });
    // `[gone]` in the config file is not a profile there (config names them `[profile gone]`).
    await writeFile(join(dir, 'config-bare'), '[gone]\n');
    expect((await awsSource(awsGrant({ profile: 'gone' }), { HOME: home, AWS_CONFIG_FILE: join(dir, 'config-bare') })).ok).toBe(false);
  });

  it('a role on the default chain: OK from the environment or the files; WARN when the host has none', async () => {
    const role = awsGrant({ roleArn: 'arn:aws:iam::123456789012:role/r' });
    expect(await awsSource(role, { HOME: home, AWS_PROFILE: 'work' })).toMatchObject({ ok: true, note: expect.stringContaining('AWS_PROFILE is set') });
    expect(await awsSource(role, { HOME: home })).toMatchObject({ ok: true, note: expect.stringContaining(join(home, '.aws', 'credentials')) });
    const empty = join(dir, 'empty-home');
    const r = await awsSource(role, { HOME: empty });
    expect(r).toMatchObject({ ok: false, status: 'warn', fix: 'aws configure (or aws sso login), then check with aws sts get-caller-identity' });
  });

  it('an unreadable AWS file: FAIL naming it, with the fix', async () => {
    const r = await awsSource(awsGrant({ profile: 'work' }), { HOME: home, AWS_CONFIG_FILE: dir });
    expect(r).toMatchObject({ ok: false, status: 'fail', detail: `${dir} cannot be read (EISDIR)`, fix: `Make ${dir} an AWS ini file (or remove it)` });
  });
});
