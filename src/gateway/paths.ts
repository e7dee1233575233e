/**
 * Request paths as the gateway decides on them and forwards them: one canonical spelling, so the path
 * rules judge exactly what the origin will see. `normalizePath` applies, in order:
 *   - percent-escapes: malformed ones are refused; unreserved characters (A-Z a-z 0-9 - . _ ~) are
 *     decoded; every other escape keeps its byte with upper-case hex; encoded control characters
 *     (`%00`-`%1F`, `%7F`) are refused; encoded bytes >= 0x80 must be valid, shortest-form UTF-8
 *     (overlong `%C0%AE`, surrogates, invalid bytes are refused) whose compatibility form (NFKC) holds
 *     no `/ \ . % ? # ;` (a fullwidth solidus or `‥` is refused); a double-encoded dot, slash,
 *     backslash, semicolon or control (`%252e`) is refused
 *   - raw characters: a backslash, `#`, controls, spaces and non-ASCII bytes are refused; printable
 *     ASCII outside RFC 3986 `pchar` (`{ } | ^ " < > [ ] \``) is percent-encoded
 *   - `//` collapses to `/` (unless `keepEmptySegments`: S3 object keys such as `a//b` are distinct from
 *     `a/b`, so AWS hosts keep them; the policy then also checks the collapsed reading, `collapsedView`);
 *     then RFC 3986 dot-segment removal (`.` and `..`, also spelled `%2E`)
 *   - what is left may not look like a dot segment to any server: `...`, `..;x` (path parameters),
 *     `..%20`, and pieces around an encoded slash or backslash (`..%2Fx`, `%2F..`, `a%2F%2Fb`,
 *     `%2Fa`) are refused. `%2F` and `%5C` are otherwise kept encoded (npm's `/@scope%2Fname`); the
 *     policy also checks the reading where they are separators (`slashView`).
 * The query string is not part of the path: callers keep it as is.
 */

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

export interface PathOptions {
  /** Keep empty segments (`a//b`) instead of collapsing them: for origins where they name something else. */
  keepEmptySegments?: boolean;
}

