/**
 * S3 signed streaming uploads (aws-chunked) re-signed chunk by chunk, checked against AWS's published
 * example ("Signature calculations … transferring payload in multiple chunks": 64 KiB + 1 KiB of 'a'),
 * and hostile framing that must fail fast instead of stalling or exhausting the gateway.
 */
import { createHash } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { createAwsResigner } from '../../../src/gateway/aws-resign.js';
import { type AwsKeys, type AwsRequestIn, type AwsRequestOut, isAwsRefusal } from '../../../src/gateway/aws-types.js';

const EXAMPLE: AwsKeys = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const REAL: AwsKeys = {
  accessKeyId: 'ASIAREALREALREAL0001',
  secretAccessKey: 'realSecretKeyrealSecretKeyrealSecretKey',
  sessionToken: 'real-session-token-xyz',
};
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];
const DATE = new Date('2013-05-24T00:00:00Z');
const HEADERS = {
  'x-amz-date': '20130524T000000Z',
  'x-amz-storage-class': 'REDUCED_REDUNDANCY',
  'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'content-encoding': 'aws-chunked',
  'x-amz-decoded-content-length': '66560',
  'content-length': '66824',
};
const SIGNED = 'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class';

const frame = (data: Buffer, sig: string): Buffer =>
  Buffer.concat([Buffer.from(`${data.length.toString(16)};chunk-signature=${sig}\r\n`), data, Buffer.from('\r\n')]);
const exampleBody = (): Buffer =>
  Buffer.concat([frame(Buffer.alloc(65536, 'a'), SIGS[0]!), frame(Buffer.alloc(1024, 'a'), SIGS[1]!), frame(Buffer.alloc(0), SIGS[2]!)]);

async function* pieces(buf: Buffer, size = 7000): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function drain(body: AwsRequestOut['body']): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  const out: Buffer[] = [];
  for await (const c of body) out.push(c);
  return Buffer.concat(out);
}
const request = (
  body: AsyncIterable<Buffer>,
  auth = `AWS4-HMAC-SHA256 Credential=${EXAMPLE.accessKeyId}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${SIGNED},Signature=${SEED}`,
): AwsRequestIn => ({
  method: 'PUT',
  host: 's3.amazonaws.com',
  port: 443,
  hostHeader: 's3.amazonaws.com',
  rawTarget: '/examplebucket/chunkObject.txt',
  target: '/examplebucket/chunkObject.txt',
  headers: { ...HEADERS, authorization: auth },
  body,
});
const resigner = () => createAwsResigner({ grant: 'aws', placeholder: EXAMPLE, real: async () => REAL, maxChunkBytes: 128 * 1024 });

async function refused(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isAwsRefusal(err)) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}
/** Re-sign and read the whole body (chunk errors surface while reading). */
const run = async (body: Buffer | AsyncIterable<Buffer>): Promise<{ out: AwsRequestOut; bytes: Buffer }> => {
  const out = (await resigner().resign(request(Buffer.isBuffer(body) ? pieces(body) : body)))!;
  return { out, bytes: await drain(out.body) };
};

