/**
 * An aws grant under `network.policy: strict` (issue 18), like every other grant: the hosts it covers
 * (AWS's global endpoints and its region's, virtual-hosted buckets, its custom endpoints) are usable
 * without listing them; AWS hosts anyone can rent (API Gateway, EC2, load balancers) and other regions
 * stay refused, and the refusal names the exact moat.yaml line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsGrantHosts } from '../../../src/gateway/aws-hosts.js';
import { createAwsResigner } from '../../../src/gateway/aws-resign.js';
import { compilePolicy } from '../../../src/gateway/policy.js';
import { type FakeAws, startFakeAws } from '../../fakes/aws.js';
import { fetchVia, type Harness, startHarness } from './helpers.js';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

const PLACEHOLDER = { accessKeyId: 'ASIAPLACEHOLDER00001', secretAccessKey: 'placeholderSecretKey0000000000000000000', sessionToken: 'placeholder-token' };

describe('awsGrantHosts', () => {
  it('the global endpoints, the region, virtual-hosted buckets, and custom endpoints (port 443 unless named)', () => {
    expect(awsGrantHosts('eu-west-1', ['minio.corp.example', 'localhost:9000'])).toEqual([
      '*.amazonaws.com:443',
      '*.eu-west-1.amazonaws.com:443',
      '*.s3.amazonaws.com:443',
      '*.s3.eu-west-1.amazonaws.com:443',
      'minio.corp.example:443',
      'localhost:9000',
    ]);
    expect(awsGrantHosts('cn-north-1')).toContain('*.cn-north-1.amazonaws.com.cn:443');
  });

  const strict = compilePolicy({ policy: 'strict', allowHosts: awsGrantHosts('us-east-1') });
  it.each([
    ['sts.amazonaws.com', true],
    ['sts.us-east-1.amazonaws.com', true],
    ['s3.us-east-1.amazonaws.com', true],
    ['dynamodb.us-east-1.amazonaws.com', true],
    ['my-bucket.s3.us-east-1.amazonaws.com', true],
    ['my-bucket.s3.amazonaws.com', true],
    // Hosts under amazonaws.com that anyone can rent, and other regions: not covered.
    ['abc123.execute-api.us-east-1.amazonaws.com', false],
    ['ec2-3-4-5-6.compute-1.amazonaws.com', false],
    ['ec2-3-4-5-6.us-east-1.compute.amazonaws.com', false],
    ['lb-1.us-east-1.elb.amazonaws.com', false],
    ['site.s3-website-us-east-1.amazonaws.com', false],
    ['sts.eu-west-1.amazonaws.com', false],
    ['evil.example', false],
  ])('strict, grant in us-east-1: %s allowed = %s', (host, allowed) => {
    expect(strict.checkHost(host, 443).allowed).toBe(allowed);
    if (allowed) expect(strict.checkHost(host, 8443).allowed).toBe(false);
  });

  it('a host the grant does not cover is refused with the exact moat.yaml line that allows it', () => {
    const d = strict.checkHost('sts.eu-west-1.amazonaws.com', 443);
    expect(d).toMatchObject({ allowed: false, kind: 'strict' });
    expect(d.suggestion).toBe('network:\n  rules:\n    - "sts.eu-west-1.amazonaws.com"');
  });
});

describe('through the gateway, strict policy, nothing listed', () => {
  let fake: FakeAws;
  let h: Harness;
  const HOSTS = ['sts.us-east-1.amazonaws.com', 'sts.eu-west-1.amazonaws.com', 'abc123.execute-api.us-east-1.amazonaws.com'];
  beforeAll(async () => {
    fake = await startFakeAws();
    h = await startHarness({
      policy: { policy: 'strict', rules: [] },
      upstreamOverride: new Map(HOSTS.map((host) => [`${host}:443`, { host: '127.0.0.1', port: fake.port }])),
      upstreamOverrideCA: fake.ca.certPem,
      aws: createAwsResigner({ grant: 'aws', placeholder: PLACEHOLDER, real: async () => fake.base, region: 'us-east-1' }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  const sts = async (host: string, region: string) => {
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const signer = new SignatureV4({ service: 'sts', region, sha256: Hash.bind(null, 'sha256'), credentials: PLACEHOLDER });
    const req = {
      method: 'POST',
      protocol: 'https:',
      hostname: host,
      path: '/',
      query: {},
      headers: { host, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    };
    const signed = (await signer.sign(req as never)) as unknown as { headers: Record<string, string> };
    const headers = { ...signed.headers };
    delete headers.host;
    return fetchVia(h, host, { method: 'POST', path: '/', headers, body });
  };

  it("the grant's regional STS endpoint works; another region and an API Gateway host are refused before any byte reaches AWS", async () => {
    const ok = await sts('sts.us-east-1.amazonaws.com', 'us-east-1');
    expect(ok.status, ok.body).toBe(200);
    expect(fake.log.at(-1)).toMatchObject({ service: 'sts', key: fake.base.accessKeyId });
    const before = fake.log.length + fake.failures.length;
    const other = await sts('sts.eu-west-1.amazonaws.com', 'eu-west-1');
    expect(other.status).toBe(403);
    expect(other.body).toContain('sts.eu-west-1.amazonaws.com');
    expect((await fetchVia(h, 'abc123.execute-api.us-east-1.amazonaws.com', { path: '/' })).status).toBe(403);
    expect(fake.log.length + fake.failures.length).toBe(before);
  });
});
