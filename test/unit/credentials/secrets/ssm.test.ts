import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MoatError } from '../../../../src/errors.js';
import { parseSecretReference, type SecretReference } from '../../../../src/secret-reference.js';
import { resolveSecrets } from '../../../../src/credentials/secrets/resolve.js';
import { type FakeSsm, startFakeSsm } from '../../../fakes/ssm.js';

/**
 * ssm:// through the AWS SDK for JavaScript against a local HTTPS SSM endpoint that verifies each request's
 * SigV4 signature with the test credentials and answers GetParameter in the real JSON 1.1 wire format.
 * The SDK reads its credential chain and region from process.env: each test sets them and restores them.
 */
const CREDS = { accessKeyId: 'AKIAMOATTEST00000001', secretAccessKey: 'moat/test/secret/access/key/0000000000000' };
const VALUE = 'sk_live_ssmValue0123456789abcdefABCDEF';
const AWS_VARS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
];

let fake: FakeSsm;
let dir: string;
let caFile: string;
const saved = Object.fromEntries(AWS_VARS.map((k) => [k, process.env[k]]));

function awsEnv(vars: Record<string, string | undefined>): void {
  for (const k of AWS_VARS) delete process.env[k];
  process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) process.env[k] = v;
}

const testEnv = (): NodeJS.ProcessEnv => ({ MOAT_TESTING: '1', MOAT_TEST_SSM_ENDPOINT: fake.url, MOAT_TEST_SSM_CA: caFile });
const ssm = (ref: string) => [{ name: 'STRIPE_KEY', from: parseSecretReference(ref) as SecretReference, hosts: ['api.stripe.com'] }];

async function failure(p: Promise<unknown>): Promise<MoatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MoatError) return err;
    throw err;
  }
  throw new Error('expected a MoatError');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-ssm-'));
  fake = await startFakeSsm({
    credentials: CREDS,
    parameters: { '/team/stripe/key': VALUE },
    errors: { '/team/denied': 'AccessDeniedException', '/team/expired': 'ExpiredTokenException' },
  });
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, fake.ca.certPem);
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ssm:// through the AWS SDK, signed with the default credential chain', () => {
  it('reads a SecureString with decryption, the signature verified by the endpoint, in the default region', async () => {
    awsEnv({ AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, AWS_REGION: 'eu-central-1' });
    const [s] = await resolveSecrets(ssm('ssm:///team/stripe/key'), { env: testEnv() });
    expect(s!.value).toBe(VALUE);
    expect(fake.requests.at(-1)).toEqual({
      target: 'AmazonSSM.GetParameter',
      name: '/team/stripe/key',
      withDecryption: true,
      region: 'eu-central-1',
      signatureOk: true,
    });
  });
  it('a region in the reference wins over the default', async () => {
    awsEnv({ AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, AWS_REGION: 'eu-central-1' });
    await resolveSecrets(ssm('ssm://us-west-2/team/stripe/key'), { env: testEnv() });
    expect(fake.requests.at(-1)).toMatchObject({ region: 'us-west-2', signatureOk: true });
  });

  const cases: Array<[string, Record<string, string>, string, RegExp, string]> = [
    [
      'parameter not found',
      { AWS_REGION: 'eu-west-1' },
      'ssm:///team/missing',
      /SSM has no parameter \/team\/missing in your default region/,
      'aws ssm describe-parameters',
    ],
    ['access denied', { AWS_REGION: 'eu-west-1' }, 'ssm:///team/denied', /may not read this parameter/, 'aws sts get-caller-identity'],
    ['expired credentials', { AWS_REGION: 'eu-west-1' }, 'ssm:///team/expired', /AWS credentials have expired/, 'aws sso login'],
    [
      'credentials AWS does not accept (bad signature)',
      { AWS_REGION: 'eu-west-1', AWS_SECRET_ACCESS_KEY: 'wrong-secret-key-000000000000000000000000' },
      'ssm:///team/stripe/key',
      /AWS does not accept your credentials \(InvalidSignatureException\)/,
      'aws configure',
    ],
    ['no region', {}, 'ssm:///team/stripe/key', /no AWS region is set/, 'export AWS_REGION='],
    [
      'no credentials',
      { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
      'ssm:///team/stripe/key',
      /no AWS credentials were found/,
      'aws configure',
    ],
  ];
  for (const [what, vars, ref, message, hint] of cases) {
    it(`${what}: mapped to the command that fixes it`, async () => {
      awsEnv({ AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, ...vars });
      for (const [k, v] of Object.entries(vars)) if (v === '') delete process.env[k];
      const e = await failure(resolveSecrets(ssm(ref), { env: testEnv() }));
      expect(e.message).toMatch(/^The secret STRIPE_KEY \(ssm:\/\//);
      expect(e.message).toMatch(message);
      expect(e.hint).toContain(hint);
      expect(`${e.message} ${e.hint ?? ''}`).not.toContain(CREDS.secretAccessKey);
    });
  }

  it('the endpoint override is test-only: without MOAT_TESTING=1 it is ignored', async () => {
    const { testSsmEndpoint } = await import('../../../../src/credentials/secrets/ssm.js');
    expect(testSsmEndpoint({ MOAT_TEST_SSM_ENDPOINT: fake.url })).toBeUndefined();
    expect(testSsmEndpoint({ MOAT_TESTING: '1', MOAT_TEST_SSM_ENDPOINT: fake.url })).toEqual({ endpoint: fake.url });
  });
});