describe('aws-chunked', () => {
  it("AWS's example verifies with its key, and every chunk is re-signed in AWS's real-key chain (length kept)", async () => {
    const { out, bytes } = await run(exampleBody());
    expect(bytes.length).toBe(66824);
    // The expected real chain, computed with AWS's signer from the real seed signature.
    const real = new SignatureV4({
      service: 's3',
      region: 'us-east-1',
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: false,
      applyChecksum: false,
      credentials: { accessKeyId: REAL.accessKeyId, secretAccessKey: REAL.secretAccessKey, sessionToken: REAL.sessionToken! },
    });
    const seed = /Signature=([0-9a-f]{64})/.exec(String(out.headers.authorization))![1]!;
    expect(String(out.headers.authorization)).toContain(`Credential=${REAL.accessKeyId}/20130524/us-east-1/s3/aws4_request`);
    let prev = seed;
    const want: Buffer[] = [];
    for (const size of [65536, 1024, 0]) {
      prev = await real.sign({ headers: new Uint8Array(0), payload: Buffer.alloc(size, 'a') }, { signingDate: DATE, priorSignature: prev });
      want.push(frame(Buffer.alloc(size, 'a'), prev));
    }
    expect(bytes.equals(Buffer.concat(want))).toBe(true);
    expect(bytes.includes(Buffer.from(SIGS[0]!))).toBe(false);
  });

  it('one byte of a chunk changed: refused (403)', async () => {
    const body = exampleBody();
    body[200] = 0x62;
    expect((await refused(run(body))).status).toBe(403);
  });

  it('a chunk length over the limit (0xffffffff) is refused at once, before any data is read', async () => {
    let reads = 0;
    async function* hostile(): AsyncGenerator<Buffer> {
      reads++;
      yield Buffer.from(`ffffffff;chunk-signature=${SIGS[0]}\r\n`);
      for (;;) {
        reads++;
        yield Buffer.alloc(65536, 'a');
      }
    }
    const r = await refused(run(hostile()));
    expect(r.status).toBe(400);
    expect(r.message).toMatch(/exceeds/);
    expect(reads).toBe(1);
  });

  it('an endless header line is refused after 128 bytes, not buffered', async () => {
    let reads = 0;
    async function* hostile(): AsyncGenerator<Buffer> {
      for (;;) {
        reads++;
        yield Buffer.alloc(64, '1');
      }
    }
    expect((await refused(run(hostile()))).message).toMatch(/longer than 128/);
    expect(reads).toBeLessThan(5);
  });

  it.each([
    ['not hex', Buffer.from(`zz;chunk-signature=${SIGS[0]}\r\n`)],
    ['negative size', Buffer.from(`-1;chunk-signature=${SIGS[0]}\r\n`)],
    ['no signature', Buffer.from('400\r\n')],
    ['truncated chunk', Buffer.concat([Buffer.from(`10000;chunk-signature=${SIGS[0]}\r\n`), Buffer.alloc(100, 'a')])],
    ['no CRLF after data', Buffer.concat([frame(Buffer.alloc(65536, 'a'), SIGS[0]!).subarray(0, -2), Buffer.from('XY')])],
    ['bytes after the final chunk', Buffer.concat([exampleBody(), Buffer.from('extra')])],
    ['empty body', Buffer.alloc(0)],
  ])('malformed framing (%s) is refused (400)', async (_name, body) => {
    expect((await refused(run(body))).status).toBe(400);
  });
});

/**
 * The signed-trailer variant (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`): chunk signatures, then
 * trailing headers signed by `x-amz-trailer-signature` chained from the final chunk's signature. The
 * client side is made by AWS's signers: the request and the chunks by @smithy/signature-v4, the
 * trailer by its string signer over AWS's trailer string-to-sign, checked first against the vector
 * AWS's Common Runtime (aws-c-auth, through aws-crt-swift's ChunkSignerTests) publishes for the same
 * example key and chunks: trailer `first:1st`, `second:2nd`, `third:3rd` after the final chunk
 * b6c6ea8a… signs to df5735bd….
 */
