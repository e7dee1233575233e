import { createHash } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { awsGrantHosts } from './aws-hosts.js';
import { type ChunkSigner, resignChunked, sameSignature } from './aws-chunked.js';
import { type AwsKeys, AwsRefusal, type AwsRequestIn, type AwsRequestOut, type AwsResigner, isAwsHost } from './aws-types.js';

/**
 * SigV4 re-signing with AWS's own signer (@smithy/signature-v4). A request to an AWS endpoint must be
 * signed with the run's placeholder key: the signature is recomputed with the placeholder secret and
 * compared in constant time (anything else is refused, never forwarded). Then it is signed again, over
 * the same headers, date, service and region, with the real credentials only the daemon holds:
 * - header signatures (`Authorization: AWS4-HMAC-SHA256 …`), with `x-amz-content-sha256` a hash,
 *   `UNSIGNED-PAYLOAD`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (the body passes as it is) or
 *   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` (every chunk signature re-signed, aws-chunked.ts);
 *   without that header (most services) the body is read (at most `maxBodyBytes`) to hash it;
 * - presigned URLs (`X-Amz-Signature` in the query).
 * The container's session token is the placeholder's; the real one (if any) replaces it. An unsigned
 * request (a public bucket's object) carries no credential and is forwarded as it is, with none added.
 */

export interface AwsResignerOptions {
  grant: string;
  placeholder: AwsKeys;
  /** The real credentials now (the daemon refreshes them; each request reads the current ones). */
  real(): Promise<AwsKeys>;
  /** Extra endpoints (host or host:port) this grant signs besides *.amazonaws.com[.cn]. */
  endpoints?: string[];
  /** The grant's region: its endpoints are the grant's hosts under a strict policy. Default us-east-1. */
  region?: string;
  /** Largest body read whole to hash (requests without x-amz-content-sha256). Default 16 MiB. */
  maxBodyBytes?: number;
  /** Largest aws-chunked chunk. Default 16 MiB. */
  maxChunkBytes?: number;
}

