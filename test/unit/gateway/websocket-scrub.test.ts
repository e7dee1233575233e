/**
 * WebSocket frames are scrubbed (issue 17): on a credentialed connection the client's permessage-deflate
 * offer is stripped so frames stay plain, and a real value the origin sends back — in one frame, split
 * across fragments of a message, split across frames with a control frame between, in a close reason —
 * reaches the client as a placeholder of the same length, every frame header unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { compileScrub } from '../../../src/gateway/response-scrub.js';
import { connectTunnel, type Harness, startHarness, tlsOver, waitFor } from './helpers.js';

const TOKEN = 'acme_REALTOKEN0123456789abcdefXYZ';
const PH = 'acme_PLACEHOLDER0123456789abcdefQ';

/** One server frame (unmasked). */
function frame(opcode: number, payload: string | Buffer, fin = true, extra = 0): Buffer {
  const p = Buffer.from(payload);
  const b0 = (fin ? 0x80 : 0) | extra | opcode;
  if (p.length < 126) return Buffer.concat([Buffer.from([b0, p.length]), p]);
  const long = p.length > 0xffff;
  const h = Buffer.alloc(long ? 10 : 4);
  h[0] = b0;
  h[1] = long ? 127 : 126;
  if (long) h.writeBigUInt64BE(BigInt(p.length), 2);
  else h.writeUInt16BE(p.length, 2);
  return Buffer.concat([h, p]);
}

/** The frames of an unmasked stream: each header byte 0 and payload. */
function parse(bytes: Buffer): Array<{ b0: number; payload: Buffer }> {
  const out: Array<{ b0: number; payload: Buffer }> = [];
  for (let i = 0; i < bytes.length;) {
    const len7 = bytes[i + 1]! & 0x7f;
    const [len, start] = len7 === 126 ? [bytes.readUInt16BE(i + 2), i + 4] : len7 === 127 ? [Number(bytes.readBigUInt64BE(i + 2)), i + 10] : [len7, i + 2];
    out.push({ b0: bytes[i]!, payload: bytes.subarray(start, start + len) });
    i = start + len;
  }
  return out;
}

/** All data payloads (opcode < 8) joined, and the control payloads. */
function payloads(bytes: Buffer): { data: string; control: string[]; heads: number[] } {
  const frames = parse(bytes);
  return {
    data: Buffer.concat(frames.filter((f) => (f.b0 & 0x0f) < 8).map((f) => f.payload)).toString('latin1'),
    control: frames.filter((f) => (f.b0 & 0x0f) >= 8).map((f) => f.payload.toString('latin1')),
    heads: frames.map((f) => f.b0 * 1e9 + f.payload.length),
  };
}

/** Feed `bytes` in pieces of `size` through the frame scrubber; the output and the replacement count. */
async function scrubbed(bytes: Buffer, size: number): Promise<{ out: Buffer; n: number; error?: Error }> {
  let n = 0;
  const t = compileScrub([{ value: TOKEN, placeholder: PH }]).frames(() => (n += 1))!;
  const out: Buffer[] = [];
  t.on('data', (c: Buffer) => out.push(c));
  return new Promise((resolve) => {
    t.once('error', (error) => resolve({ out: Buffer.concat(out), n, error }));
    t.once('end', () => resolve({ out: Buffer.concat(out), n }));
    for (let i = 0; i < bytes.length; i += size) t.write(bytes.subarray(i, i + size));
    t.end();
  });
}

