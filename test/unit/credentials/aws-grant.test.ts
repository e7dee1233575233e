/**
 * `moat grant aws` (issue 18): flags validated with clear errors, only configuration and placeholder
 * keys stored, the SDK obtains real credentials from a fake STS that verifies SigV4, and the daemon
 * renews them before they expire.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from '@commander-js/extra-typings';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerGrantCommands } from '../../../src/cli/grant.js';
import { awsConfigFromFlags, parseSessionDuration } from '../../../src/credentials/aws-config.js';
import { fetchAwsCredentials } from '../../../src/credentials/aws-credentials.js';
import { aws } from '../../../src/credentials/providers/aws.js';
import { resolveGrants } from '../../../src/credentials/resolve.js';
import type { GrantContext } from '../../../src/credentials/types.js';
import { renewDelay, startAwsSigning } from '../../../src/daemon/aws-refresh.js';
import { MoatError } from '../../../src/errors.js';
import { type FakeAws, startFakeAws } from '../../fakes/aws.js';
import { fakeContext, tempHome, type TempHome } from './helpers.js';

const ROLE = 'arn:aws:iam::123456789012:role/agent';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).code).toBe('E_USAGE');
    return (err as MoatError).message;
  }
  throw new Error('no error');
}

describe('aws grant flags', () => {
  it.each([
    [{}, /needs a role to assume \(--role ARN\) or a profile/],
    [{ role: 'arn:aws:iam::12345:role/x' }, /Invalid --role .*expected an IAM role ARN/],
    [{ role: 'arn:aws:s3:::bucket' }, /Invalid --role/],
    [{ role: ROLE, region: 'mars-1' }, /Invalid --region "mars-1"/],
    [{ role: ROLE, sessionDuration: '10m' }, /between 15m and 12h/],
    [{ role: ROLE, sessionDuration: '13h' }, /between 15m and 12h/],
    [{ role: ROLE, sessionDuration: 'soon' }, /between 15m and 12h/],
    [{ profile: 'dev', sessionDuration: '1h' }, /apply to an assumed role: add --role/],
    [{ role: ROLE, externalId: 'x' }, /Invalid --external-id/],
    [{ role: ROLE, endpoint: 'https://s3.corp/x' }, /Invalid --endpoint/],
    [{ profile: 'a b' }, /Invalid --profile/],
  ])('%j is refused with a clear error', (flags, message) => {
    expect(usageError(() => awsConfigFromFlags(flags, {}))).toMatch(message);
  });

  it('durations and defaults', () => {
    expect(parseSessionDuration('15m')).toBe(900);
    expect(parseSessionDuration('12h')).toBe(43_200);
    expect(parseSessionDuration('3600')).toBe(3600);
    expect(awsConfigFromFlags({ role: ROLE }, { AWS_REGION: 'eu-west-1' })).toEqual({
      roleArn: ROLE,
      region: 'eu-west-1',
      durationSeconds: 3600,
      endpoints: [],
    });
    expect(awsConfigFromFlags({ profile: 'dev', endpoint: 'S3.corp.example:8443, minio.lan' }, {})).toEqual({
      region: 'us-east-1',
      durationSeconds: 3600,
      profile: 'dev',
      endpoints: ['s3.corp.example:8443', 'minio.lan'],
    });
  });
});

describe('the aws provider', () => {
  let t: TempHome;
  beforeEach(async () => {
    t = await tempHome();
  });
  afterEach(async () => {
    process.exitCode = undefined;
    await t.cleanup();
  });

  function sink(): Writable & { text: () => string } {
    const chunks: string[] = [];
    const w = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
    return Object.assign(w, { text: () => chunks.join('') });
  }
  async function cli(args: string[]): Promise<{ out: string; err: string }> {
    const stdout = sink();
    const stderr = sink();
    const program = new Command('moat').exitOverride();
    registerGrantCommands(program, {
      home: t.home,
      store: t.store,
      stdout,
      stderr,
      grantContext: (o): GrantContext => fakeContext({ ...(o.aws ? { aws: o.aws } : {}) }),
    });
    await program.parseAsync(args, { from: 'user' });
    return { out: stdout.text(), err: stderr.text() };
  }

  it('stores configuration and placeholder keys only; runs get ASIA-shaped placeholders and the region', async () => {
    const r = await cli(['grant', 'aws', '--role', ROLE, '--region', 'eu-central-1', '--session-duration', '30m', '--external-id', 'ext-123', '--no-validate']);
    expect(r.out).toMatch(/Granted .*aws.*: role from the default AWS credential chain; not validated/);
    const stored = (await t.store.get('aws'))!;
    expect(stored.meta).toEqual({ region: 'eu-central-1', roleArn: ROLE, sessionSeconds: '1800', externalId: 'ext-123' });
    expect(Object.keys(stored.secret).sort()).toEqual(['placeholderAccessKeyId', 'placeholderSecretAccessKey', 'placeholderSessionToken']);
    const resolved = await resolveGrants(['aws'], t.store, { refresh: false });
    expect(resolved.injections).toEqual([]);
    const env = resolved.placeholders.env;
    expect(env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(env.AWS_SECRET_ACCESS_KEY).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(env.AWS_SESSION_TOKEN!.length).toBeGreaterThan(300);
    expect(env.AWS_REGION).toBe('eu-central-1');
    expect(env.AWS_DEFAULT_REGION).toBe('eu-central-1');
    // The same placeholder every time: the daemon checks signatures against what the container holds.
    expect((await resolveGrants(['aws'], t.store, { refresh: false })).placeholders.env.AWS_ACCESS_KEY_ID).toBe(env.AWS_ACCESS_KEY_ID);
    expect(resolved.aws).toMatchObject({
      grant: 'aws',
      placeholder: { accessKeyId: env.AWS_ACCESS_KEY_ID },
      credentials: { roleArn: ROLE, region: 'eu-central-1', durationSeconds: 1800, externalId: 'ext-123' },
    });
  });

  it('an aws flag on another provider is refused', async () => {
    await expect(cli(['grant', 'github', '--role', ROLE])).rejects.toThrow(/--role applies only to moat grant aws/);
  });

  it('a bad ARN fails the grant before anything is stored', async () => {
    await expect(cli(['grant', 'aws', '--role', 'not-an-arn', '--no-validate'])).rejects.toThrow(/Invalid --role/);
    expect(await t.store.get('aws')).toBeUndefined();
  });

  it('an aws grant carries no real secret to resolve: nothing but placeholders to redact', () => {
    expect(aws.injections({ provider: 'aws', kind: 'role', secret: {}, scopes: [], createdAt: '', source: '' })).toEqual([]);
  });
});

describe('real credentials from STS (fake STS verifying SigV4)', () => {
  let fake: FakeAws;
  let dir: string;
  const saved = { ...process.env };
  beforeAll(async () => {
    fake = await startFakeAws();
    dir = await mkdtemp(join(tmpdir(), 'moat-aws-'));
    await writeFile(join(dir, 'credentials'), `[dev]\naws_access_key_id = ${fake.base.accessKeyId}\naws_secret_access_key = ${fake.base.secretAccessKey}\n`);
    await writeFile(join(dir, 'config'), '');
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_ACCESS_KEY_ID: fake.base.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.base.secretAccessKey,
    });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  });
  afterAll(async () => {
    process.env = saved;
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });
  const opts = () => ({ stsEndpoint: `https://localhost:${fake.port}`, ca: fake.ca.certPem });

  it('AssumeRole with the default chain returns session credentials (the fake verified the signature)', async () => {
    const id = await fetchAwsCredentials({ roleArn: ROLE, region: 'us-east-1', durationSeconds: 900 }, { ...opts(), sessionName: 'moat-test' });
    expect(fake.failures).toEqual([]);
    expect(id.accessKeyId).toBe(fake.issued.at(-1)!.accessKeyId);
    expect(id.sessionToken).toBe(fake.issued.at(-1)!.sessionToken);
    expect(id.arn).toBe('arn:aws:sts::123456789012:assumed-role/agent/moat-test');
    expect(Date.parse(id.expiration!)).toBeGreaterThan(Date.now() + 800_000);
  });

  it('a profile alone: its own keys, checked with GetCallerIdentity', async () => {
    const id = await fetchAwsCredentials({ region: 'us-east-1', durationSeconds: 3600, profile: 'dev' }, opts());
    expect(id.accessKeyId).toBe(fake.base.accessKeyId);
    expect(id.arn).toBe('arn:aws:iam::123456789012:user/tester');
  });

  it('credentials STS refuses: one clear error, no secret in it', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'wrongwrongwrongwrongwrongwrongwrongwrong';
    try {
      const err = await fetchAwsCredentials({ roleArn: ROLE, region: 'us-east-1', durationSeconds: 900 }, opts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MoatError);
      expect((err as MoatError).message).toMatch(/^Could not assume the role arn:aws:iam::123456789012:role\/agent: /);
      expect((err as MoatError).message).not.toContain('wrongwrong');
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = fake.base.secretAccessKey;
    }
  });
});

describe('daemon renewal', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews at 80 % of the lifetime, never in a tight loop', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    expect(renewDelay(t0, new Date(t0 + 3600_000).toISOString(), t0)).toBe(2880_000);
    expect(renewDelay(t0, new Date(t0 + 12 * 3600_000).toISOString(), t0)).toBe(34_560_000);
    expect(renewDelay(t0, new Date(t0 + 3600_000).toISOString(), t0 + 2000_000)).toBe(880_000);
    expect(renewDelay(t0, new Date(t0 + 20_000).toISOString(), t0)).toBe(16_000);
    expect(renewDelay(t0, new Date(t0 - 1000).toISOString(), t0)).toBe(5_000);
    expect(renewDelay(t0, undefined, t0)).toBeUndefined();
  });

  it('the resigner signs with the renewed credentials after the renewal; the new secrets join the maskers', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let n = 0;
    const secrets: string[] = [];
    const fetch = async () => {
      n += 1;
      return {
        accessKeyId: `ASIAREALKEY0000000${n}`,
        secretAccessKey: `secret-${n}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`,
        sessionToken: `token-${n}`,
        expiration: new Date(Date.now() + 20_000).toISOString(),
      };
    };
    const placeholder = {
      accessKeyId: 'ASIAPLACEHOLDER00001',
      secretAccessKey: 'placeholderSecretKey0000000000000000000',
      sessionToken: 'placeholder-session-token',
    };
    const s = await startAwsSigning(
      { grant: 'aws', placeholder, credentials: { region: 'us-east-1', durationSeconds: 900 }, endpoints: [] },
      { env: {}, runId: 'run_000000000000', log: () => undefined, onSecrets: (x) => secrets.push(...x), fetch },
    );
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(n).toBe(2);
    expect(secrets).toContain('secret-2-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
    const { Hash } = await import('@smithy/hash-node');
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const signed = (await new SignatureV4({
      service: 'sts',
      region: 'us-east-1',
      sha256: Hash.bind(null, 'sha256'),
      credentials: placeholder,
      applyChecksum: false,
    }).sign({
      method: 'POST',
      protocol: 'https:',
      hostname: 'sts.amazonaws.com',
      path: '/',
      query: {},
      headers: { host: 'sts.amazonaws.com' },
      body: 'x=1',
    } as never)) as unknown as { headers: Record<string, string> };
    const headers = { ...signed.headers };
    delete headers.host;
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('x=1');
    }
    const out = await s.resigner.resign({
      method: 'POST',
      host: 'sts.amazonaws.com',
      port: 443,
      hostHeader: 'sts.amazonaws.com',
      rawTarget: '/',
      target: '/',
      headers,
      body: body(),
    });
    expect(out?.headers.authorization).toContain('Credential=ASIAREALKEY00000002/');
    expect(out?.headers['x-amz-security-token']).toBe('token-2');
    s.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(n).toBe(2);
  });
});
