import { randomInt } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FrameScrub, type PayloadMatcher } from './ws-scrub.js';

/**
 * Responses are scrubbed: when an upstream echoes a real credential or secret value back (an error page
 * quoting the key, a "whoami" that returns the token), the container receives a placeholder instead.
 * Response headers are rewritten whole; an identity-encoded body is scanned as it streams, up to
 * MAX_SCRUBBED_BODY bytes, with no buffering: each replacement has the byte length of the value it
 * replaces, so Content-Length stays true, and a chunk is held back only while it ends with the start of a
 * value (an SSE event, ending in a newline, flows at once). The cost for a response that holds no value
 * is one Buffer.indexOf per value per chunk.
 */

/** Plain data: a real value and what the container knows it as. */
export interface ScrubPair {
  value: string;
  placeholder: string;
}

/** The most body bytes scanned per response (the same cap as request substitution). */
export const MAX_SCRUBBED_BODY = 1024 * 1024;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

interface Compiled {
  value: Buffer;
  /** Same byte length as value (the placeholder, cut or extended when their lengths differ). */
  body: Buffer;
  valueText: string;
  placeholder: string;
}

function sameLength(placeholder: string, bytes: number): Buffer {
  let text = placeholder.slice(0, bytes);
  while (Buffer.byteLength(text) < bytes) text += BASE62[randomInt(BASE62.length)];
  return Buffer.from(text, 'utf8');
}

export interface Scrubber {
  /** Whether there is anything to scrub at all. */
  readonly active: boolean;
  /** The search itself (what liveFrames follows across refreshes). */
  readonly matcher: PayloadMatcher;
  /** Rewrite header values in place; returns how many values were replaced. */
  headers(headers: Record<string, string | string[] | undefined>): number;
  /** A transform for a body, or undefined when there is nothing to scrub. `onScrub` is told of each replacement. */
  body(onScrub: () => void): Transform | undefined;
  /** A transform for the server-to-client bytes of a WebSocket (frames parsed, payloads scrubbed), or undefined. */
  frames(onScrub: () => void): Transform | undefined;
  /** The transform for a response body with these headers: none when it is encoded (it cannot be searched). */
  response(headers: Record<string, string | string[] | undefined>, onScrub: () => void): Transform | undefined;
}

export function compileScrub(pairs: readonly ScrubPair[]): Scrubber {
  const list: Compiled[] = pairs
    .filter((p) => p.value.length >= 8 && p.placeholder !== p.value)
    .map((p) => {
      const value = Buffer.from(p.value, 'utf8');
      return { value, body: sameLength(p.placeholder, value.length), valueText: p.value, placeholder: p.placeholder };
    })
    // Longest first: a value that contains another is replaced whole.
    .sort((a, b) => b.value.length - a.value.length);
  const match = new Matcher(list);
  return {
    active: list.length > 0,
    matcher: match,
    headers(headers) {
      if (list.length === 0) return 0;
      let n = 0;
      const one = (v: string): string => {
        let out = v;
        for (const c of list)
          if (out.includes(c.valueText)) {
            out = out.split(c.valueText).join(c.placeholder);
            n += 1;
          }
        return out;
      };
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        headers[k] = Array.isArray(v) ? v.map(one) : one(v);
      }
      return n;
    },
    body(onScrub) {
      return list.length > 0 ? new ScrubStream(match, onScrub) : undefined;
    },
    frames(onScrub) {
      return list.length > 0 ? new FrameScrub(match, onScrub) : undefined;
    },
    response(headers, onScrub) {
      return identityEncoded(headers) ? this.body(onScrub) : undefined;
    },
  };
}

/**
 * The frame scrubber of a WebSocket that stays open across credential refreshes: each search uses the
 * scrubber `current()` returns at that moment, so a value granted or refreshed after the connection
 * opened is replaced from the next frame on. The held start of a value is searched again with each new
 * payload, so a change of list between two frames loses nothing the new list holds.
 */
export function liveFrames(current: () => Scrubber, onScrub: () => void): Transform {
  const live: PayloadMatcher = {
    get maxLen() {
      return current().matcher.maxLen;
    },
    replace: (data, owned, scrubbed) => current().matcher.replace(data, owned, scrubbed),
    partialTail: (data) => current().matcher.partialTail(data),
  };
  return new FrameScrub(live, onScrub);
}

class ScrubStream extends Transform {
  private held: Buffer | undefined;
  private scanned = 0;

  constructor(
    private readonly match: Matcher,
    private readonly onScrub: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.scanned >= MAX_SCRUBBED_BODY) {
      cb(null, chunk);
      return;
    }
    let data = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    const owned = this.held !== undefined;
    this.held = undefined;
    this.scanned += chunk.length;
    data = this.match.replace(data, owned, this.onScrub);
    // Hold back a tail that is the start of a value, so a value split across chunks is still found.
    const keep = this.scanned >= MAX_SCRUBBED_BODY ? 0 : this.match.partialTail(data);
    if (keep > 0) {
      this.held = Buffer.from(data.subarray(data.length - keep));
      data = data.subarray(0, data.length - keep);
    }
    cb(null, data.length > 0 ? data : undefined);
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.held);
  }
}

/** The values to find and their same-length replacements: the search both scrubbers share. */
export class Matcher implements PayloadMatcher {
  readonly maxLen: number;

  constructor(private readonly list: readonly Compiled[]) {
    this.maxLen = Math.max(0, ...list.map((c) => c.value.length));
  }

  /**
   * `data` with every value replaced (same length); a copy when anything is replaced and `owned` is
   * false (never write into a buffer someone else holds), else `data` itself.
   */
  replace(data: Buffer, owned: boolean, onScrub: () => void): Buffer {
    let out = data;
    let copied = owned;
    for (const c of this.list) {
      let at = out.indexOf(c.value);
      while (at >= 0) {
        if (!copied) {
          out = Buffer.from(out);
          copied = true;
        }
        c.body.copy(out, at);
        onScrub();
        at = out.indexOf(c.value, at + c.value.length);
      }
    }
    return out;
  }

  /** Length of the longest suffix of `data` that is a proper prefix of some value (0 almost always). */
  partialTail(data: Buffer): number {
    let best = 0;
    const from = Math.max(0, data.length - this.maxLen + 1);
    for (const c of this.list) {
      const first = c.value[0]!;
      for (let i = data.indexOf(first, Math.max(from, data.length - c.value.length + 1)); i >= 0 && i < data.length; i = data.indexOf(first, i + 1)) {
        const n = data.length - i;
        if (n <= best) break;
        if (data.compare(c.value, 0, n, i, data.length) === 0) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}

/** A body whose bytes are its text (an encoded one cannot be searched without decoding it). */
function identityEncoded(headers: Record<string, string | string[] | undefined>): boolean {
  const enc = headers['content-encoding'];
  return enc === undefined || String(enc).trim().toLowerCase() === 'identity';
}

/** Scrub the values of a raw header list (name, value, name, value, …) in place; returns how many were replaced. */
export function scrubRawHeaders(scrub: Scrubber, raw: string[]): number {
  if (!scrub.active) return 0;
  let count = 0;
  for (let i = 1; i < raw.length; i += 2) {
    const one: Record<string, string> = { v: raw[i]! };
    count += scrub.headers(one);
    raw[i] = one.v!;
  }
  return count;
}
