import { createReadStream } from 'node:fs';
import { errnoCode } from '../errors.js';

export interface JsonlLine {
  /** The line's text, without its '\n'. */
  text: string;
  /** Byte offset just after this line's '\n' (where a follower resumes). */
  end: number;
}

export interface JsonlReadOptions {
  /** Byte offset to start at (default 0). */
  start?: number;
  /** A line longer than this is skipped, never held whole in memory (default 16 MiB). */
  maxLineBytes?: number;
  /** Yield a last line that has no '\n' yet (default false: a writer may still be appending it). */
  includeUnterminated?: boolean;
}

const NL = 0x0a;

/**
 * The complete lines of a JSONL file, streamed (64 KiB reads), with the byte offset after each one.
 * Memory stays bounded by `maxLineBytes` whatever the file's size; a missing file has no lines.
 */
export async function* readJsonlLines(file: string, opts: JsonlReadOptions = {}): AsyncGenerator<JsonlLine> {
  const max = opts.maxLineBytes ?? 16 * 1024 * 1024;
  let pos = opts.start ?? 0;
  let parts: Buffer[] = [];
  let partBytes = 0;
  let skipping = false;
  try {
    for await (const chunk of createReadStream(file, { start: pos, highWaterMark: 1 << 16 }) as AsyncIterable<Buffer>) {
      let from = 0;
      for (let nl = chunk.indexOf(NL, from); nl >= 0; nl = chunk.indexOf(NL, from)) {
        const piece = chunk.subarray(from, nl);
        pos += partBytes + piece.length + 1;
        from = nl + 1;
        if (skipping || partBytes + piece.length > max) {
          skipping = false;
          parts = [];
          partBytes = 0;
          continue;
        }
        const text = (partBytes === 0 ? piece : Buffer.concat([...parts, piece])).toString('utf8');
        parts = [];
        partBytes = 0;
        yield { text, end: pos };
      }
      const rest = chunk.subarray(from);
      if (rest.length === 0) continue;
      if (skipping || partBytes + rest.length > max) {
        // Too long to hold: drop it, and what follows up to the next '\n' (the offset still advances).
        skipping = true;
        pos += partBytes + rest.length;
        parts = [];
        partBytes = 0;
        continue;
      }
      parts.push(Buffer.from(rest));
      partBytes += rest.length;
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (opts.includeUnterminated && partBytes > 0) yield { text: Buffer.concat(parts).toString('utf8'), end: pos + partBytes };
}

/** Parsed JSON objects of a JSONL file, streamed; lines that are not JSON objects (a torn tail) are skipped. */
export async function* readJsonlObjects<T>(file: string, opts: JsonlReadOptions = {}): AsyncGenerator<T> {
  for await (const { text } of readJsonlLines(file, opts)) {
    if (!text) continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      continue; // a torn or foreign line
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) yield v as T;
  }
}
