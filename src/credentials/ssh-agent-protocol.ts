import { WireError, WireReader, WireWriter } from './ssh-wire.js';

/**
 * The ssh-agent protocol (draft-miller-ssh-agent), only the part moat lets through: framing, the
 * requests REQUEST_IDENTITIES, SIGN_REQUEST and the session-bind@openssh.com extension, and the answers
 * to them. Everything else parses as `other` and is refused by the filter. Sizes are bounded: a frame
 * longer than MAX_MESSAGE is an error before a byte of it is buffered.
 */

export const MSG = {
  FAILURE: 5,
  SUCCESS: 6,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
  EXTENSION: 27,
  EXTENSION_FAILURE: 28,
} as const;

/** OpenSSH's own limit on an agent message. */
export const MAX_MESSAGE = 256 * 1024;
/** Identities in one answer moat accepts from the host agent. */
const MAX_IDENTITIES = 1024;

export const SESSION_BIND = 'session-bind@openssh.com';
/** Flags a sign request may carry: SSH_AGENT_RSA_SHA2_256 and _512. */
export const SIGN_FLAGS_ALLOWED = 0x02 | 0x04;

export type AgentRequest =
  | { type: 'list' }
  | { type: 'sign'; key: Buffer; data: Buffer; flags: number }
  | { type: 'bind'; hostKey: Buffer; sessionId: Buffer; signature: Buffer; forwarding: boolean }
  | { type: 'other'; code: number; extension?: string };

export interface Identity {
  blob: Buffer;
  comment: string;
}

/**
 * Splits a byte stream into agent messages (type byte + payload). Bounded: a declared length over
 * MAX_MESSAGE or zero throws at once, so at most one message plus one read are ever held.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly max = MAX_MESSAGE) {}

  /** Feed bytes; returns the complete messages they finish. Throws WireError on an invalid frame. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len === 0 || len > this.max) throw new WireError(`agent message length ${len} out of range (1-${this.max})`);
      if (this.buf.length < 4 + len) break;
      out.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }

  /** Bytes held for an unfinished message. */
  get pending(): number {
    return this.buf.length;
  }
}

export function frame(body: Buffer): Buffer {
  if (body.length === 0 || body.length > MAX_MESSAGE) throw new WireError('agent message size out of range');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** One request message (without its length), as the filter sees it. Throws WireError when malformed. */
export function parseRequest(msg: Buffer): AgentRequest {
  const r = new WireReader(msg);
  const code = r.byte();
  if (code === MSG.REQUEST_IDENTITIES) {
    r.end('REQUEST_IDENTITIES');
    return { type: 'list' };
  }
  if (code === MSG.SIGN_REQUEST) {
    const key = r.string('key blob');
    const data = r.string('data');
    const flags = r.uint32();
    r.end('SIGN_REQUEST');
    return { type: 'sign', key, data, flags };
  }
  if (code === MSG.EXTENSION) {
    const extension = r.name('extension name', 128);
    if (extension !== SESSION_BIND) return { type: 'other', code, extension };
    const hostKey = r.string('host key');
    const sessionId = r.string('session id');
    const signature = r.string('signature');
    const forwarding = r.bool();
    r.end(SESSION_BIND);
    return { type: 'bind', hostKey, sessionId, signature, forwarding };
  }
  return { type: 'other', code };
}

export function encodeRequest(req: Exclude<AgentRequest, { type: 'other' }>): Buffer {
  const w = new WireWriter();
  if (req.type === 'list') w.byte(MSG.REQUEST_IDENTITIES);
  else if (req.type === 'sign') w.byte(MSG.SIGN_REQUEST).string(req.key).string(req.data).uint32(req.flags);
  else w.byte(MSG.EXTENSION).string(SESSION_BIND).string(req.hostKey).string(req.sessionId).string(req.signature).bool(req.forwarding);
  return frame(w.toBuffer());
}

/** IDENTITIES_ANSWER from the host agent. Throws WireError when it is anything else or malformed. */
export function parseIdentities(msg: Buffer): Identity[] {
  const r = new WireReader(msg);
  const code = r.byte();
  if (code !== MSG.IDENTITIES_ANSWER) throw new WireError(`expected IDENTITIES_ANSWER, got message ${code}`);
  const n = r.uint32();
  if (n > MAX_IDENTITIES) throw new WireError(`${n} identities is more than ${MAX_IDENTITIES}`);
  const out: Identity[] = [];
  for (let i = 0; i < n; i++) out.push({ blob: Buffer.from(r.string('key blob')), comment: r.string('comment').toString('utf8') });
  r.end('IDENTITIES_ANSWER');
  return out;
}

export function encodeIdentities(ids: Identity[]): Buffer {
  const w = new WireWriter().byte(MSG.IDENTITIES_ANSWER).uint32(ids.length);
  for (const id of ids) w.string(id.blob).string(id.comment);
  return frame(w.toBuffer());
}

/** SIGN_RESPONSE's signature blob, or undefined when the host agent answered FAILURE. */
export function parseSignResponse(msg: Buffer): Buffer | undefined {
  const r = new WireReader(msg);
  const code = r.byte();
  if (code === MSG.FAILURE) return undefined;
  if (code !== MSG.SIGN_RESPONSE) throw new WireError(`expected SIGN_RESPONSE, got message ${code}`);
  const sig = Buffer.from(r.string('signature'));
  r.end('SIGN_RESPONSE');
  return sig;
}

export function encodeSignResponse(signature: Buffer): Buffer {
  return frame(new WireWriter().byte(MSG.SIGN_RESPONSE).string(signature).toBuffer());
}

export const encodeFailure = (): Buffer => frame(Buffer.from([MSG.FAILURE]));
export const encodeSuccess = (): Buffer => frame(Buffer.from([MSG.SUCCESS]));

/**
 * The fields of an SSH_MSG_USERAUTH_REQUEST "publickey" signature payload (RFC 4252 §7, and OpenSSH's
 * publickey-hostbound-v00@openssh.com which adds the server host key). Undefined when data is anything else.
 */
export function parseUserauthData(data: Buffer): { sessionId: Buffer; user: string; key: Buffer; hostKey?: Buffer } | undefined {
  try {
    const r = new WireReader(data);
    const sessionId = r.string('session id');
    if (r.byte() !== 50) return undefined; // SSH_MSG_USERAUTH_REQUEST
    const user = r.string('user').toString('utf8');
    if (r.string('service').toString('latin1') !== 'ssh-connection') return undefined;
    const method = r.string('method').toString('latin1');
    if (method !== 'publickey' && method !== 'publickey-hostbound-v00@openssh.com') return undefined;
    if (!r.bool()) return undefined;
    r.name('algorithm');
    const key = r.string('key blob');
    const hostKey = method === 'publickey' ? undefined : r.string('host key');
    r.end('userauth request');
    return { sessionId, user, key, ...(hostKey ? { hostKey } : {}) };
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}
