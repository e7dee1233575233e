import { Transform, type TransformCallback } from 'node:stream';

/**
 * Scrubbing of a WebSocket's server-to-client bytes (RFC 6455 frames, parsed here). On a credentialed
 * connection Moat strips the client's Sec-WebSocket-Extensions, so no frame is compressed; every data
 * frame's payload (text, binary, continuation) is searched as one stream in arrival order, so a value
 * split across fragments or frames is still found, and replaced in place by a placeholder of the same
 * byte length: frame headers never change. While the payload of a message so far ends with the start of a value,
 * everything after that start (frame headers, control frames) is held back, so order is kept; control
 * frames (close reason, ping) are searched whole. A frame Moat cannot read as plain bytes (masked by the
 * server, or with an RSV bit, i.e. an extension nobody negotiated) ends the connection, as a client must.
 */

/** The search the scrubbers share (response-scrub.ts's Matcher). */
export interface PayloadMatcher {
  readonly maxLen: number;
  replace(data: Buffer, owned: boolean, onScrub: () => void): Buffer;
  partialTail(data: Buffer): number;
}

/** The most bytes held back while the payload ends with the start of a value (a flood of control frames). */
const MAX_HELD = 1024 * 1024;

interface Piece {
  buf: Buffer;
  start: number;
  len: number;
}

/** A frame header's length from its second byte: 2, plus the extended length, plus the masking key. */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

export class FrameScrub extends Transform {
  /** Header bytes of the frame being read. */
  private head: Buffer = Buffer.alloc(0);
  /** Payload bytes left in the current frame; -1 while its header is being read. */
  private left = -1;
  private control = false;
  /** The current frame ends its message (FIN). */
  private fin = false;
  private controlPayload: Buffer[] = [];
  /** Output not yet released (held while `tail` is not empty). */
  private queue: Buffer[] = [];
  private queued = 0;
  /** Where the held start of a value lies: the last bytes of data payload, in queued buffers. */
  private tail: Piece[] = [];

  constructor(
    private readonly match: PayloadMatcher,
    private readonly onScrub: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left < 0) {
        // The first two bytes tell how long the header is (extended length, masking key).
        const need = this.head.length < 2 ? 2 : headerLength(this.head[1]!);
        const take = Math.min(need - this.head.length, chunk.length - at);
        this.head = Buffer.concat([this.head, chunk.subarray(at, at + take)]);
        at += take;
        if (this.head.length < need || (need === 2 && headerLength(this.head[1]!) > 2)) continue;
        const problem = this.startFrame();
        if (problem) return cb(new Error(problem));
        continue;
      }
      const take = Math.min(this.left, chunk.length - at);
      const part = chunk.subarray(at, at + take);
      at += take;
      this.left -= take;
      if (this.control) this.controlPayload.push(part);
      else this.payload(part);
      if (this.left === 0) this.endFrame();
    }
    if (this.queued > MAX_HELD) return cb(new Error('the WebSocket held too many frames behind a partial value'));
    this.release();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.tail = [];
    this.release();
    cb();
  }

  /** The header is complete: check it, queue it, and set up the payload. */
  private startFrame(): string | undefined {
    const h = this.head;
    this.head = Buffer.alloc(0);
    const b0 = h[0]!;
    const b1 = h[1]!;
    if (b1 & 0x80) return 'the server sent a masked WebSocket frame';
    if (b0 & 0x70) return 'the server sent a WebSocket frame with an extension bit set (none was negotiated)';
    const len7 = b1 & 0x7f;
    let len = len7;
    if (len7 === 126) len = h.readUInt16BE(2);
    else if (len7 === 127) {
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return 'the server sent a WebSocket frame longer than 2^53 bytes';
      len = Number(big);
    }
    this.control = (b0 & 0x0f) >= 8;
    // RFC 6455 §5.5: a control frame is never fragmented and carries at most 125 bytes (it is held whole).
    if (this.control && (len > 125 || !(b0 & 0x80))) return 'the server sent a WebSocket control frame longer than 125 bytes or fragmented';
    this.fin = (b0 & 0x80) !== 0;
    this.push1(h);
    this.left = len;
    if (len === 0) this.endFrame();
    return undefined;
  }

  private endFrame(): void {
    // A data message complete: what it ends with is released, not held for the next message (a message
    // ending with a value's first bytes would otherwise stall until the server spoke again). A value split
    // across fragments of one message is still found; one split across two messages is not.
    if (!this.control && this.fin) this.tail = [];
    if (this.control) {
      // At most 125 bytes (RFC 6455 §5.5): searched on their own.
      const whole = Buffer.concat(this.controlPayload);
      this.controlPayload = [];
      if (whole.length > 0) this.push1(this.match.replace(whole, true, this.onScrub));
    }
    this.left = -1;
  }

  /** Data payload bytes, in stream order: searched together with the held start of a value. */
  private payload(part: Buffer): void {
    let held = 0;
    let window = part;
    if (this.tail.length > 0) {
      held = this.tail.reduce((n, p) => n + p.len, 0);
      window = Buffer.alloc(held + part.length);
      let o = 0;
      for (const p of this.tail) o += p.buf.copy(window, o, p.start, p.start + p.len);
      part.copy(window, o);
    }
    const out = this.match.replace(window, window !== part, this.onScrub);
    // Write any replacement back into the held bytes (queued, not yet released).
    let o = 0;
    for (const p of this.tail) o += out.copy(p.buf, p.start, o, o + p.len);
    const keep = this.match.partialTail(out);
    // Held bytes may be rewritten later: never in the upstream's own buffer.
    const own = keep > 0 && out === part ? Buffer.from(part) : out.subarray(held);
    this.push1(own);
    if (keep === 0) {
      this.tail = [];
      return;
    }
    if (keep <= own.length) {
      this.tail = [{ buf: own, start: own.length - keep, len: keep }];
      return;
    }
    // The start of the value spans earlier frames too: keep the last `keep - own.length` held bytes.
    let drop = held - (keep - own.length);
    const kept: Piece[] = [];
    for (const p of this.tail) {
      if (drop >= p.len) {
        drop -= p.len;
        continue;
      }
      kept.push({ buf: p.buf, start: p.start + drop, len: p.len - drop });
      drop = 0;
    }
    kept.push({ buf: own, start: 0, len: own.length });
    this.tail = kept;
  }

  private push1(buf: Buffer): void {
    if (buf.length === 0) return;
    this.queue.push(buf);
    this.queued += buf.length;
  }

  /** Send what is queued unless the start of a value is held. */
  private release(): void {
    if (this.tail.length > 0 || this.queue.length === 0) return;
    const out = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
    this.queue = [];
    this.queued = 0;
    this.push(out);
  }
}
