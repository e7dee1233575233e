/**
 * Text a container chose (its output, names, hosts, URLs, error messages) made safe to print on a terminal.
 *
 * Nothing that drives the terminal gets through: CSI sequences (ESC [ and the C1 byte 0x9b: cursor moves,
 * screen clears, colours) and short escapes (ESC 7, ESC c, ESC ( B) are removed, which leaves a
 * full-screen program's text readable; every other control is shown as visible text: ESC as `^[` (so an
 * OSC 52 clipboard write or a title change reads `^[]52;c;…^G`), C0 bytes as `^X`, DEL as `^?`, C1 and
 * bidirectional overrides as `\x9d` / `\u202e`. CR is dropped, tab and newline are kept. Each string is
 * handled on its own and in one pass: a sequence cut in two by a line split cannot be reassembled by the
 * terminal, since no ESC byte is ever written.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this module's purpose
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

const ESC = 0x1b;
const CSI8 = 0x9b;
/** After ESC, these open a string (OSC, DCS, SOS, PM, APC) or a CSI, or end a string (ST): shown, never dropped. */
const OPENERS = new Set([0x5c /* \\ (ST, shown) */, 0x5b /* [ */, 0x5d /* ] */, 0x50 /* P */, 0x58 /* X */, 0x5e /* ^ */, 0x5f /* _ */]);

/** End index (exclusive) of a complete CSI whose parameters start at `i`, or -1. */
function csiEnd(s: string, i: number): number {
  let j = i;
  while (j < s.length && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x3f) j++;
  while (j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
  if (j < s.length && s.charCodeAt(j) >= 0x40 && s.charCodeAt(j) <= 0x7e) return j + 1;
  return -1;
}

/** End index of a short escape (intermediates then a final byte) after ESC at i-1, or -1. */
function shortEscEnd(s: string, i: number): number {
  let j = i;
  while (j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
  if (j >= s.length) return -1;
  const f = s.charCodeAt(j);
  if (f < 0x30 || f > 0x7e) return -1;
  if (j === i && OPENERS.has(f)) return -1;
  return j + 1;
}

function visible(code: number): string {
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  if (code <= 0x9f) return `\\x${code.toString(16)}`;
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

export function sanitizeForTerminal(s: string): string {
  if (!UNSAFE.test(s)) return s;
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c === 0x09 || c === 0x0a) continue;
    if (c > 0x9f && !(c >= 0x202a && c <= 0x202e) && !(c >= 0x2066 && c <= 0x2069)) continue;
    out += s.slice(from, i);
    let skipTo = -1;
    if (c === ESC) {
      skipTo = s.charCodeAt(i + 1) === 0x5b ? csiEnd(s, i + 2) : shortEscEnd(s, i + 1);
    } else if (c === CSI8) {
      skipTo = csiEnd(s, i + 1);
    }
    if (skipTo > 0) {
      i = skipTo - 1;
    } else if (c !== 0x0d) {
      out += visible(c);
    }
    from = i + 1;
  }
  return out + s.slice(from);
}

/**
 * JSON text for a terminal: JSON.stringify already escapes C0 controls; C1 controls, line/paragraph
 * separators and bidirectional overrides are escaped too (`\u009b`), so the parsed value is unchanged.
 */
export function escapeJsonForTerminal(json: string): string {
  return json.replace(/[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A stream's view of container-chosen text: neutralised on a terminal, unchanged into a pipe or file. */
export function textFor(stream: { isTTY?: boolean }, raw = false): (s: string) => string {
  return stream.isTTY && !raw ? sanitizeForTerminal : (s) => s;
}

/** The same for JSON text. */
export function jsonFor(stream: { isTTY?: boolean }): (json: string) => string {
  return stream.isTTY ? escapeJsonForTerminal : (s) => s;
}
