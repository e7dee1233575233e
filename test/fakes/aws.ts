import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { type CA, createCA } from '../../src/gateway/ca.js';
import { LeafCache } from '../../src/gateway/leaf.js';

/**
 * A fake AWS for tests, loopback only: an HTTPS front that verifies every SigV4 signature (header and
 * presigned, every aws-chunked chunk signature, the CRC32 checksum trailer) with the keys it issued,
 * using AWS's own signer as the reference, then answers STS itself (GetCallerIdentity, AssumeRole in
 * the real XML wire format) and hands S3 requests, decoded, to s3rver. `seenKeys` lists every access
 * key id it was sent; `failures` every request it refused.
 */

export interface FakeKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface FakeAws {
  ca: CA;
  port: number;
  /** The long-term keys of the "user" (what the daemon's default credential chain holds). */
  base: FakeKeys;
  /** Session credentials AssumeRole issued, in order. */
  issued: FakeKeys[];
  seenKeys: Set<string>;
  failures: string[];
  /** Requests verified: "<service> <method> <path>" plus how the payload was signed. */
  log: { service: string; method: string; path: string; payload: string; key: string }[];
  close(): Promise<void>;
}

interface S3rverLike {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (o: Record<string, unknown>) => S3rverLike;

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;
const hex = (n: number): string => randomBytes(n).toString('hex');
const sameText = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const parseDate = (s: string): Date => new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);

export function newKeys(prefix = 'ASIA', token = true): FakeKeys {
  const id = `${prefix}${hex(8).toUpperCase()}`;
  return { accessKeyId: id, secretAccessKey: randomBytes(30).toString('base64'), ...(token ? { sessionToken: randomBytes(96).toString('base64') } : {}) };
}

class Refused extends Error {}

