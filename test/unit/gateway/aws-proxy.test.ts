/**
 * The gateway re-signs AWS requests end to end (issue 18): requests signed by AWS's signer with the
 * placeholder go through the proxy to a fake AWS that verifies every signature with the real key
 * (STS, S3 with UNSIGNED-PAYLOAD, signed aws-chunked uploads, presigned URLs); a foreign key and
 * hostile aws-chunked framing are refused by the gateway and never reach the fake.
 */
import zlib from 'node:zlib';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsResigner } from '../../../src/gateway/aws-resign.js';
import type { AwsKeys } from '../../../src/gateway/aws-types.js';
import { type FakeAws, newKeys, startFakeAws } from '../../fakes/aws.js';
import { fetchVia, type Harness, startHarness, waitFor } from './helpers.js';

const PLACEHOLDER: AwsKeys = {
  accessKeyId: 'ASIAPLACEHOLDER00001',
  secretAccessKey: 'placeholderSecretKey0000000000000000000',
  sessionToken: 'placeholder-session-token',
};
const STS = 'sts.amazonaws.com';
const S3 = 's3.us-east-1.amazonaws.com';

let fake: FakeAws;
let h: Harness;

beforeAll(async () => {
  fake = await startFakeAws();
  const override = new Map([STS, S3].map((host) => [`${host}:443`, { host: '127.0.0.1', port: fake.port }]));
  h = await startHarness({
    upstreamOverride: override,
    upstreamOverrideCA: fake.ca.certPem,
    aws: createAwsResigner({ grant: 'aws', placeholder: PLACEHOLDER, real: async () => fake.base }),
  });
});
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

const signer = (keys: AwsKeys, service: string) =>
  new SignatureV4({
    service,
    region: 'us-east-1',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: service !== 's3',
    applyChecksum: false,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, ...(keys.sessionToken ? { sessionToken: keys.sessionToken } : {}) },
  });

/** Sign with `keys` as a client would, then send through the gateway. */
async function send(
  keys: AwsKeys,
  o: { service: string; host: string; method: string; path: string; headers?: Record<string, string>; body?: string | Buffer; hashBody?: boolean },
) {
  const req = {
    method: o.method,
    protocol: 'https:',
    hostname: o.host,
    path: o.path,
    query: {},
    headers: { host: o.host, ...(o.headers ?? {}) },
    ...(o.hashBody ? { body: o.body } : {}),
  };
  const signed = (await signer(keys, o.service).sign(req as never)) as unknown as { headers: Record<string, string> };
  const headers = { ...signed.headers };
  delete headers.host;
  return fetchVia(h, o.host, { method: o.method, path: o.path, headers, ...(o.body !== undefined ? { body: o.body } : {}) });
}

const getCallerIdentity = (keys: AwsKeys) =>
  send(keys, {
    service: 'sts',
    host: STS,
    method: 'POST',
    path: '/',
    hashBody: true,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetCallerIdentity&Version=2011-06-15',
  });