describe('aws-chunked with a signed trailer', () => {
  const CRT_TRAILER_SIGNATURE = 'df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c';
  const TRAILER = ['first:1st', 'second:2nd', 'third:3rd'];
  const smithy = (k: AwsKeys) =>
    new SignatureV4({
      service: 's3',
      region: 'us-east-1',
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: false,
      applyChecksum: false,
      credentials: { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, ...(k.sessionToken ? { sessionToken: k.sessionToken } : {}) },
    });
  const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');
  /** AWS's trailer string-to-sign, signed by AWS's signer with the scope's derived key. */
  const trailerSignature = (k: AwsKeys, prev: string, lines: string[]): Promise<string> =>
    smithy(k).sign(
      ['AWS4-HMAC-SHA256-TRAILER', '20130524T000000Z', '20130524/us-east-1/s3/aws4_request', prev, sha256hex(lines.map((l) => `${l}\n`).join(''))].join('\n'),
      { signingDate: DATE },
    );
  const TRAILER_HEADERS = {
    ...HEADERS,
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'x-amz-trailer': 'first,second,third',
  };
  /** A request and body signed with `k` by AWS's signers; `data` is 64 KiB + 1 KiB of 'a' as in AWS's example. */
  async function signedUpload(k: AwsKeys, lines = TRAILER): Promise<{ auth: string; body: Buffer; chain: string[] }> {
    const req = {
      method: 'PUT',
      protocol: 'https:',
      hostname: 's3.amazonaws.com',
      path: '/examplebucket/chunkObject.txt',
      query: {},
      headers: { host: 's3.amazonaws.com', ...TRAILER_HEADERS },
    };
    const signed = (await smithy(k).sign(req as never, { signingDate: DATE })) as unknown as { headers: Record<string, string> };
    const auth = signed.headers.authorization!;
    expect(auth).toMatch(/SignedHeaders=[^,]*;x-amz-trailer,/);
    let prev = /Signature=([0-9a-f]{64})/.exec(auth)![1]!;
    const chain = [prev];
    const parts: Buffer[] = [];
    for (const size of [65536, 1024, 0]) {
      const data = Buffer.alloc(size, 'a');
      prev = await smithy(k).sign({ headers: new Uint8Array(0), payload: data }, { signingDate: DATE, priorSignature: prev });
      chain.push(prev);
      parts.push(Buffer.from(`${size.toString(16)};chunk-signature=${prev}\r\n`), data, Buffer.from(size === 0 ? '' : '\r\n'));
    }
    const trailerSig = await trailerSignature(k, prev, lines);
    chain.push(trailerSig);
    parts.push(Buffer.from(`${lines.map((l) => `${l}\r\n`).join('')}x-amz-trailer-signature:${trailerSig}\r\n\r\n`));
    return { auth, body: Buffer.concat(parts), chain };
  }
  const send = async (auth: string, body: Buffer): Promise<{ out: AwsRequestOut; bytes: Buffer }> => {
    const req = { ...request(pieces(body), auth), headers: { ...TRAILER_HEADERS, authorization: auth } };
    const out = (await resigner().resign(req))!;
    return { out, bytes: await drain(out.body) };
  };

  it("the test's trailer signer reproduces the vector of AWS's Common Runtime (so the client side below is AWS's)", async () => {
    expect(await trailerSignature(EXAMPLE, SIGS[2]!, TRAILER)).toBe(CRT_TRAILER_SIGNATURE);
  });

  it('verified with the placeholder, then every chunk and the trailer are re-signed in the real chain, length kept', async () => {
    const sent = await signedUpload(EXAMPLE);
    const { out, bytes } = await send(sent.auth, sent.body);
    const want = await signedUpload(REAL);
    expect(out.headers.authorization).toBe(want.auth);
    expect(bytes.length).toBe(sent.body.length);
    expect(bytes.toString('latin1')).toBe(want.body.toString('latin1'));
    expect(bytes.toString('latin1')).toContain(`first:1st\r\nsecond:2nd\r\nthird:3rd\r\nx-amz-trailer-signature:${want.chain.at(-1)!}\r\n\r\n`);
    for (const sig of sent.chain) expect(bytes.includes(Buffer.from(sig))).toBe(false);
  });

  it('a trailer value changed after signing (1st -> 1sT) is refused (403), nothing of the trailer forwarded', async () => {
    const sent = await signedUpload(EXAMPLE);
    const tampered = Buffer.from(sent.body.toString('latin1').replace('first:1st', 'first:1sT'), 'latin1');
    const r = await refused(send(sent.auth, tampered));
    expect(r.status).toBe(403);
    expect(r.message).toMatch(/trailer is not signed with the placeholder/);
  });

  it('a trailer header added after signing is refused (403)', async () => {
    const sent = await signedUpload(EXAMPLE);
    const added = Buffer.from(sent.body.toString('latin1').replace('third:3rd\r\n', 'third:3rd\r\nx-amz-checksum-crc32:AAAAAA==\r\n'), 'latin1');
    expect((await refused(send(sent.auth, added))).status).toBe(403);
  });

  it('a trailer signed with another key is refused (403)', async () => {
    const sent = await signedUpload(EXAMPLE);
    const other = await trailerSignature(REAL, sent.chain.at(-2)!, TRAILER);
    const swapped = Buffer.from(sent.body.toString('latin1').replace(sent.chain.at(-1)!, other), 'latin1');
    expect((await refused(send(sent.auth, swapped))).status).toBe(403);
  });

  it('one byte of a chunk changed is refused (403) before the trailer is read', async () => {
    const sent = await signedUpload(EXAMPLE);
    sent.body[300] = 0x62;
    const r = await refused(send(sent.auth, sent.body));
    expect(r.status).toBe(403);
    expect(r.message).toMatch(/a chunk is not signed/);
  });

  it.each([
    ['no trailer signature', (b: string) => b.replace(/x-amz-trailer-signature:[0-9a-f]{64}\r\n/, '')],
    ['no empty line after the trailer signature', (b: string) => b.replace(/\r\n\r\n$/, '\r\n')],
    ['bytes after the trailer', (b: string) => `${b}extra`],
  ])('malformed trailer (%s) is refused (400)', async (_name, edit) => {
    const sent = await signedUpload(EXAMPLE);
    const r = await refused(send(sent.auth, Buffer.from(edit(sent.body.toString('latin1')), 'latin1')));
    expect(r.status).toBe(400);
  });
});
