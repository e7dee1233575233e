/**
 * Responses are scrubbed (issue 17): an upstream that echoes a real credential back — in a header, in a
 * sized body, in a chunked body with the value split across chunks — reaches the client with the
 * placeholder; a body that holds no value passes unchanged and is never held back at a newline.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileScrub, MAX_SCRUBBED_BODY } from '../../../src/gateway/response-scrub.js';
import { type FakeUpstream, startFakeUpstream } from '../../fakes/upstream.js';
import { connectTunnel, fetchVia, type Harness, startHarness, tlsOver, waitFor } from './helpers.js';

const TOKEN = 'acme_REALTOKEN0123456789abcdefXYZ';
const PH = 'acme_PLACEHOLDER0123456789abcdefQ';

async function through(chunks: Array<string | Buffer>, pairs = [{ value: TOKEN, placeholder: PH }]): Promise<{ out: Buffer; pieces: Buffer[]; n: number }> {
  let n = 0;
  const t = compileScrub(pairs).body(() => (n += 1))!;
  const pieces: Buffer[] = [];
  t.on('data', (c: Buffer) => pieces.push(c));
  await new Promise<void>((resolve, reject) => {
    Readable.from(chunks.map((c) => Buffer.from(c))).pipe(t);
    t.once('end', resolve);
    t.once('error', reject);
  });
  return { out: Buffer.concat(pieces), pieces, n };
}

describe('the scrub stream', () => {
  it('replaces a value split across three chunks, keeping the byte length', async () => {
    const text = `{"echo":"${TOKEN}","again":"${TOKEN}"}`;
    const cut1 = text.indexOf(TOKEN) + 3;
    const cut2 = cut1 + 10;
    const r = await through([text.slice(0, cut1), text.slice(cut1, cut2), text.slice(cut2)]);
    expect(r.out.toString()).toBe(text.replaceAll(TOKEN, PH));
    expect(r.out.length).toBe(Buffer.byteLength(text));
    expect(r.n).toBe(2);
  });

  it('a body without the value passes unchanged, chunk for chunk (an SSE event is never held back)', async () => {
    const events = ['data: {"a":1}\n\n', 'data: {"b":"acme"}\n\n', 'data: [DONE]\n\n'];
    const r = await through(events);
    expect(r.pieces.map(String)).toEqual(events);
    expect(r.n).toBe(0);
  });

  it('only a tail that starts the value is held, and released at the end', async () => {
    const r = await through(['hello acme_REAL', 'ly not a token']);
    expect(r.out.toString()).toBe('hello acme_REALly not a token');
    expect(r.pieces.map(String)).toEqual(['hello ', 'acme_REALly not a token']);
  });

  it('a placeholder of another length is cut or extended to the value’s length', async () => {
    const r = await through([`x${TOKEN}y`], [{ value: TOKEN, placeholder: 'short_ph_0123456789' }]);
    expect(r.out.length).toBe(TOKEN.length + 2);
    expect(r.out.toString()).toMatch(/^xshort_ph_0123456789[A-Za-z0-9]{14}y$/);
  });

  it(`stops scanning after ${MAX_SCRUBBED_BODY} bytes (the request substitution's cap)`, async () => {
    const filler = Buffer.alloc(MAX_SCRUBBED_BODY, 0x2e);
    const r = await through([filler, `${TOKEN}`]);
    expect(r.out.subarray(MAX_SCRUBBED_BODY).toString()).toBe(TOKEN);
  });

  it('headers: every value holding a secret is rewritten, arrays included', () => {
    const h: Record<string, string | string[] | undefined> = { 'x-echo': `Bearer ${TOKEN}`, 'set-cookie': [`a=${TOKEN}`, 'b=1'], other: 'x' };
    expect(compileScrub([{ value: TOKEN, placeholder: PH }]).headers(h)).toBe(2);
    expect(h).toEqual({ 'x-echo': `Bearer ${PH}`, 'set-cookie': [`a=${PH}`, 'b=1'], other: 'x' });
  });
});

describe('the gateway scrubs echoed credentials', () => {
  let fake: FakeUpstream;
  let h: Harness;
  beforeAll(async () => {
    const echo = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const auth = req.headers.authorization ?? '';
      const body = `{"you_sent":"${auth}","accept_encoding":"${req.headers['accept-encoding'] ?? ''}"}`;
      if (req.url?.includes('chunked')) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-echo': auth });
        const mid = body.indexOf(TOKEN) + 7;
        res.write(body.slice(0, mid));
        setTimeout(() => res.end(body.slice(mid)), 20);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-echo': auth });
        res.end(body);
      }
    };
    // An upstream that compresses whatever Moat asked for (Accept-Encoding: identity ignored).
    const compressing =
      (coding: string, encode: (b: Buffer) => Buffer) =>
      (req: http.IncomingMessage, res: http.ServerResponse): void => {
        const body = encode(Buffer.from(`{"you_sent":"${req.headers.authorization ?? ''}","pad":"${'x'.repeat(4000)}"}`));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding, 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
    fake = await startFakeUpstream({
      routes: {
        '/echo': echo,
        '/echo-chunked': echo,
        '/gzip': compressing('gzip', (b) => zlib.gzipSync(b)),
        '/deflate': compressing('deflate', (b) => zlib.deflateSync(b)),
        '/br': compressing('br', (b) => zlib.brotliCompressSync(b)),
        '/zstd': compressing('zstd', (b) => b),
        '/stacked': compressing('gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b))),
        '/corrupt': compressing('gzip', (b) => Buffer.concat([zlib.gzipSync(b).subarray(0, 20), Buffer.from(`garbage ${TOKEN}`)])),
      },
    });
    h = await startHarness(
      {
        injections: [{ grant: 'acme', hosts: ['api.example.test'], set: { authorization: `Bearer ${TOKEN}` } }],
        scrub: [{ value: TOKEN, placeholder: PH }],
      },
      fake,
    );
  });
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('a sized body and a header echoing the token reach the client as the placeholder; Content-Length still true', async () => {
    const r = await fetchVia(h, 'api.example.test', { path: '/echo', headers: { authorization: `Bearer ${PH}`, 'accept-encoding': 'gzip, br' } });
    expect(r.status).toBe(200);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.body).toBe(`{"you_sent":"Bearer ${PH}","accept_encoding":"identity"}`);
    expect(r.headers['x-echo']).toBe(`Bearer ${PH}`);
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url.endsWith('/echo')));
    expect(ev.scrubbed).toBe(2);
  });

  it.each(['gzip', 'deflate', 'br'])(
    'ATTACK: an upstream that compresses anyway (%s): the body is decoded and scrubbed; the client gets it decoded',
    async (coding) => {
      const r = await fetchVia(h, 'api.example.test', { path: `/${coding}`, headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(r.status).toBe(200);
      expect(fake.requests.at(-1)?.headers['accept-encoding']).toBe('identity');
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.body).toBe(`{"you_sent":"Bearer ${PH}","pad":"${'x'.repeat(4000)}"}`);
      const ev = await waitFor(() => h.requestEvents().find((e) => e.url.endsWith(`/${coding}`)));
      expect(ev.scrubbed).toBe(1);
    },
  );

  it.each([
    ['zstd', 'zstd'],
    ['stacked', 'gzip, br'],
  ])('ATTACK: a coding Moat cannot decode (%s) is refused with 502, never passed on unsearched', async (path, coding) => {
    const r = await fetchVia(h, 'api.example.test', { path: `/${path}` });
    expect(r.status).toBe(502);
    expect(r.body.trim()).toBe(
      `api.example.test answered with a body encoded as ${coding} although Moat asked for none (Accept-Encoding: identity); Moat cannot check it for an echoed credential, so it is not passed on.`,
    );
    expect(r.body).not.toContain(TOKEN);
  });

  it('ATTACK: a body that stops decoding midway is cut, and the undecodable rest never reaches the client', async () => {
    const got = await fetchVia(h, 'api.example.test', { path: '/corrupt' }).then(
      (r) => r.body,
      () => '',
    );
    expect(got).not.toContain(TOKEN);
    expect(got).not.toContain('garbage');
  });

  it('a HEAD answer keeps its encoding headers; a compressed answer to a request without a credential is left as is', async () => {
    const head = await fetchVia(h, 'api.example.test', { path: '/gzip', method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-encoding']).toBe('gzip');
    const plain = await fetchVia(h, 'other.example.test', { path: '/gzip', headers: { 'accept-encoding': 'gzip' } });
    expect(plain.headers['content-encoding']).toBe('gzip');
    expect(fake.requests.at(-1)?.headers['accept-encoding']).toBe('gzip');
  });

  it('a chunked body with the token split across chunks', async () => {
    const r = await fetchVia(h, 'api.example.test', { path: '/echo-chunked' });
    expect(r.body).toContain(`Bearer ${PH}`);
    expect(r.body).not.toContain(TOKEN);
  });

  it('an upgrade the origin answers without switching is scrubbed too (headers and body), and asks for identity', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const sock = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => sock.destroy(), 3000);
      sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
      sock.on('error', () => undefined);
      sock.once('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
      sock.write(
        'GET /ws-echo-refused HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${PH}\r\nAccept-Encoding: gzip\r\n\r\n`,
      );
    });
    const sent = fake.requests.find((q) => q.path === '/ws-echo-refused');
    expect(sent?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(sent?.headers['accept-encoding']).toBe('identity');
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).toContain(`X-Echo: Bearer ${PH}`);
    expect(out).toContain(`you sent Bearer ${PH}`);
    expect(out).not.toContain(TOKEN);
  });
});