describe('the frame scrubber', () => {
  const cut = 'you sent '.length + 7;
  const text = `you sent ${TOKEN} twice: ${TOKEN}`;
  const stream = Buffer.concat([
    frame(0x1, text.slice(0, cut), false), // a text message in three fragments, the token cut in the first two
    frame(0x9, 'ping'), // a control frame between fragments
    frame(0x0, text.slice(cut, cut + 9), false),
    frame(0x0, text.slice(cut + 9), true),
    frame(0x2, Buffer.concat([Buffer.from('bin:'), Buffer.from(TOKEN), Buffer.alloc(300, 0x2e)])), // binary, 16-bit length
    frame(0x1, TOKEN.slice(0, 10), false), // split across two fragments, nothing between
    frame(0x0, TOKEN.slice(10)),
    frame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(`bye ${TOKEN}`)])), // a close reason
  ]);
  const input = payloads(stream);

  it.each([1, 2, 3, 7, 64, 100_000])('ATTACK: a value in fragments, frames and a close reason is replaced, fed %i bytes at a time', async (size) => {
    const r = await scrubbed(stream, size);
    expect(r.error).toBeUndefined();
    expect(r.out.length).toBe(stream.length);
    expect(r.out.includes(TOKEN.slice(0, 10))).toBe(false);
    expect(r.out.includes(TOKEN.slice(10))).toBe(false);
    const got = payloads(r.out);
    // Every frame kept its header (FIN, opcode, length); the payloads read as the placeholder.
    expect(got.heads).toEqual(input.heads);
    expect(got.data).toBe(input.data.replaceAll(TOKEN, PH));
    expect(got.data.split(PH)).toHaveLength(5);
    expect(got.control).toEqual(['ping', `\x03\xe8bye ${PH}`]);
    expect(r.n).toBe(5);
  });

  it('a message ending with the first bytes of a value is released at its end, not held until the next one', async () => {
    let n = 0;
    const t = compileScrub([{ value: TOKEN, placeholder: PH }]).frames(() => (n += 1))!;
    const out: Buffer[] = [];
    t.on('data', (c: Buffer) => out.push(c));
    const sent = Buffer.concat([frame(0x1, 'yes, acme'), frame(0xa, ''), frame(0xa, 'pong')]);
    t.write(sent);
    // Nothing else is written: everything must already be out (before the fix the tail "acme" held it all).
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(out)).toEqual(sent);
    expect(n).toBe(0);
  });

  it('ATTACK: a control frame announcing more than 125 bytes, or fragmented, ends the connection (never held in memory)', async () => {
    const huge = Buffer.from([0x89, 127, 0, 0, 0, 1, 0, 0, 0, 0]); // a ping announcing 4 GiB
    expect((await scrubbed(Buffer.concat([huge, Buffer.alloc(4096)]), 512)).error?.message).toMatch(/control frame/);
    const fragmented = frame(0x9, 'ping', false);
    expect((await scrubbed(fragmented, 64)).error?.message).toMatch(/control frame/);
  });

  it('a stream without the value passes unchanged', async () => {
    const plain = Buffer.concat([frame(0x1, 'hello acme_'), frame(0x1, 'world'), frame(0x2, Buffer.alloc(70_000, 1))]);
    const r = await scrubbed(plain, 5000);
    expect(r.out.equals(plain)).toBe(true);
    expect(r.n).toBe(0);
  });

  it.each([
    ['a masked server frame', Buffer.from([0x81, 0x84, 1, 2, 3, 4, 0, 0, 0, 0])],
    ['a compressed frame (RSV1) nobody negotiated', frame(0x1, 'xx', true, 0x40)],
  ])('ATTACK: %s ends the connection (its bytes cannot be searched)', async (_what, bytes) => {
    const r = await scrubbed(bytes, 3);
    expect(r.error?.message).toMatch(/masked|extension bit/);
    expect(r.out.length).toBe(0);
  });
});

describe('the gateway scrubs WebSocket frames on a credentialed connection', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      injections: [{ grant: 'acme', hosts: ['api.example.test'], set: { authorization: `Bearer ${TOKEN}` } }],
      scrub: [{ value: TOKEN, placeholder: PH }],
    });
  });
  afterAll(async () => h?.close());

  it('ATTACK: the origin echoes the credential in fragments and in a binary message; the client gets the placeholder, uncompressed', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const sock = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    // ws offers permessage-deflate by default.
    const ws = new WebSocket('wss://api.example.test/echo-ws', { createConnection: () => sock, headers: { authorization: `Bearer ${PH}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const got: string[] = [];
    const both = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => got.push(d.toString()) === 2 && resolve()));
    ws.send('echo-credential');
    await both;
    ws.close();
    const up = h.fake.requests.filter((r) => r.path === '/echo-ws').at(-1);
    expect(up?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(up?.headers['sec-websocket-extensions']).toBeUndefined();
    expect(ws.extensions).toBe('');
    expect(got).toEqual([`you sent Bearer ${PH}`, `you sent Bearer ${PH}`]);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url.endsWith('/echo-ws') && e.scrubbed !== undefined));
    expect(ev.scrubbed).toBeGreaterThanOrEqual(2);
  });

  it('ATTACK: a value that becomes secret while the WebSocket is open (a credential refresh) is scrubbed from the next frame on', async () => {
    const fresh = 'acme_FRESHTOKEN0123456789abcdefXYZ';
    const freshPh = 'acme_FRESHPLACEHOLDER0123456789abQ';
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const sock = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    const ws = new WebSocket('wss://api.example.test/echo-ws', { createConnection: () => sock, headers: { authorization: `Bearer ${PH}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echo = (text: string): Promise<string> =>
      new Promise((resolve) => {
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.send(text);
      });
    // Not a secret yet: it passes as it is.
    expect(await echo(`before ${fresh}`)).toBe(`before ${fresh}`);
    h.proxy.update({
      scrub: [
        { value: TOKEN, placeholder: PH },
        { value: fresh, placeholder: freshPh },
      ],
    });
    // The same open connection: the refreshed list applies to its next frames, the old value still does too.
    expect(await echo(`after ${fresh} and ${TOKEN}`)).toBe(`after ${freshPh} and ${PH}`);
    ws.close();
  });
});
