import { Duplex, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Scrubber } from './response-scrub.js';

/**
 * The body of a response to a credentialed request, as the client receives it. Moat asks such a request's
 * upstream for `Accept-Encoding: identity` so the scrubber can search the bytes; an upstream that
 * compresses anyway (gzip, deflate, br) is decoded here and the client gets the decoded body (Moat drops
 * Content-Encoding and Content-Length and re-frames it), searched like any other: the first
 * MAX_SCRUBBED_BODY decoded bytes, streamed with backpressure, so a small body that decodes to a huge one
 * costs the gateway no memory. An encoding Moat cannot decode (zstd, compress, several stacked) is
 * refused (502) instead of being passed on unsearched. Answers to requests that carried no real value
 * (nothing to echo) pass as they are.
 */

type Headers = Record<string, string | string[] | undefined>;

// Z_SYNC_FLUSH at the end: an empty or cut body ends the stream instead of failing it (a truncated
// body is scanned as far as it decodes; the client sees it cut, as the upstream sent it).
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH }),
  'x-gzip': () => zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH }),
  deflate: () => zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH }),
  br: () => zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }),
};

/** The content codings of a response, outermost last; identity left out. */
function codings(headers: Headers): string[] {
  const enc = headers['content-encoding'];
  if (enc === undefined) return [];
  return (Array.isArray(enc) ? enc.join(',') : enc)
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

export type ResponseBody = { through?: Duplex } | { refused: string };

/**
 * How the body of this response reaches the client. `headers` is edited in place when the body is
 * decoded. `noBody`: HEAD, 1xx, 204, 304 (nothing to decode, the headers describe another body).
 */
export function responseBody(
  scrub: Scrubber,
  headers: Headers,
  opts: { credentialed: boolean; noBody: boolean; host: string },
  onScrub: () => void,
): ResponseBody {
  if (!scrub.active || opts.noBody) return {};
  const plain = scrub.response(headers, onScrub);
  if (plain) return { through: plain };
  if (!opts.credentialed) return {};
  const list = codings(headers);
  const make = list.length === 1 ? DECODERS[list[0]!] : undefined;
  if (!make)
    return {
      refused: `${opts.host} answered with a body encoded as ${list.join(', ')} although Moat asked for none (Accept-Encoding: identity); Moat cannot check it for an echoed credential, so it is not passed on.`,
    };
  delete headers['content-encoding'];
  delete headers['content-length'];
  const decoder = make();
  const scrubbed = scrub.body(onScrub)!;
  decoder.pipe(scrubbed);
  // A body that does not decode ends the response with an error (the client sees it cut), never raw.
  decoder.once('error', (err) => scrubbed.destroy(err));
  return { through: Duplex.from({ writable: decoder, readable: scrubbed }) };
}

/** The statuses and method whose response has no body (RFC 9110). */
export function bodyless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}
