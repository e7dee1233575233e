/**
 * The AWS SDK for JavaScript v3 inside a run (issue 18), with its defaults, against a fake AWS that
 * verifies every SigV4 signature with the keys it issued (STS in its XML wire format, S3 by s3rver):
 * PutObject from a stream (its default CRC32 checksum in an aws-chunked trailer,
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER), a key with `//`, a multipart upload, GetObject, ListObjectsV2,
 * STS GetCallerIdentity. The policy is strict and lists no AWS host: the grant's hosts are usable like
 * any grant's, another region is refused with the moat.yaml line that allows it. The image (node and the
 * SDK from the npm registry) is built once, in beforeAll.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAws, startFakeAws } from '../fakes/aws.js';
import { cleanupHome, moat, tempDir } from './helpers.js';
import { awsHostEnv } from './fixtures/aws-env.js';
import { runIdOf, waitNetLog } from './fixtures/gateway-kit.js';

const BUCKET = 'moat-sdk';
const HOSTS = ['sts.us-east-1.amazonaws.com', 's3.us-east-1.amazonaws.com', `${BUCKET}.s3.us-east-1.amazonaws.com`];
const ROLE = 'arn:aws:iam::123456789012:role/sdk-agent';
const MOAT_YAML = [
  'dependencies: [node@22, "npm:@aws-sdk/client-s3@3.1175.0", "npm:@aws-sdk/client-sts@3.1177.0", "npm:https-proxy-agent@9.1.0"]',
  'grants: [aws]',
  'network:',
  '  policy: strict',
  '',
].join('\n');

let home: string;
let root: string;
let ws: string;
let fake: FakeAws;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await tempDir('aws-sdk-home');
  root = await tempDir('aws-sdk-ws');
  fake = await startFakeAws();
  env = await awsHostEnv(root, fake, HOSTS);
  ws = join(root, 'ws');
  await mkdir(ws, { recursive: true, mode: 0o755 });
  await writeFile(join(ws, 'moat.yaml'), MOAT_YAML);
  await copyFile(new URL('./fixtures/aws-sdk-run.mjs', import.meta.url), join(ws, 'sdk.mjs'));
  const g = await moat(['grant', 'aws', '--role', ROLE, '--region', 'us-east-1'], { home, cwd: ws, env });
  expect(g.code, g.stderr).toBe(0);
  // The one image build of this file (node 22 and the SDK from the npm registry).
  const started = Date.now();
  const warm = await moat(['run', '--approve-config', '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
  expect(warm.code, warm.stderr).toBe(0);
  console.log(`hostile-aws-sdk: image ready in ${Math.round((Date.now() - started) / 1000)} s`);
}, 900_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('the AWS SDK for JavaScript v3 in a run, strict policy', () => {
  it('STS, CreateBucket, PutObject (stream, checksum trailer), a // key, multipart, GetObject, ListObjectsV2: re-signed and verified with the real key', async () => {
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', 'echo RUN=$MOAT_RUN_ID; echo KEY=$AWS_ACCESS_KEY_ID; node sdk.mjs ' + BUCKET], {
      home,
      cwd: ws,
      env,
      timeoutMs: 180_000,
    });
    const id = runIdOf(r.stdout);
    if (r.code !== 0) {
      const failed = (await waitNetLog(home, id, 1)).filter((l) => l.status >= 400);
      expect(r.code, `${r.stdout}\n${r.stderr}\n${JSON.stringify(failed)}\n${fake.failures.join('\n')}`).toBe(0);
    }
    const value = (k: string): string | undefined => new RegExp(`^${k}=(.*)$`, 'm').exec(r.stdout)?.[1];
    expect(value('WHO')).toBe(`arn:aws:sts::123456789012:assumed-role/sdk-agent/moat-${id}`);
    expect({ stream: value('STREAM'), slashes: value('SLASHES'), multi: value('MULTI'), done: value('DONE') }).toEqual({
      stream: 'same',
      slashes: 'same',
      multi: 'same',
      done: 'ok',
    });
    expect(value('LIST')?.split(',').sort()).toEqual(
      expect.arrayContaining([`stream.bin:${3 * 1024 * 1024 + 17}`, `multi.bin:${5 * 1024 * 1024 + 700 * 1024}`]),
    );

    // The fake verified every request with keys it issued (never the placeholder), none failed.
    expect(fake.failures).toEqual([]);
    const issued = new Set(fake.issued.map((k) => k.accessKeyId));
    const placeholder = value('KEY') ?? '';
    expect(placeholder).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(fake.seenKeys.has(placeholder)).toBe(false);
    for (const l of fake.log.filter((e) => e.service === 's3')) expect(issued.has(l.key), JSON.stringify(l)).toBe(true);
    expect(fake.log.filter((e) => e.service === 'sts' && issued.has(e.key)).length).toBeGreaterThanOrEqual(1);
    const s3 = fake.log.filter((l) => l.service === 's3');
    // The SDK's default upload of a stream: aws-chunked with its CRC32 trailer (the fake checks the CRC).
    const path = (l: { path: string }): string => l.path.split('?')[0]!;
    expect(s3.filter((l) => l.method === 'PUT' && path(l) === '/stream.bin').map((l) => l.payload)).toEqual(['STREAMING-UNSIGNED-PAYLOAD-TRAILER']);
    const parts = s3.filter((l) => l.method === 'PUT' && path(l) === '/multi.bin' && l.path.includes('partNumber='));
    expect(parts.map((l) => l.payload)).toContain('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    expect(s3.some((l) => l.method === 'POST' && path(l) === '/multi.bin' && l.path.includes('uploadId='))).toBe(true);
    expect(s3.some((l) => l.method === 'GET' && path(l) === '/' && l.path.includes('list-type=2'))).toBe(true);
    // The key with "//" reached S3 as sent, both ways.
    expect(s3.filter((l) => l.path.startsWith('/dir')).map((l) => `${l.method} ${path(l)}`)).toEqual([
      'PUT /dir//file',
      'GET /dir//file',
      'PUT /dir/file',
      'GET /dir/file',
    ]);

    // Strict: another region is refused by the gateway, never reaches AWS, and the summary names the line.
    expect(value('OTHER_REGION')).toMatch(/^refused:/);
    expect(fake.seenKeys.size).toBeGreaterThan(0);
    // (The live line may not come before a short run ends; the summary always does.)
    expect(r.stderr).toMatch(/sts\.eu-west-1\.amazonaws\.com +blocked: strict policy/);
    expect(r.stderr).toContain('or add to moat.yaml: network: { rules: [ "sts.eu-west-1.amazonaws.com" ] }');
    // Only the uncovered region: every host the grant covers passed without a line.
    expect(r.stderr).not.toMatch(/blocked [^ ]*(us-east-1|moat-sdk)/);
    expect(r.stderr).not.toMatch(/(us-east-1|moat-sdk)[^ \n]* +blocked:/);
    const lines = await waitNetLog(home, id, 10);
    const refused = lines.find((l) => l.host === 'sts.eu-west-1.amazonaws.com');
    expect(refused?.status).toBe(403);
    type AwsLine = { host: string; status: number; grant?: string; aws?: { service: string; region: string } };
    const granted = (lines as unknown as AwsLine[]).filter((l) => l.status === 200 && l.host.endsWith('.amazonaws.com'));
    expect(granted.length).toBeGreaterThanOrEqual(10);
    for (const l of granted) expect(l.grant).toBe('aws');
  }, 240_000);
});
