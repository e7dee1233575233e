/**
 * The SSH wire encoding (RFC 4251 §5) that the agent protocol and key blobs use: uint32, byte, boolean,
 * string and mpint. Hand-written and bounded: every read checks the bytes left, so hostile input fails
 * with a WireError and never reads past its buffer or allocates more than it holds.
 */

export class WireError extends Error {}

export class WireReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) throw new WireError(`truncated ${what}: ${n} bytes needed, ${this.remaining} left`);
  }

  byte(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    return this.byte() !== 0;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A length-prefixed byte string (a view into the buffer, not a copy). */
  string(what = 'string'): Buffer {
    const len = this.uint32();
    this.need(len, what);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A string that must be printable ASCII (algorithm and extension names). */
  name(what = 'name', max = 64): string {
    const raw = this.string(what);
    if (raw.length === 0 || raw.length > max || !/^[\x21-\x7e]+$/.test(raw.toString('latin1'))) throw new WireError(`invalid ${what}`);
    return raw.toString('latin1');
  }

  /** A non-negative mpint as its magnitude bytes (leading zeros dropped). */
  mpint(what = 'mpint'): Buffer {
    const raw = this.string(what);
    if (raw.length > 0 && (raw[0]! & 0x80) !== 0) throw new WireError(`negative ${what}`);
    let i = 0;
    while (i < raw.length && raw[i] === 0) i++;
    return raw.subarray(i);
  }

  rest(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }

  /** Throws unless every byte was read. */
  end(what: string): void {
    if (this.remaining !== 0) throw new WireError(`${this.remaining} trailing bytes after ${what}`);
  }
}

export class WireWriter {
  private readonly parts: Buffer[] = [];

  byte(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }

  bool(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }

  uint32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  string(v: Buffer | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.uint32(b.length);
    this.parts.push(b);
    return this;
  }

  /** A non-negative integer given as its big-endian magnitude. */
  mpint(magnitude: Buffer): this {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    return this.string(m.length > 0 && (m[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), m]) : m);
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}
