import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  FrameReader,
  MAX_MESSAGE,
  MSG,
  SESSION_BIND,
  encodeIdentities,
  encodeRequest,
  frame,
  parseIdentities,
  parseRequest,
  parseSignResponse,
  parseUserauthData,
} from '../../../src/credentials/ssh-agent-protocol.js';
import { WireError, WireWriter } from '../../../src/credentials/ssh-wire.js';

const body = (framed: Buffer): Buffer => framed.subarray(4);

describe('agent protocol parser (hostile input)', () => {
  it('round-trips the three requests moat forwards', () => {
    expect(parseRequest(body(encodeRequest({ type: 'list' })))).toEqual({ type: 'list' });
    const sign = { type: 'sign' as const, key: randomBytes(51), data: randomBytes(100), flags: 2 };
    expect(parseRequest(body(encodeRequest(sign)))).toEqual(sign);
    const bind = { type: 'bind' as const, hostKey: randomBytes(51), sessionId: randomBytes(32), signature: randomBytes(83), forwarding: false };
    expect(parseRequest(body(encodeRequest(bind)))).toEqual(bind);
  });

  it('reads every other message type and extension as "other"', () => {
    for (const code of [17, 18, 19, 20, 22, 23, 24, 25, 26, 0, 255]) expect(parseRequest(Buffer.from([code, 1, 2, 3]))).toEqual({ type: 'other', code });
    const ext = new WireWriter().byte(MSG.EXTENSION).string('query').toBuffer();
    expect(parseRequest(ext)).toEqual({ type: 'other', code: MSG.EXTENSION, extension: 'query' });
  });

  it('refuses a frame with a huge or zero length before buffering it', () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff);
    expect(() => new FrameReader().push(huge)).toThrow(WireError);
    const over = Buffer.alloc(4);
    over.writeUInt32BE(MAX_MESSAGE + 1);
    expect(() => new FrameReader().push(over)).toThrow(/out of range/);
    expect(() => new FrameReader().push(Buffer.alloc(4))).toThrow(/out of range/);
    expect(() => frame(Buffer.alloc(MAX_MESSAGE + 1))).toThrow(WireError);
  });

  it('splits many messages in one chunk and holds a split message until it is complete', () => {
    const one = encodeRequest({ type: 'list' });
    const many = Buffer.concat(Array.from({ length: 1000 }, () => one));
    expect(new FrameReader().push(many)).toHaveLength(1000);
    const sign = encodeRequest({ type: 'sign', key: randomBytes(40), data: randomBytes(40), flags: 0 });
    const r = new FrameReader();
    expect(r.push(sign.subarray(0, 3))).toEqual([]);
    expect(r.push(sign.subarray(3, 20))).toEqual([]);
    expect(r.pending).toBe(20);
    expect(r.push(sign.subarray(20))).toHaveLength(1);
  });

  it('throws WireError on truncated, overlong and trailing fields', () => {
    const sign = body(encodeRequest({ type: 'sign', key: randomBytes(40), data: randomBytes(40), flags: 0 }));
    for (let cut = 1; cut < sign.length; cut++) expect(() => parseRequest(sign.subarray(0, cut))).toThrow(WireError);
    expect(() => parseRequest(Buffer.concat([sign, Buffer.from([0])]))).toThrow(/trailing/);
    const lying = new WireWriter().byte(MSG.SIGN_REQUEST).uint32(0x7fffffff).raw(randomBytes(10)).toBuffer();
    expect(() => parseRequest(lying)).toThrow(/truncated/);
    expect(() => parseRequest(Buffer.from([MSG.REQUEST_IDENTITIES, 0]))).toThrow(/trailing/);
    const bind = body(encodeRequest({ type: 'bind', hostKey: randomBytes(5), sessionId: randomBytes(5), signature: randomBytes(5), forwarding: true }));
    for (let cut = 1; cut < bind.length; cut++) expect(() => parseRequest(bind.subarray(0, cut))).toThrow(WireError);
    const badName = new WireWriter().byte(MSG.EXTENSION).string('\u0000bad').toBuffer();
    expect(() => parseRequest(badName)).toThrow(/extension name/);
    expect(SESSION_BIND).toBe('session-bind@openssh.com');
  });

  it('bounds an identities answer and refuses the wrong answer type', () => {
    const ids = [{ blob: randomBytes(51), comment: 'me@host' }];
    expect(parseIdentities(body(encodeIdentities(ids)))).toEqual(ids);
    expect(() => parseIdentities(new WireWriter().byte(MSG.IDENTITIES_ANSWER).uint32(1_000_000).toBuffer())).toThrow(/more than/);
    expect(() => parseIdentities(new WireWriter().byte(MSG.IDENTITIES_ANSWER).uint32(3).string('x').toBuffer())).toThrow(WireError);
    expect(() => parseIdentities(Buffer.from([MSG.SIGN_RESPONSE]))).toThrow(/expected IDENTITIES_ANSWER/);
    expect(parseSignResponse(Buffer.from([MSG.FAILURE]))).toBeUndefined();
    expect(() => parseSignResponse(Buffer.from([MSG.SUCCESS]))).toThrow(/expected SIGN_RESPONSE/);
  });

  it('reads a userauth publickey payload (plain and host-bound) and nothing else', () => {
    const sid = randomBytes(32);
    const key = randomBytes(51);
    const host = randomBytes(51);
    const plain = new WireWriter()
      .string(sid)
      .byte(50)
      .string('git')
      .string('ssh-connection')
      .string('publickey')
      .bool(true)
      .string('ssh-ed25519')
      .string(key)
      .toBuffer();
    expect(parseUserauthData(plain)).toEqual({ sessionId: sid, user: 'git', key });
    const bound = new WireWriter()
      .string(sid)
      .byte(50)
      .string('git')
      .string('ssh-connection')
      .string('publickey-hostbound-v00@openssh.com')
      .bool(true)
      .string('ssh-ed25519')
      .string(key)
      .string(host)
      .toBuffer();
    expect(parseUserauthData(bound)).toEqual({ sessionId: sid, user: 'git', key, hostKey: host });
    expect(parseUserauthData(randomBytes(200))).toBeUndefined();
    expect(parseUserauthData(Buffer.concat([plain, Buffer.from([1])]))).toBeUndefined();
    const noSig = new WireWriter()
      .string(sid)
      .byte(50)
      .string('git')
      .string('ssh-connection')
      .string('publickey')
      .bool(false)
      .string('ssh-ed25519')
      .string(key)
      .toBuffer();
    expect(parseUserauthData(noSig)).toBeUndefined();
  });
});
