import { StringDecoder } from 'node:string_decoder';
import type { LogLine } from '../types.js';

/**
 * The longest line moat records as one entry (characters). A longer line is recorded as pieces of this
 * size, each but the last marked `cont: true`; memory and time stay linear in the output whatever its shape.
 */
const MAX_LINE_CHARS = 256 * 1024;

/**
 * Docker's log copier cuts a line longer than its 16 KiB buffer into "partial" messages of exactly this
 * many bytes, each read back with its own timestamp prefix and without a newline.
 */
export const ENGINE_PARTIAL_BYTES = 16 * 1024;

const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;
const TS_MAX = 40;

/** Docker trims trailing zeros of RFC3339Nano; pad to 9 digits so timestamps sort as strings. */
export function normaliseTs(ts: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}`;
}

/** Whether `head` could still become "<RFC3339Nano>" (checked byte by byte as a prefix arrives). */
function couldBeTs(head: string): boolean {
  const shape = '0000-00-00T00:00:00';
  for (let i = 0; i < head.length && i < shape.length; i++) {
    const want = shape[i] as string;
    const c = head[i] as string;
    if (want === '0' ? !(c >= '0' && c <= '9') : c !== want) return false;
  }
  return head.length <= TS_MAX;
}

/**
 * One output stream's bytes turned into lines: UTF-8 decoded across message boundaries, cut at
 * `max` characters (never inside a surrogate pair), a trailing CR dropped. Each byte is handled a
 * bounded number of times.
 */
export class LineAssembler {
  private parts: string[] = [];
  private len = 0;
  private ts: string | undefined;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly stream: 'stdout' | 'stderr',
    private readonly onLine: (l: LogLine) => void,
    private readonly max = MAX_LINE_CHARS,
  ) {}

  /** Content of one message (no newline in it); `end` when a newline ended it. */
  push(ts: string, bytes: Buffer, end: boolean): void {
    this.ts ??= ts;
    this.add(this.decoder.write(bytes));
    if (end) {
      this.add(this.decoder.end());
      this.emit(false);
    }
  }

  /** The stream ended: a last line without a newline is a line all the same. */
  finish(): void {
    this.add(this.decoder.end());
    if (this.len > 0) this.emit(false);
  }

  private add(text: string): void {
    let from = 0;
    while (this.len + (text.length - from) > this.max) {
      let cut = from + (this.max - this.len);
      const code = text.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff && cut - 1 > from) cut -= 1; // keep a surrogate pair whole
      this.parts.push(text.slice(from, cut));
      this.len += cut - from;
      from = cut;
      this.emit(true);
    }
    if (from < text.length) {
      this.parts.push(from === 0 ? text : text.slice(from));
      this.len += text.length - from;
    }
  }

  private emit(cont: boolean): void {
    let line = this.parts.length === 1 ? (this.parts[0] as string) : this.parts.join('');
    if (!cont && line.endsWith('\r')) line = line.slice(0, -1);
    const ts = this.ts ?? new Date().toISOString();
    this.parts = [];
    this.len = 0;
    if (!cont) this.ts = undefined;
    this.onLine(cont ? { ts, stream: this.stream, line, cont: true } : { ts, stream: this.stream, line });
  }
}

/** Split "<timestamp> <content>" at the first space; without a timestamp the whole message is content. */
function splitMessage(msg: Buffer): { ts: string | undefined; body: Buffer } {
  const sp = msg.subarray(0, TS_MAX + 1).indexOf(0x20);
  if (sp > 0) {
    const head = msg.toString('latin1', 0, sp);
    if (TS_RE.test(head)) return { ts: normaliseTs(head), body: msg.subarray(sp + 1) };
  }
  return { ts: undefined, body: msg };
}

/**
 * The messages of a non-TTY log stream: each demultiplexed frame is one engine message,
 * "<timestamp> <content>[\n]"; one without a newline is a partial that the next message continues.
 */
export class FrameLines {
  private readonly out: Record<'stdout' | 'stderr', LineAssembler>;
  private lastTs = new Date().toISOString();

  constructor(onLine: (l: LogLine) => void, max = MAX_LINE_CHARS) {
    this.out = { stdout: new LineAssembler('stdout', onLine, max), stderr: new LineAssembler('stderr', onLine, max) };
  }

  frame(stream: 'stdout' | 'stderr', data: Buffer): void {
    const { ts, body } = splitMessage(data);
    if (ts) this.lastTs = ts;
    const a = this.out[stream];
    let from = 0;
    for (let nl = body.indexOf(0x0a); nl >= 0; nl = body.indexOf(0x0a, from)) {
      a.push(this.lastTs, body.subarray(from, nl), true);
      from = nl + 1;
    }
    if (from < body.length) a.push(this.lastTs, body.subarray(from), false);
  }

  finish(): void {
    this.out.stdout.finish();
    this.out.stderr.finish();
  }
}

/**
 * The raw log stream of a TTY container (no frames): "<timestamp> <content>\n" messages back to back,
 * a long line arriving as partials of ENGINE_PARTIAL_BYTES content bytes, each with its own timestamp.
 * A state machine reads it in one pass; bytes that do not start with a timestamp are content.
 */
export class RawLines {
  private readonly a: LineAssembler;
  private head: Buffer[] = [];
  private headLen = 0;
  private inBody = false;
  private bodyLeft = ENGINE_PARTIAL_BYTES;
  private ts = new Date().toISOString();

  constructor(onLine: (l: LogLine) => void, max = MAX_LINE_CHARS) {
    this.a = new LineAssembler('stdout', onLine, max);
  }

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.inBody) {
        i = this.readHead(chunk, i);
        continue;
      }
      const limit = Math.min(chunk.length - i, this.bodyLeft);
      const nl = chunk.subarray(i, i + limit).indexOf(0x0a);
      if (nl >= 0) {
        this.a.push(this.ts, chunk.subarray(i, i + nl), true);
        i += nl + 1;
        this.inBody = false;
      } else {
        this.a.push(this.ts, chunk.subarray(i, i + limit), false);
        i += limit;
        this.bodyLeft -= limit;
        if (this.bodyLeft === 0) this.inBody = false; // a partial ended: the next message has its timestamp
      }
    }
  }

  finish(): void {
    if (this.headLen > 0) this.a.push(this.ts, Buffer.concat(this.head), false);
    this.head = [];
    this.headLen = 0;
    this.a.finish();
  }

  /** Read a timestamp prefix from chunk[i..]; returns the next index. */
  private readHead(chunk: Buffer, i: number): number {
    const room = TS_MAX + 1 - this.headLen;
    const slice = chunk.subarray(i, i + room);
    const sp = slice.indexOf(0x20);
    const take = sp >= 0 ? slice.subarray(0, sp) : slice;
    this.head.push(take);
    this.headLen += take.length;
    const head = Buffer.concat(this.head, this.headLen).toString('latin1');
    if (sp >= 0 && TS_RE.test(head)) {
      this.ts = normaliseTs(head);
      this.resetHead(true);
      return i + sp + 1;
    }
    if (sp < 0 && couldBeTs(head)) return i + take.length;
    // Not a timestamp: what was taken is content (the body scan re-reads it from the buffer).
    const content = Buffer.concat(this.head, this.headLen);
    this.resetHead(true);
    this.write(content);
    return i + take.length;
  }

  private resetHead(body: boolean): void {
    this.head = [];
    this.headLen = 0;
    this.inBody = body;
    this.bodyLeft = ENGINE_PARTIAL_BYTES;
  }
}
