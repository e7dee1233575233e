/**
 * SigV4 re-signing (issue 18) against fixtures signed by AWS's own signer (@smithy/signature-v4) and
 * AWS's published streaming-upload example: the placeholder signature is checked, a foreign key is
 * refused, and the output carries the signature AWS's signer makes with the real credentials.
 */
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { createAwsResigner } from '../../../src/gateway/aws-resign.js';
import { type AwsKeys, type AwsRequestIn, type AwsRequestOut, isAwsRefusal } from '../../../src/gateway/aws-types.js';

const PLACEHOLDER: AwsKeys = {
  accessKeyId: 'ASIAPLACEHOLDER00001',
  secretAccessKey: 'placeholderSecretKey0000000000000000000',
  sessionToken: 'placeholder-session-token',
};
const REAL: AwsKeys = {
  accessKeyId: 'ASIAREALREALREAL0001',
  secretAccessKey: 'realSecretKeyrealSecretKeyrealSecretKey',
  sessionToken: 'real-session-token-xyz',
};
const OTHER: AwsKeys = { accessKeyId: 'AKIAOTHEROTHEROTHER1', secretAccessKey: 'otherSecretotherSecretotherSecretotherS' };

const resigner = (placeholder: AwsKeys = PLACEHOLDER, real: AwsKeys = REAL) =>
  createAwsResigner({ grant: 'aws', placeholder, real: async () => real, maxChunkBytes: 1024 * 1024, maxBodyBytes: 1024 * 1024 });

const creds = (k: AwsKeys) => ({ accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, ...(k.sessionToken ? { sessionToken: k.sessionToken } : {}) });
const smithy = (keys: AwsKeys, service: string, region: string) =>
  new SignatureV4({
    service,
    region,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: !service.startsWith('s3'),
    applyChecksum: false,
    credentials: creds(keys),
  });

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1');
}
async function drain(body: AwsRequestOut['body']): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  const out: Buffer[] = [];
  for await (const c of body) out.push(c);
  return Buffer.concat(out);
}
async function refusal(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isAwsRefusal(err)) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}

/** A request signed by AWS's signer, as the container would send it through the gateway. */
async function signedRequest(
  keys: AwsKeys,
  opts: {
    method?: string;
    host?: string;
    target?: string;
    service?: string;
    region?: string;
    headers?: Record<string, string>;
    body?: string;
    date?: Date;
  } = {},
): Promise<AwsRequestIn> {
  const host = opts.host ?? 'sts.amazonaws.com';
  const target = opts.target ?? '/';
  const q = target.indexOf('?');
  const query = q < 0 ? {} : Object.fromEntries(new URLSearchParams(target.slice(q + 1)));
  const req = {
    method: opts.method ?? 'POST',
    protocol: 'https:',
    hostname: host,
    path: q < 0 ? target : target.slice(0, q),
    query,
    headers: { host, ...(opts.headers ?? {}) },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  };
  const signed = await smithy(keys, opts.service ?? 'sts', opts.region ?? 'us-east-1').sign(req as never, { signingDate: opts.date ?? new Date() });
  const headers = Object.fromEntries(Object.entries((signed as unknown as { headers: Record<string, string> }).headers).map(([k, v]) => [k.toLowerCase(), v]));
  delete headers.host;
  return {
    method: req.method,
    host,
    port: 443,
    hostHeader: host,
    rawTarget: target,
    target,
    headers,
    body: opts.body !== undefined ? chunks(opts.body) : null,
  };
}

