import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { type CA, createCA } from '../../src/gateway/ca.js';
import { issueLeaf } from '../../src/gateway/leaf.js';

/**
 * A local AWS SSM endpoint (HTTPS, its own test CA, loopback only) that answers GetParameter in the real
 * JSON 1.1 wire format, after checking the request's SigV4 signature by recomputing it with AWS's own
 * signer and the test credentials: a request signed with other keys gets InvalidSignatureException, as
 * from AWS. `parameters` maps names to values; `errors` maps names to an AWS error type to answer with.
 */
export interface FakeSsm {
  ca: CA;
  url: string;
  /** What each request asked for (never the value answered). */
  requests: Array<{ target: string; name: string; withDecryption: boolean; region: string; signatureOk: boolean }>;
  close(): Promise<void>;
}

export interface FakeSsmOptions {
  credentials: { accessKeyId: string; secretAccessKey: string };
  parameters: Record<string, string>;
  errors?: Record<string, string>;
}

function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ __type: type, message });
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake-request-id', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Recompute the request's Authorization with the same signing date, region and signed headers. */
async function signatureMatches(req: IncomingMessage, body: string, creds: FakeSsmOptions['credentials']): Promise<{ ok: boolean; region: string }> {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/ssm\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, region: '' };
  const [, akid, , region = '', signedHeaders = ''] = m;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (akid !== creds.accessKeyId || !/^\d{8}T\d{6}Z$/.test(amzDate)) return { ok: false, region };
  const headers: Record<string, string> = {};
  for (const h of signedHeaders.split(';')) headers[h] = String(req.headers[h] ?? '');
  const signer = new SignatureV4({ credentials: creds, region, service: 'ssm', sha256: Hash.bind(null, 'sha256'), uriEscapePath: true });
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const [hostname = '', port] = String(req.headers.host ?? '').split(':');
  const signed = await signer.sign(
    {
      method: req.method ?? 'POST',
      protocol: 'https:',
      hostname,
      ...(port ? { port: Number(port) } : {}),
      path: req.url ?? '/',
      query: {},
      headers,
      body,
    },
    { signingDate: date, unsignableHeaders: new Set(), signableHeaders: new Set(Object.keys(headers)) },
  );
  return { ok: signed.headers.authorization === auth, region };
}

export async function startFakeSsm(opts: FakeSsmOptions): Promise<FakeSsm> {
  const ca = await createCA('Moat Test SSM CA');
  const leaf = await issueLeaf(ca, '127.0.0.1');
  const requests: FakeSsm['requests'] = [];
  const server = https.createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const target = String(req.headers['x-amz-target'] ?? '');
        let input: { Name?: unknown; WithDecryption?: unknown } = {};
        try {
          input = JSON.parse(body) as typeof input;
        } catch {
          /* answered below */
        }
        const sig = await signatureMatches(req, body, opts.credentials);
        const name = typeof input.Name === 'string' ? input.Name : '';
        requests.push({ target, name, withDecryption: input.WithDecryption === true, region: sig.region, signatureOk: sig.ok });
        if (!sig.ok) return awsError(res, 400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
        if (target !== 'AmazonSSM.GetParameter' || req.headers['content-type'] !== 'application/x-amz-json-1.1')
          return awsError(res, 400, 'UnknownOperationException', '');
        const err = opts.errors?.[name];
        if (err)
          return awsError(
            res,
            400,
            err,
            err === 'AccessDeniedException'
              ? `User: arn:aws:iam::123456789012:user/test is not authorized to perform: ssm:GetParameter on resource: ${name}`
              : 'The security token included in the request is expired',
          );
        const value = opts.parameters[name];
        if (value === undefined) return awsError(res, 400, 'ParameterNotFound', '');
        const out = JSON.stringify({
          Parameter: {
            ARN: `arn:aws:ssm:${sig.region}:123456789012:parameter${name}`,
            DataType: 'text',
            LastModifiedDate: 1.764633600123e9,
            Name: name,
            Type: 'SecureString',
            Value: value,
            Version: 3,
          },
        });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake-request-id', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    ca,
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
