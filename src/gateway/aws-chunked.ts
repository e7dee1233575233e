import { timingSafeEqual } from 'node:crypto';
import { AwsRefusal } from './aws-types.js';

/**
 * S3's signed streaming upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`, `aws-chunked`): every
 * chunk carries a signature chained from the previous one, the first from the request's own signature.
 * The body is re-framed chunk by chunk: each chunk signature is checked against the placeholder chain
 * and replaced by the real chain's. Sizes and signatures keep their length, so Content-Length holds.
 * Hostile framing fails fast: a header line longer than 128 bytes, a size that is not hex or exceeds
 * `maxChunk`, a missing CRLF, bytes after the end, or a signature that does not match.
 */

export interface ChunkSigner {
  /** The signature of a chunk's data, chained from `prev`. */
  chunk(prev: string, data: Buffer): Promise<string>;
  /** The signature of the trailing headers (canonical `name:value\n` lines), chained from `prev`. */
  trailer(prev: string, canonical: string): Promise<string>;
}

export interface ChunkedOptions {
  placeholder: ChunkSigner;
  real: ChunkSigner;
  /** The client's request signature (placeholder chain seed) and the re-signed one (real chain seed). */
  seedPlaceholder: string;
  seedReal: string;
  /** `…-TRAILER`: trailing headers and a trailer signature follow the last chunk. */
  trailer: boolean;
  /** Largest chunk accepted (each chunk is held whole to hash it before its header goes out). */
  maxChunk: number;
}

const MAX_LINE = 128;
const MAX_TRAILER_LINES = 16;
const CHUNK_HEAD_RE = /^([0-9a-fA-F]{1,8});chunk-signature=([0-9a-f]{64})$/;
const TRAILER_SIG_RE = /^x-amz-trailer-signature:([0-9a-f]{64})$/;
const TRAILER_RE = /^([a-z0-9-]{1,64}):([\x21-\x7e]{1,256})$/i;

const bad = (why: string): AwsRefusal => new AwsRefusal(400, `Moat refused the upload: its aws-chunked body is malformed (${why}).`);

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads lines and exact byte counts from an async stream of buffers, never holding more than asked. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.it.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    return true;
  }

  async line(): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf('\r\n');
      if (at >= 0) {
        if (at > MAX_LINE) break;
        const line = this.buf.subarray(0, at).toString('latin1');
        this.buf = this.buf.subarray(at + 2);
        return line;
      }
      if (this.buf.length > MAX_LINE + 1) break;
      if (!(await this.more())) throw bad('it ends inside a chunk header');
    }
    throw bad(`a header line is longer than ${MAX_LINE} bytes`);
  }

  async bytes(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw bad('it ends inside a chunk');
      const take = this.buf.subarray(0, need);
      parts.push(take);
      need -= take.length;
      this.buf = this.buf.subarray(take.length);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) if (!(await this.more())) return true;
    return false;
  }
}

/** The body with every chunk signature checked (placeholder) and replaced (real). Throws AwsRefusal. */
export async function* resignChunked(body: AsyncIterable<Buffer>, opts: ChunkedOptions): AsyncGenerator<Buffer> {
  const r = new Reader(body[Symbol.asyncIterator]());
  let prevPlaceholder = opts.seedPlaceholder;
  let prevReal = opts.seedReal;
  for (;;) {
    const head = await r.line();
    const m = CHUNK_HEAD_RE.exec(head);
    if (!m) throw bad('a chunk header is not "<hex size>;chunk-signature=<64 hex>"');
    const sizeText = m[1]!;
    const size = parseInt(sizeText, 16);
    if (size > opts.maxChunk) throw bad(`a chunk of ${size} bytes exceeds the ${opts.maxChunk}-byte limit`);
    const data = await r.bytes(size);
    const expected = await opts.placeholder.chunk(prevPlaceholder, data);
    if (!sameSignature(expected, m[2]!))
      throw new AwsRefusal(403, 'Moat refused the upload: a chunk is not signed with the placeholder key moat gave this run.');
    prevPlaceholder = expected;
    prevReal = await opts.real.chunk(prevReal, data);
    const last = size === 0;
    if (!last || !opts.trailer) {
      if ((await r.bytes(2)).toString('latin1') !== '\r\n') throw bad('a chunk does not end with CRLF');
    }
    yield Buffer.concat(
      [Buffer.from(`${sizeText};chunk-signature=${prevReal}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1')].slice(0, last && opts.trailer ? 2 : 3),
    );
    if (last) break;
  }
  if (opts.trailer) yield Buffer.from(await resignTrailer(r, prevPlaceholder, prevReal, opts), 'latin1');
  if (!(await r.atEnd())) throw bad('bytes follow the final chunk');
}

async function resignTrailer(r: Reader, prevPlaceholder: string, prevReal: string, opts: ChunkedOptions): Promise<string> {
  const lines: string[] = [];
  for (;;) {
    const line = await r.line();
    const sig = TRAILER_SIG_RE.exec(line);
    if (sig) {
      const canonical = lines.map((l) => `${l}\n`).join('');
      const expected = await opts.placeholder.trailer(prevPlaceholder, canonical);
      if (!sameSignature(expected, sig[1]!))
        throw new AwsRefusal(403, 'Moat refused the upload: its trailer is not signed with the placeholder key moat gave this run.');
      if ((await r.line()) !== '') throw bad('the trailer signature is not followed by an empty line');
      const real = await opts.real.trailer(prevReal, canonical);
      return `${lines.map((l) => `${l}\r\n`).join('')}x-amz-trailer-signature:${real}\r\n\r\n`;
    }
    if (!TRAILER_RE.test(line) || lines.length >= MAX_TRAILER_LINES) throw bad('a trailing header is malformed');
    lines.push(line);
  }
}