describe('header signatures', () => {
  it('STS (body hashed): the placeholder signature is accepted and the output is exactly what AWS signs with the real keys', async () => {
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const date = new Date('2026-12-02T04:00:00Z');
    const opts = { headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body, date };
    const req = await signedRequest(PLACEHOLDER, opts);
    expect(req.headers['x-amz-security-token']).toBe(PLACEHOLDER.sessionToken);
    const out = await resigner().resign(req);
    const expected = await signedRequest(REAL, opts);
    expect(out?.headers.authorization).toBe(expected.headers.authorization);
    expect(out?.headers['x-amz-security-token']).toBe(REAL.sessionToken);
    expect(out?.headers['x-amz-date']).toBe('20261202T040000Z');
    expect(out?.service).toBe('sts');
    expect(out?.region).toBe('us-east-1');
    expect((await drain(out!.body)).toString()).toBe(body);
  });

  it('real long-term keys: the placeholder session token is removed, not forwarded', async () => {
    const req = await signedRequest(PLACEHOLDER, { body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    const out = await resigner(PLACEHOLDER, OTHER).resign(req);
    expect(out?.headers['x-amz-security-token']).toBeUndefined();
    expect(out?.headers.authorization).toContain(`Credential=${OTHER.accessKeyId}/`);
  });

  it('a request signed with another key is refused (403), never re-signed', async () => {
    const req = await signedRequest(OTHER, { body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    const r = await refusal(resigner().resign(req));
    expect(r.status).toBe(403);
    expect(r.message).toMatch(/not the placeholder/);
  });

  it('the placeholder key id with a wrong secret is refused (the signature is checked, not only the key id)', async () => {
    const req = await signedRequest({ ...PLACEHOLDER, secretAccessKey: OTHER.secretAccessKey }, { body: 'x=1' });
    expect((await refusal(resigner().resign(req))).status).toBe(403);
  });

  it('a body changed after signing is refused', async () => {
    const req = await signedRequest(PLACEHOLDER, { body: 'Action=GetCallerIdentity' });
    req.body = chunks('Action=AssumeRole');
    expect((await refusal(resigner().resign(req))).status).toBe(403);
  });

  it('a session token other than the placeholder token is refused', async () => {
    const req = await signedRequest({ ...PLACEHOLDER, sessionToken: 'someone-elses-token' }, { body: 'x=1' });
    expect((await refusal(resigner().resign(req))).message).toMatch(/session token/);
  });

  it('S3 UNSIGNED-PAYLOAD: the body streams untouched, headers re-signed over the same SignedHeaders', async () => {
    const opts = {
      method: 'PUT',
      host: 'bucket.s3.us-west-2.amazonaws.com',
      target: '/a%20key/x.txt',
      service: 's3',
      region: 'us-west-2',
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '5' },
      date: new Date('2026-12-02T04:00:00Z'),
    };
    const req = await signedRequest(PLACEHOLDER, opts);
    req.body = chunks('hello');
    const out = await resigner().resign(req);
    expect(out?.headers.authorization).toBe((await signedRequest(REAL, opts)).headers.authorization);
    expect((await drain(out!.body)).toString()).toBe('hello');
  });

  it('a body over the limit without x-amz-content-sha256 is refused with 413', async () => {
    const req = await signedRequest(PLACEHOLDER, { body: 'x=1' });
    req.body = chunks(Buffer.alloc(1024 * 1024 + 1));
    expect((await refusal(resigner().resign(req))).status).toBe(413);
  });

  it('an unsigned request passes untouched (no credential added)', async () => {
    const out = await resigner().resign({
      method: 'GET',
      host: 'pub.s3.amazonaws.com',
      port: 443,
      hostHeader: 'pub.s3.amazonaws.com',
      rawTarget: '/f.tgz',
      target: '/f.tgz',
      headers: {},
      body: null,
    });
    expect(out).toBeUndefined();
  });
});

describe('presigned URLs', () => {
  async function presigned(keys: AwsKeys, path = '/bucket/key.txt'): Promise<AwsRequestIn> {
    const host = 's3.us-east-1.amazonaws.com';
    const r = await smithy(keys, 's3', 'us-east-1').presign(
      { method: 'GET', protocol: 'https:', hostname: host, path, query: {}, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } } as never,
      {
        expiresIn: 900,
        signingDate: new Date('2026-12-02T04:00:00Z'),
        unsignableHeaders: new Set(['x-amz-content-sha256']),
        unhoistableHeaders: new Set(['x-amz-content-sha256']),
      },
    );
    const q = new URLSearchParams((r as unknown as { query: Record<string, string> }).query).toString().replace(/\+/g, '%20');
    return { method: 'GET', host, port: 443, hostHeader: host, rawTarget: `${path}?${q}`, target: `${path}?${q}`, headers: {}, body: null };
  }

  it('a URL presigned with the placeholder is signed anew with the real keys (as AWS presigns it)', async () => {
    const out = await resigner().resign(await presigned(PLACEHOLDER));
    const expected = await presigned(REAL);
    const got = new URLSearchParams(out!.target.split('?')[1]);
    const want = new URLSearchParams(expected.target.split('?')[1]);
    expect(got.get('X-Amz-Signature')).toBe(want.get('X-Amz-Signature'));
    expect(got.get('X-Amz-Credential')).toBe(want.get('X-Amz-Credential'));
    expect(got.get('X-Amz-Security-Token')).toBe(REAL.sessionToken);
    expect(out!.target).not.toContain(PLACEHOLDER.accessKeyId);
  });

  it('a URL presigned with a foreign key is refused', async () => {
    expect((await refusal(resigner().resign(await presigned(OTHER)))).status).toBe(403);
  });

  it('a presigned URL whose signature was tampered with is refused', async () => {
    const req = await presigned(PLACEHOLDER);
    req.rawTarget = req.target = req.target.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    expect((await refusal(resigner().resign(req))).status).toBe(403);
  });
});