/** Already canonical: plain pchar segments, none empty, none a dot segment or dots before `;`. */
const FAST_RE = /^(?:\/(?!\.+(?:[/;]|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*\/?$/;
/** Per ASCII code: KEEP (RFC 3986 pchar besides `%`, plus `/`), ENCODE (printable, harmless encoded), else 0. */
const KEEP = 1;
const ENCODE = 2;
const UNRESERVED = 4;
const ASCII = new Uint8Array(128);
for (const c of "!$&'()*+,;=:@/") ASCII[c.charCodeAt(0)] = KEEP;
for (const c of '"<>[]^`{|}') ASCII[c.charCodeAt(0)] = ENCODE;
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') ASCII[c.charCodeAt(0)] = KEEP | UNRESERVED;
const HEX_RE = /^[0-9A-Fa-f]{2}$/;
/** Characters that must not appear in the NFKC form of a non-ASCII run (they would re-route a path). */
const NFKC_FORBIDDEN_RE = /[/\\.%?#;]/;
const ENCODED_SLASH_RE = /%2F|%5C/;
const ENCODED_SLASH_G = /%2F|%5C/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The canonical form of an origin-form path (no query), or why it has none. */
export function normalizePath(path: string, opts: PathOptions = {}): PathResult {
  if (FAST_RE.test(path) && path.startsWith('/')) return { ok: true, path };
  if (!path.startsWith('/')) return fail('it does not start with "/"');
  const decoded = decodeEscapes(path);
  if (!decoded.ok) return decoded;
  const collapsed = opts.keepEmptySegments ? decoded.path : decoded.path.replace(/\/{2,}/g, '/');
  const out = removeDotSegments(collapsed);
  for (const segment of out.split('/')) {
    const bad = disguisedSegment(segment);
    if (bad) return fail(bad);
  }
  return { ok: true, path: out };
}

/** The path with `%2F`/`%5C` read as separators (what a decoding origin routes on); undefined if none. */
export function slashView(path: string): string | undefined {
  return ENCODED_SLASH_RE.test(path) ? path.replace(ENCODED_SLASH_G, '/') : undefined;
}

/** A normal path with `//` read as `/` (what an origin that merges slashes routes on); undefined if none. */
export function collapsedView(path: string): string | undefined {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : undefined;
}

/**
 * Every reading of a normal path an origin could route on: as forwarded, with `//` merged, with
 * `%2F`/`%5C` as separators, and both. The policy must allow each of them.
 */
export function pathViews(path: string): string[] {
  const out = new Set<string>();
  const add = (p: string): void => {
    out.add(p);
    const merged = collapsedView(p);
    if (merged !== undefined) out.add(merged);
  };
  add(path);
  const alt = slashView(path);
  if (alt !== undefined) add(alt);
  const mergedAlt = slashView(collapsedView(path) ?? path);
  if (mergedAlt !== undefined) add(mergedAlt);
  return [...out];
}

/** Split `pathAndQuery` at the first `?`; the query (with its `?`) is kept verbatim. */
export function splitQuery(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
}

function fail(why: string): PathResult {
  return { ok: false, reason: `The request path cannot be read unambiguously: ${why}.` };
}

function hex(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

function decodeEscapes(path: string): PathResult {
  let out = '';
  let i = 0;
  while (i < path.length) {
    const c = path[i]!;
    const code = path.charCodeAt(i);
    if (c === '%') {
      // Collect a run of escapes: bytes >= 0x80 must be decoded together as UTF-8.
      const bytes: number[] = [];
      let j = i;
      while (j < path.length && path[j] === '%') {
        const pair = path.slice(j + 1, j + 3);
        if (!HEX_RE.test(pair)) return fail(`"${path.slice(j, j + 3)}" is not a valid percent-escape`);
        bytes.push(parseInt(pair, 16));
        j += 3;
      }
      const run = encodeRun(bytes, path.slice(j, j + 2));
      if (!run.ok) return run;
      out += run.path;
      i = j;
      continue;
    }
    if (c === '\\') return fail('it contains a backslash (write "/" or "%5C")');
    if (c === '#') return fail('it contains "#" (a fragment is never sent to a server)');
    if (code < 0x21 || code === 0x7f) return fail('it contains a space or a control character');
    if (code > 0x7e) return fail('it contains a non-ASCII character that is not percent-encoded');
    const cls = ASCII[code]!;
    if (cls & KEEP) out += c;
    else if (cls & ENCODE) out += hex(code);
    else return fail(`it contains "${c}"`);
    i += 1;
  }
  return { ok: true, path: out };
}

/** Canonical text for a run of escaped bytes; `after` is the two characters that follow the run. */
function encodeRun(bytes: number[], after: string): PathResult {
  let out = '';
  let k = 0;
  while (k < bytes.length) {
    const b = bytes[k]!;
    if (b < 0x80) {
      if (b < 0x20 || b === 0x7f) return fail(`it contains an encoded control character (${hex(b)})`);
      // `%25` right before the hex of a dot, slash, backslash, semicolon or control: double encoding.
      if (b === 0x25 && k === bytes.length - 1 && HEX_RE.test(after) && isRerouting(parseInt(after, 16))) {
        return fail('it double-encodes a dot, slash or control character ("%25…")');
      }
      out += ASCII[b]! & UNRESERVED ? String.fromCharCode(b) : hex(b);
      k += 1;
      continue;
    }
    let end = k;
    while (end < bytes.length && bytes[end]! >= 0x80) end += 1;
    const chunk = Uint8Array.from(bytes.slice(k, end));
    let text: string;
    try {
      text = utf8.decode(chunk);
    } catch {
      return fail('its encoded bytes are not valid UTF-8 (overlong or broken sequences are refused)');
    }
    const compat = text.normalize('NFKC');
    if (NFKC_FORBIDDEN_RE.test(compat) || hasControl(compat)) return fail('it encodes a character that some servers read as "/", "\\" or "."');
    for (const byte of chunk) out += hex(byte);
    k = end;
  }
  return { ok: true, path: out };
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isRerouting(byte: number): boolean {
  return byte === 0x2e || byte === 0x2f || byte === 0x5c || byte === 0x3b || byte < 0x20 || byte === 0x7f;
}

/** RFC 3986 §5.2.4 (`..` after an empty segment, as in `/a//..`, removes the empty segment). */
function removeDotSegments(path: string): string {
  const input = path.split('/').slice(1);
  const out: string[] = [];
  let trailing = false;
  for (const seg of input) {
    trailing = false;
    if (seg === '.') trailing = true;
    else if (seg === '..') {
      out.pop();
      trailing = true;
    } else out.push(seg);
  }
  const joined = `/${out.join('/')}`;
  return trailing && out.length > 0 ? `${joined}/` : joined;
}

/** Why a segment left after normalisation could still be read as a dot segment, or undefined. */
function disguisedSegment(segment: string): string | undefined {
  if (!segment.includes('.') && !ENCODED_SLASH_RE.test(segment)) return undefined;
  const pieces = segment.split(ENCODED_SLASH_G);
  for (const piece of pieces) {
    if (pieces.length > 1 && piece === '') return 'an encoded slash or backslash ("%2F", "%5C") stands next to another slash';
    const bare = piece.replace(/(?:;|%3B).*$/, '').replace(/(?:%20)+$/, '');
    if (bare !== '' && /^\.+$/.test(bare)) {
      return pieces.length > 1
        ? 'a dot segment is hidden behind an encoded slash or backslash ("..%2F")'
        : `the segment "${segment.slice(0, 40)}" reads as a dot segment on some servers`;
    }
  }
  return undefined;
}