describe('the gateway re-signs AWS requests', () => {
  it('STS GetCallerIdentity signed with the placeholder: the fake verifies the real key; trace has service and region, never a key', async () => {
    const r = await getCallerIdentity(PLACEHOLDER);
    expect(r.status, r.body).toBe(200);
    expect(r.body).toContain('<Arn>arn:aws:iam::123456789012:user/tester</Arn>');
    expect([...fake.seenKeys]).toEqual([fake.base.accessKeyId]);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.host === STS && e.status === 200));
    expect(ev.grant).toBe('aws');
    expect(ev.aws).toEqual({ service: 'sts', region: 'us-east-1' });
    expect(JSON.stringify(ev)).not.toContain(fake.base.accessKeyId);
  });

  it('a request signed with another key is refused by the gateway (403) and never reaches AWS', async () => {
    const before = fake.log.length;
    const r = await getCallerIdentity(newKeys('AKIA', false));
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/not the placeholder/);
    expect(fake.log.length).toBe(before);
  });

  it('S3: bucket, a signed aws-chunked upload, and a presigned download, all verified with the real key', async () => {
    const mb = await send(PLACEHOLDER, {
      service: 's3',
      host: S3,
      method: 'PUT',
      path: '/moat-bucket',
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    expect(mb.status, mb.body).toBe(200);

    // A signed streaming upload: 3 chunks signed in the placeholder's chain.
    const data = Buffer.alloc(150_000, 'z');
    const sizes = [65536, 65536, data.length - 131072, 0];
    const frameLen = (n: number): number => n.toString(16).length + 17 + 64 + 2 + n + 2;
    const headers = {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length),
      'content-length': String(sizes.reduce((a, n) => a + frameLen(n), 0)),
    };
    const date = new Date();
    const s = signer(PLACEHOLDER, 's3');
    const req = { method: 'PUT', protocol: 'https:', hostname: S3, path: '/moat-bucket/obj.bin', query: {}, headers: { host: S3, ...headers } };
    const signed = (await s.sign(req as never, { signingDate: date })) as unknown as { headers: Record<string, string> };
    let prev = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization!)![1]!;
    const frames: Buffer[] = [];
    let at = 0;
    for (const n of sizes) {
      const chunk = data.subarray(at, at + n);
      at += n;
      prev = await s.sign({ headers: new Uint8Array(0), payload: chunk }, { signingDate: date, priorSignature: prev });
      frames.push(Buffer.from(`${n.toString(16)};chunk-signature=${prev}\r\n`), chunk, Buffer.from('\r\n'));
    }
    const sh = { ...signed.headers };
    delete sh.host;
    const put = await fetchVia(h, S3, { method: 'PUT', path: '/moat-bucket/obj.bin', headers: sh, body: Buffer.concat(frames) });
    expect(put.status, put.body).toBe(200);
    expect(fake.log.at(-1)).toMatchObject({ payload: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', key: fake.base.accessKeyId });

    // A presigned GET made with the placeholder.
    const pre = (await s.presign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: S3,
        path: '/moat-bucket/obj.bin',
        query: {},
        headers: { host: S3, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      } as never,
      { expiresIn: 300, unsignableHeaders: new Set(['x-amz-content-sha256']), unhoistableHeaders: new Set(['x-amz-content-sha256']) },
    )) as unknown as { query: Record<string, string> };
    const q = new URLSearchParams(pre.query).toString().replace(/\+/g, '%20');
    const got = await fetchVia(h, S3, { path: `/moat-bucket/obj.bin?${q}` });
    expect(got.status, got.body).toBe(200);
    expect(got.body).toBe(data.toString());
    expect(fake.log.at(-1)?.payload).toBe('presigned');
    expect(fake.failures).toEqual([]);
  });

  it("the SDK's default upload (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer) passes re-signed; the fake checks the CRC", async () => {
    const data = Buffer.from('checksum trailer body '.repeat(1000));
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE((zlib as unknown as { crc32(d: Buffer): number }).crc32(data));
    const body = Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crc.toString('base64')}\r\n\r\n`),
    ]);
    const r = await send(PLACEHOLDER, {
      service: 's3',
      host: S3,
      method: 'PUT',
      path: '/moat-bucket/trailer.txt',
      body,
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-decoded-content-length': String(data.length),
        'content-length': String(body.length),
      },
    });
    expect(r.status, r.body).toBe(200);
    expect(fake.log.at(-1)).toMatchObject({ payload: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', key: fake.base.accessKeyId });
    expect(fake.failures).toEqual([]);
  });

  it('hostile aws-chunked framing (a 4 GiB chunk length) is refused at once, and the gateway keeps serving', async () => {
    const headers = {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '10',
      'content-length': '200',
    };
    const body = Buffer.concat([Buffer.from(`ffffffff;chunk-signature=${'0'.repeat(64)}\r\n`), Buffer.alloc(200 - 92, 'a')]).subarray(0, 200);
    const before = fake.log.length + fake.failures.length;
    const started = Date.now();
    const r = await send(PLACEHOLDER, { service: 's3', host: S3, method: 'PUT', path: '/moat-bucket/evil', headers, body });
    expect(r.status, r.body).toBe(400);
    expect(r.body).toMatch(/exceeds/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fake.log.length + fake.failures.length).toBe(before);
    expect((await getCallerIdentity(PLACEHOLDER)).status).toBe(200);
  });
});
