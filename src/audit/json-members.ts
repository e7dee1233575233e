import { createReadStream } from 'node:fs';
import { MoatError } from '../errors.js';

/**
 * A streaming reader of one JSON object document: its top-level members as raw JSON texts, except one
 * array member (e.g. a bundle's `entries`) whose elements are handed to a callback one at a time, so a
 * document of any size is read in bounded memory (each single value up to `maxValueBytes`).
 *
 * It splits on structure only (strings, escapes, nesting); each captured text is then checked by
 * JSON.parse, so malformed input is still reported, never silently accepted.
 */
export interface JsonMembersOptions {
  /** The member whose array elements are streamed. */
  arrayKey: string;
  /**
   * Called when the array member starts, with the members read so far: return an element handler to
   * receive its elements now, or undefined to skip them (the caller may read the file again).
   */
  onArray(members: ReadonlyMap<string, unknown>): ((raw: string) => void) | undefined;
  maxValueBytes?: number;
}

export interface JsonMembers {
  members: Map<string, unknown>;
  /** Whether the array member was present (as an array). */
  array: boolean;
}

const Q = 0x22,
  BS = 0x5c,
  LB = 0x7b,
  RB = 0x7d,
  LS = 0x5b,
  RS = 0x5d,
  COLON = 0x3a,
  COMMA = 0x2c;
/** Index of `b` in `buf` from `from`, or buf.length when absent. */
const indexOr = (buf: Buffer, b: number, from: number): number => {
  const at = buf.indexOf(b, from);
  return at < 0 ? buf.length : at;
};
const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export async function readJsonMembers(file: string, opts: JsonMembersOptions): Promise<JsonMembers> {
  const max = opts.maxValueBytes ?? 64 * 1024 * 1024;
  const members = new Map<string, unknown>();
  const bad = (why: string): MoatError => new MoatError(`${file} is not JSON (${why}); expected an audit bundle or inclusion proof`, { code: 'E_AUDIT' });
  let depth = 0;
  let inStr = false;
  let esc = false;
  /** At depth 1: reading a key, or a value; in the array member at depth 2: reading an element. */
  let part: 'key' | 'value' | 'array' | 'done' = 'key';
  let key = '';
  let started = false;
  let onElement: ((raw: string) => void) | undefined;
  let array = false;
  let arrayPending = false;
  // The text being captured: earlier chunks' pieces plus a start offset in the current chunk.
  let pieces: Buffer[] = [];
  let pieceBytes = 0;
  let from = -1;
  let carry = false;
  const capture = (chunk: Buffer, end: number): string => {
    const last = from >= 0 ? chunk.subarray(from, end) : Buffer.alloc(0);
    const text = (pieces.length === 0 ? last : Buffer.concat([...pieces, last])).toString('utf8').trim();
    pieces = [];
    pieceBytes = 0;
    from = -1;
    return text;
  };
  const parse = (raw: string, what: string): unknown => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      throw bad(`${what} does not parse`);
    }
  };
  const endMember = (chunk: Buffer, i: number): void => {
    const raw = capture(chunk, i);
    if (members.has(key) || (key === opts.arrayKey && array)) throw bad(`member "${key}" appears twice`);
    members.set(key, parse(raw, `member "${key}"`));
  };
  const endElement = (chunk: Buffer, i: number): void => {
    const raw = capture(chunk, i);
    if (raw.length === 0) return;
    onElement?.(raw);
  };

  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    if (part === 'done') {
      for (const b of chunk) if (!isSpace(b)) throw bad('text after the document');
      continue;
    }
    // A capture that ran past the previous chunk goes on from this chunk's start.
    from = carry ? 0 : -1;
    let nextQ = -1;
    let nextBs = -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (inStr) {
        if (esc) esc = false;
        else if (b === BS) esc = true;
        else if (b === Q) inStr = false;
        else {
          // Jump to the string's next quote or backslash (each searched once per position passed).
          if (nextQ < i) nextQ = indexOr(chunk, Q, i);
          if (nextBs < i) nextBs = indexOr(chunk, BS, i);
          const stop = Math.min(nextQ, nextBs);
          // Land just before it: the next turn handles it as above; nothing ahead: the chunk is done.
          i = stop - 1;
        }
        continue;
      }
      if (!started) {
        if (isSpace(b)) continue;
        if (b !== LB) throw bad('it does not start with "{"');
        started = true;
        depth = 1;
        from = i + 1;
        continue;
      }
      if (part === 'done') {
        if (!isSpace(b)) throw bad('text after the document');
        continue;
      }
      if (arrayPending && !isSpace(b)) {
        arrayPending = false;
        if (b === LS) {
          if (array || members.has(key)) throw bad(`member "${key}" appears twice`);
          array = true;
          part = 'array';
          onElement = opts.onArray(members);
          depth += 1;
          from = onElement ? i + 1 : -1;
          continue;
        }
        part = 'value';
        from = i;
      }
      if (b === Q) inStr = true;
      else if (b === LB || b === LS) depth += 1;
      else if (b === RB || b === RS) {
        depth -= 1;
        if (part === 'array' && depth === 1) {
          endElement(chunk, i);
          part = 'value';
          from = -1;
        } else if (depth === 0) {
          if (part === 'value' && from >= 0) endMember(chunk, i);
          else if (part === 'key' && capture(chunk, i).length > 0) throw bad('a key without a value');
          part = 'done';
        }
      } else if (b === COLON && depth === 1 && part === 'key') {
        key = String(parse(capture(chunk, i), 'a key'));
        if (key === opts.arrayKey) arrayPending = true;
        else from = i + 1;
        part = 'value';
      } else if (b === COMMA && depth === 1) {
        if (part === 'value' && from >= 0) endMember(chunk, i);
        else if (part === 'key') throw bad('a key without a value');
        part = 'key';
        from = i + 1;
      } else if (b === COMMA && depth === 2 && part === 'array') {
        endElement(chunk, i);
        if (onElement) from = i + 1;
      }
    }
    carry = from >= 0;
    if (carry) {
      pieces.push(Buffer.from(chunk.subarray(from)));
      pieceBytes += chunk.length - from;
      if (pieceBytes > max) throw bad(`one value is larger than ${max} bytes`);
    }
  }
  if (part !== 'done') throw bad(started ? 'it ends early' : 'it is empty');
  return { members, array };
}