export async function startFakeAws(opts: { ca?: CA; sessionSeconds?: number; account?: string } = {}): Promise<FakeAws> {
  const ca = opts.ca ?? (await createCA('Moat Test AWS CA'));
  const leafs = new LeafCache(ca);
  const dir = await mkdtemp(join(tmpdir(), 'moat-s3rver-'));
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, resetOnClose: true, vhostBuckets: true });
  const s3addr = await s3.run();
  const base = newKeys('AKIA', false);
  const keys = new Map<string, FakeKeys>([[base.accessKeyId, base]]);
  /** Who each issued session is (its assumed-role ARN). */
  const arns = new Map<string, string>();
  const fake: Omit<FakeAws, 'port' | 'close'> = { ca, base, issued: [], seenKeys: new Set(), failures: [], log: [] };

  const signer = (k: FakeKeys, service: string, region: string): SignatureV4 =>
    new SignatureV4({
      service,
      region,
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: !service.startsWith('s3'),
      applyChecksum: false,
      credentials: { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, ...(k.sessionToken ? { sessionToken: k.sessionToken } : {}) },
    });

  async function verify(req: http.IncomingMessage, body: Buffer): Promise<{ service: string; body: Buffer; key: FakeKeys; payload: string }> {
    const url = new URL(req.url ?? '/', 'https://x');
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const presigned = 'X-Amz-Signature' in query;
    const auth = req.headers.authorization ?? '';
    let id: string;
    let date: string;
    let region: string;
    let service: string;
    let signedHeaders: string;
    let signature: string;
    if (presigned) {
      [id = '', date = '', region = '', service = ''] = (query['X-Amz-Credential'] ?? '').split('/');
      date = query['X-Amz-Date'] ?? '';
      signedHeaders = query['X-Amz-SignedHeaders'] ?? '';
      signature = query['X-Amz-Signature'] ?? '';
    } else {
      const m = AUTH_RE.exec(auth);
      if (!m) throw new Refused(`no SigV4 authorization: ${auth.slice(0, 40)}`);
      [, id = '', , region = '', service = '', signedHeaders = '', signature = ''] = m;
      date = String(req.headers['x-amz-date'] ?? '');
    }
    fake.seenKeys.add(id);
    const key = keys.get(id);
    if (!key) throw new Refused(`unknown access key ${id}`);
    const token = presigned ? query['X-Amz-Security-Token'] : (req.headers['x-amz-security-token'] as string | undefined);
    if ((key.sessionToken ?? '') !== (token ?? '')) throw new Refused(`session token mismatch for ${id}`);
    const headers: Record<string, string> = {};
    for (const h of signedHeaders.split(';')) if (h !== 'x-amz-date' && h !== 'x-amz-security-token') headers[h] = String(req.headers[h] ?? '');
    const s = signer(key, service, region);
    const signingDate = parseDate(date);
    const payloadHeader = req.headers['x-amz-content-sha256'] as string | undefined;
    let expected: string;
    if (presigned) {
      const q = { ...query };
      delete q['X-Amz-Signature'];
      delete q['X-Amz-Security-Token'];
      const payload = service === 's3' ? { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } : {};
      const r = await s.presign(
        { method: req.method, protocol: 'https:', hostname: 'x', path: rawPath, query: q, headers: { ...headers, ...payload } } as never,
        {
          signingDate,
          expiresIn: Number(query['X-Amz-Expires']),
          signableHeaders: new Set(signedHeaders.split(';')),
          unsignableHeaders: new Set(Object.keys(payload)),
          unhoistableHeaders: new Set(Object.keys({ ...headers, ...payload })),
        },
      );
      expected = String((r as unknown as { query: Record<string, string> }).query['X-Amz-Signature']);
    } else {
      const r = await s.sign(
        { method: req.method, protocol: 'https:', hostname: 'x', path: rawPath, query, headers, ...(payloadHeader ? {} : { body }) } as never,
        { signingDate, signableHeaders: new Set(signedHeaders.split(';')) },
      );
      expected = /Signature=([0-9a-f]{64})/.exec(String((r as unknown as { headers: Record<string, string> }).headers.authorization))?.[1] ?? '';
    }
    if (!sameText(expected, signature)) throw new Refused(`signature mismatch (${service} ${req.method} ${rawPath})`);
    let out = body;
    const payload = presigned ? 'presigned' : (payloadHeader ?? 'hashed');
    if (payloadHeader === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') out = await decodeSigned(body, s, signingDate, signature);
    else if (payloadHeader === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') out = decodeUnsignedTrailer(body, req.headers['x-amz-trailer'] as string | undefined);
    else if (payloadHeader && /^[0-9a-f]{64}$/.test(payloadHeader) && createHash('sha256').update(body).digest('hex') !== payloadHeader)
      throw new Refused('payload hash mismatch');
    return { service, body: out, key, payload };
  }

  async function decodeSigned(body: Buffer, s: SignatureV4, signingDate: Date, seed: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let prev = seed;
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      const m = /^([0-9a-f]+);chunk-signature=([0-9a-f]{64})$/.exec(body.subarray(at, eol).toString());
      if (!m) throw new Refused('bad chunk header');
      const size = parseInt(m[1]!, 16);
      const data = body.subarray(eol + 2, eol + 2 + size);
      prev = await s.sign({ headers: new Uint8Array(0), payload: data }, { signingDate, priorSignature: prev });
      if (prev !== m[2]) throw new Refused('chunk signature mismatch');
      parts.push(data);
      at = eol + 2 + size + 2;
      if (size === 0) break;
    }
    return Buffer.concat(parts);
  }

  function decodeUnsignedTrailer(body: Buffer, trailer: string | undefined): Buffer {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      const size = parseInt(body.subarray(at, eol).toString(), 16);
      if (!Number.isFinite(size)) throw new Refused('bad unsigned chunk header');
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + (size === 0 ? 0 : 2);
      if (size === 0) break;
    }
    const data = Buffer.concat(parts);
    const rest = body.subarray(at).toString();
    const crc = /x-amz-checksum-crc32:([A-Za-z0-9+/=]+)\r\n/.exec(rest)?.[1];
    if (trailer === 'x-amz-checksum-crc32') {
      const want = Buffer.alloc(4);
      want.writeUInt32BE((zlib as unknown as { crc32(d: Buffer): number }).crc32(data));
      if (crc !== want.toString('base64')) throw new Refused('CRC32 trailer mismatch');
    }
    return data;
  }

  function sts(res: http.ServerResponse, form: URLSearchParams, key: FakeKeys): void {
    const account = opts.account ?? '123456789012';
    const action = form.get('Action');
    const xml = (name: string, inner: string): string =>
      `<${name}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${name}Result>${inner}</${name}Result><ResponseMetadata><RequestId>${hex(8)}</RequestId></ResponseMetadata></${name}Response>`;
    res.setHeader('content-type', 'text/xml');
    if (action === 'GetCallerIdentity') {
      res.end(
        xml(
          'GetCallerIdentity',
          `<Arn>${arns.get(key.accessKeyId) ?? `arn:aws:iam::${account}:user/tester`}</Arn><UserId>${key === base ? 'AIDATESTUSER0000000' : 'AROATESTROLE0000000:moat'}</UserId><Account>${account}</Account>`,
        ),
      );
      return;
    }
    if (action === 'AssumeRole') {
      const role = form.get('RoleArn') ?? '';
      const session = form.get('RoleSessionName') ?? '';
      const issued = newKeys('ASIA', true);
      keys.set(issued.accessKeyId, issued);
      fake.issued.push(issued);
      arns.set(issued.accessKeyId, `${role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${session}`);
      const expires = new Date(Date.now() + (opts.sessionSeconds ?? Number(form.get('DurationSeconds') ?? 3600)) * 1000).toISOString();
      res.end(
        xml(
          'AssumeRole',
          `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${issued.secretAccessKey}</SecretAccessKey><SessionToken>${issued.sessionToken!}</SessionToken><Expiration>${expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA${hex(6).toUpperCase()}:${session}</AssumedRoleId><Arn>${role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${session}</Arn></AssumedRoleUser>`,
        ),
      );
      return;
    }
    res.statusCode = 400;
    res.end(`<ErrorResponse><Error><Code>InvalidAction</Code><Message>${action ?? ''}</Message></Error></ErrorResponse>`);
  }

  // s3rver routes no key with an empty segment (`a//b`: a legal S3 key, distinct from `a/b`) and would
  // store it as `a/b`: such objects (simple PUT and GET) are kept here, per host and path.
  const emptySegmentObjects = new Map<string, Buffer>();
  function emptySegmentKey(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!path.includes('//')) return false;
    const id = `${String(req.headers.host)} ${path}`;
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    if (req.method === 'PUT') {
      emptySegmentObjects.set(id, body);
      res.writeHead(200, { etag, 'content-length': '0' });
      res.end();
    } else if (req.method === 'GET' && emptySegmentObjects.has(id)) {
      const data = emptySegmentObjects.get(id)!;
      res.writeHead(200, {
        etag: `"${createHash('md5').update(data).digest('hex')}"`,
        'content-type': 'application/octet-stream',
        'content-length': data.length,
      });
      res.end(data);
    } else {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
    }
    return true;
  }

  function toS3rver(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    if (emptySegmentKey(req, res, body)) return;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (
        k === 'authorization' ||
        k.startsWith('x-amz-content-sha256') ||
        k === 'x-amz-security-token' ||
        k === 'x-amz-decoded-content-length' ||
        k === 'x-amz-trailer' ||
        k === 'transfer-encoding'
      )
        continue;
      if (k === 'content-encoding' && String(v).includes('aws-chunked')) continue;
      headers[k] = v;
    }
    headers['content-length'] = String(body.length);
    const url = new URL(req.url ?? '/', 'https://x');
    for (const k of [...url.searchParams.keys()]) if (k.startsWith('X-Amz-')) url.searchParams.delete(k);
    const up = http.request({ host: '127.0.0.1', port: s3addr.port, method: req.method, path: `${url.pathname}${url.search}`, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  }

  const server = https.createServer(
    {
      SNICallback: (name, cb) =>
        void leafs.get(name).then(
          (ctx) => cb(null, ctx),
          (err: Error) => cb(err),
        ),
    },
    (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        verify(req, body).then(
          ({ service, body: decoded, key, payload }) => {
            fake.log.push({ service, method: req.method ?? '', path: req.url ?? '', payload, key: key.accessKeyId });
            if (service === 'sts') sts(res, new URLSearchParams(decoded.toString()), key);
            else toS3rver(req, res, decoded);
          },
          (err: unknown) => {
            fake.failures.push(err instanceof Error ? err.message : String(err));
            res.writeHead(403, { 'content-type': 'application/xml' });
            res.end(
              `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>${err instanceof Refused ? err.message : 'error'}</Message></Error>`,
            );
          },
        );
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ...fake,
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await s3.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