const AUTH_RE = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})$/;
const SCOPE_RE = /^([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,64})\/aws4_request$/;
const DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNED_HEADERS_RE = /^[a-z0-9!#$%&'*+.^_`|~-]+(?:;[a-z0-9!#$%&'*+.^_`|~-]+)*$/;
const MIB = 1024 * 1024;
const notPlaceholder = (what: string): AwsRefusal =>
  new AwsRefusal(
    403,
    `Moat refused this AWS request: ${what}. Inside a moat run, AWS requests must be signed with the placeholder credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; moat signs them with the real ones.`,
  );
const malformed = (what: string): AwsRefusal => new AwsRefusal(400, `Moat refused this AWS request: ${what}.`);

type Query = Record<string, string | string[]>;
interface Parsed {
  accessKeyId: string;
  date: Date;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}
/** The request shape the signer reads (HttpRequest's fields). */
interface SignableRequest {
  method: string;
  protocol: string;
  hostname: string;
  path: string;
  query: Query;
  headers: Record<string, string>;
  body?: Uint8Array;
}

function parseDate(text: string | undefined): Date | undefined {
  const m = DATE_RE.exec(text ?? '');
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function parseScope(credential: string, dateText: string | undefined): Omit<Parsed, 'signedHeaders' | 'signature'> {
  const m = SCOPE_RE.exec(credential);
  const date = parseDate(dateText);
  if (!m || !date) throw malformed('its SigV4 credential scope or date is malformed');
  if (dateText!.slice(0, 8) !== m[2]) throw malformed('its credential scope date differs from its signing date');
  return { accessKeyId: m[1]!, date, region: m[3]!, service: m[4]! };
}

export function parseQuery(query: string): Query {
  const out: Query = {};
  if (query === '') return out;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      v = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      throw malformed('its query string holds a malformed percent-escape');
    }
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** RFC 3986 encoding, as SigV4 canonicalises query strings. */
const escape = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export function formatQuery(q: Query): string {
  return Object.entries(q)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${escape(k)}=${escape(x)}`))
    .join('&');
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);
const split = (target: string): { path: string; query: string } => {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
};
const scopeOf = (p: Pick<Parsed, 'date' | 'region' | 'service'>): string =>
  `${p.date.toISOString().slice(0, 10).replace(/-/g, '')}/${p.region}/${p.service}/aws4_request`;

export function createAwsResigner(opts: AwsResignerOptions): AwsResigner {
  const maxBody = opts.maxBodyBytes ?? 16 * MIB;
  const maxChunk = opts.maxChunkBytes ?? 16 * MIB;
  const endpoints = (opts.endpoints ?? []).map((e) => e.toLowerCase());
  const signer = (p: Pick<Parsed, 'service' | 'region'>, keys: AwsKeys): SignatureV4 =>
    new SignatureV4({
      service: p.service,
      region: p.region,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
      // S3 signs the path as sent; every other service normalises and encodes it once more.
      uriEscapePath: !p.service.startsWith('s3'),
      credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, ...(keys.sessionToken ? { sessionToken: keys.sessionToken } : {}) },
    });
  /** The placeholder, with the session token only when the client sent it (and it is the placeholder's). */
  const placeholderAs = (sentToken: string | undefined): AwsKeys => {
    if (sentToken === undefined) return { accessKeyId: opts.placeholder.accessKeyId, secretAccessKey: opts.placeholder.secretAccessKey };
    if (!opts.placeholder.sessionToken || !sameSignature(sentToken, opts.placeholder.sessionToken))
      throw notPlaceholder('its session token is not the placeholder token moat gave this run');
    return opts.placeholder;
  };
  const checkKey = (id: string): void => {
    if (!sameSignature(id, opts.placeholder.accessKeyId))
      throw notPlaceholder('it is signed with an access key that is not the placeholder moat gave this run');
  };

  /** The signed headers' values as sent; `host` is the Host header. */
  const signedValues = (req: AwsRequestIn, names: string[], skip: Set<string>): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const name of names) {
      if (skip.has(name)) continue;
      const v = name === 'host' ? req.hostHeader : one(req.headers[name]);
      if (v === undefined) throw malformed(`it signs the header ${name} but does not send it`);
      out[name] = v;
    }
    return out;
  };

  async function readBody(body: AsyncIterable<Buffer> | null): Promise<Buffer> {
    if (!body) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of body) {
      n += c.length;
      if (n > maxBody)
        throw new AwsRefusal(
          413,
          `Moat refused this AWS request: its body is over ${maxBody / MIB} MiB and has no x-amz-content-sha256 header, so moat would have to hold it whole to sign it.`,
        );
      parts.push(c);
    }
    return Buffer.concat(parts, n);
  }

  function chunkSigner(p: Parsed, keys: AwsKeys): ChunkSigner {
    const s = signer(p, keys);
    const scope = scopeOf(p);
    const longDate = p.date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    return {
      chunk: (prev, data) => s.sign({ headers: new Uint8Array(0), payload: data }, { signingDate: p.date, priorSignature: prev }),
      trailer: (prev, canonical) =>
        s.sign(['AWS4-HMAC-SHA256-TRAILER', longDate, scope, prev, createHash('sha256').update(canonical).digest('hex')].join('\n'), { signingDate: p.date }),
    };
  }

  async function resignHeader(req: AwsRequestIn, auth: string): Promise<AwsRequestOut> {
    const m = AUTH_RE.exec(auth);
    if (!m) throw malformed('its Authorization header is not a SigV4 (AWS4-HMAC-SHA256) signature');
    if (!SIGNED_HEADERS_RE.test(m[2]!)) throw malformed('its SignedHeaders list is malformed');
    const p: Parsed = { ...parseScope(m[1]!, one(req.headers['x-amz-date'])), signedHeaders: m[2]!.split(';'), signature: m[3]! };
    checkKey(p.accessKeyId);
    const sentToken = one(req.headers['x-amz-security-token']);
    const placeholder = placeholderAs(sentToken);
    // The signer sets these itself (date from signingDate, token from the credentials).
    const skip = new Set(['x-amz-date', 'x-amz-security-token', 'authorization']);
    const headers = signedValues(req, p.signedHeaders, skip);
    const contentSha = headers['x-amz-content-sha256'];
    let body: AwsRequestOut['body'] = req.body;
    let hashBody: Buffer | undefined;
    if (contentSha === undefined) hashBody = body = await readBody(req.body);
    const signable = (target: string, h: Record<string, string>): SignableRequest => ({
      method: req.method,
      protocol: 'https:',
      hostname: req.host,
      path: split(target).path,
      query: parseQuery(split(target).query),
      headers: h,
      ...(hashBody ? { body: hashBody } : {}),
    });
    const args = { signingDate: p.date, signableHeaders: new Set(p.signedHeaders) };
    const check = (await signer(p, placeholder).sign(signable(req.rawTarget, { ...headers }), args)) as SignableRequest;
    const got = AUTH_RE.exec(check.headers.authorization ?? '');
    if (!got || got[2] !== m[2] || !sameSignature(got[3]!, p.signature))
      throw notPlaceholder('its signature does not match the placeholder credentials moat gave this run');

    const real = await opts.real();
    const signed = (await signer(p, real).sign(signable(req.target, { ...headers }), args)) as SignableRequest;
    const out: AwsRequestOut['headers'] = { ...req.headers, host: req.hostHeader };
    delete out['x-amz-security-token'];
    for (const h of ['authorization', 'x-amz-date', 'x-amz-security-token']) if (signed.headers[h] !== undefined) out[h] = signed.headers[h];
    const seedReal = AUTH_RE.exec(signed.headers.authorization ?? '')?.[3] ?? '';
    if (contentSha === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || contentSha === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER') {
      if (!req.body) throw malformed('it announces an aws-chunked body but sends none');
      body = resignChunked(req.body, {
        placeholder: chunkSigner(p, placeholder),
        real: chunkSigner(p, real),
        seedPlaceholder: p.signature,
        seedReal,
        trailer: contentSha.endsWith('-TRAILER'),
        maxChunk,
      });
    } else if (contentSha?.startsWith('STREAMING-') && contentSha !== 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') {
      throw malformed(`moat cannot re-sign the payload mode ${contentSha.slice(0, 64)}`);
    }
    return { target: req.target, headers: out, body, service: p.service, region: p.region };
  }

  async function resignQuery(req: AwsRequestIn, query: Query): Promise<AwsRequestOut> {
    const text = (k: string): string | undefined => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
    if (text('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw malformed('its presigned URL is not SigV4 (X-Amz-Algorithm=AWS4-HMAC-SHA256)');
    const signedList = text('X-Amz-SignedHeaders') ?? '';
    const signature = text('X-Amz-Signature') ?? '';
    const expires = Number(text('X-Amz-Expires'));
    if (!SIGNED_HEADERS_RE.test(signedList) || !/^[0-9a-f]{64}$/.test(signature) || !Number.isInteger(expires) || expires < 1 || expires > 604_800) {
      throw malformed('its presigned URL is missing or malforms X-Amz-SignedHeaders, X-Amz-Signature or X-Amz-Expires');
    }
    const p: Parsed = { ...parseScope(text('X-Amz-Credential') ?? '', text('X-Amz-Date')), signedHeaders: signedList.split(';'), signature };
    checkKey(p.accessKeyId);
    const placeholder = placeholderAs(text('X-Amz-Security-Token'));
    const headers = signedValues(req, p.signedHeaders, new Set());
    const base: Query = { ...query };
    for (const k of ['X-Amz-Signature', 'X-Amz-Security-Token']) delete base[k];
    const s3 = p.service.startsWith('s3');
    // The payload S3 presigns is UNSIGNED-PAYLOAD; other services sign the (empty) body's hash.
    const payload = s3 ? { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } : {};
    const presign = async (keys: AwsKeys, path: string): Promise<Query> => {
      const r = (await signer(p, keys).presign(
        {
          method: req.method,
          protocol: 'https:',
          hostname: req.host,
          path,
          query: { ...base },
          headers: { ...headers, ...payload },
        } as SignableRequest as never,
        {
          signingDate: p.date,
          expiresIn: expires,
          signableHeaders: new Set(p.signedHeaders),
          unsignableHeaders: new Set(Object.keys(payload).filter((h) => !p.signedHeaders.includes(h))),
          unhoistableHeaders: new Set(Object.keys({ ...headers, ...payload })),
        },
      )) as unknown as SignableRequest;
      return r.query;
    };
    const check = await presign(placeholder, split(req.rawTarget).path);
    if (check['X-Amz-SignedHeaders'] !== signedList || !sameSignature(String(check['X-Amz-Signature']), signature)) {
      throw notPlaceholder('its presigned URL signature does not match the placeholder credentials moat gave this run');
    }
    const real = await opts.real();
    const path = split(req.target).path;
    const signed = await presign(real, path);
    return {
      target: `${path}?${formatQuery(signed)}`,
      headers: { ...req.headers, host: req.hostHeader },
      body: req.body,
      service: p.service,
      region: p.region,
    };
  }

  return {
    grant: opts.grant,
    hosts: awsGrantHosts(opts.region ?? 'us-east-1', endpoints),
    matches: (host, port) => isAwsHost(host, port, endpoints),
    async resign(req) {
      const auth = one(req.headers.authorization);
      const query = parseQuery(split(req.rawTarget).query);
      const presigned = 'X-Amz-Signature' in query || 'X-Amz-Credential' in query;
      if (auth !== undefined && presigned) throw malformed('it carries both an Authorization header and a presigned query');
      if (auth !== undefined) return resignHeader(req, auth);
      if (presigned) return resignQuery(req, query);
      // Unsigned (a public bucket, say): it carries no credential, and gets none.
      return undefined;
    },
  };
}
