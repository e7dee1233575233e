import { describe, it, expect } from 'vitest';
import { escapeJsonForTerminal, sanitizeForTerminal as s, textFor } from '../../../src/term/sanitize.js';

// eslint-disable-next-line no-control-regex -- the test looks for control characters
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('hostile output: terminal sanitiser', () => {
  it('shows an OSC 52 clipboard write terminated by BEL as text, with no ESC or BEL left', () => {
    const out = s('before\x1b]52;c;cm0gLXJmIH4=\x07after');
    expect(out).toBe('before^[]52;c;cm0gLXJmIH4=^Gafter');
    expect(out).not.toMatch(CONTROL);
  });

  it('shows an OSC 52 / title sequence terminated by ST (ESC \\) as text', () => {
    expect(s('\x1b]52;c;aGk=\x1b\\x')).toBe('^[]52;c;aGk=^[\\x');
    expect(s('\x1b]0;pwned title\x1b\\')).toBe('^[]0;pwned title^[\\');
  });

  it('removes CSI sequences (7-bit and the C1 byte 0x9b), keeping the text of a full-screen program', () => {
    expect(s('\x1b[2J\x1b[H\x1b[1;31mRed\x1b[0m \x1b[?1049hscreen\x1b[10;20Hx')).toBe('Red screenx');
    expect(s('a\x9b2Jb\x9b31mc')).toBe('abc');
    expect(s('\x1b(B\x1b7saved\x1b8\x1bcreset\x1b=')).toBe('savedreset');
  });

  it('shows other C1 bytes (OSC 0x9d, DCS 0x90, ST 0x9c) and C0 controls visibly; keeps tab and newline', () => {
    expect(s('\x9d52;c;aGk=\x9c')).toBe('\\x9d52;c;aGk=\\x9c');
    expect(s('\x90q\x9c')).toBe('\\x90q\\x9c');
    expect(s('a\x07b\x08c\x00d\x7fe\tf\ng')).toBe('a^Gb^Hc^@d^?e\tf\ng');
    expect(s('safe\rEVIL')).toBe('safeEVIL');
  });

  it('neutralises a sequence split across two records: neither half contains an ESC', () => {
    const whole = '\x1b]52;c;aGk=\x07';
    for (let cut = 1; cut < whole.length; cut++) {
      const a = s(whole.slice(0, cut));
      const b = s(whole.slice(cut));
      expect(a + b).not.toMatch(CONTROL);
      expect((a + b).replace(/\^\[|\^G/g, '')).toBe(whole.replaceAll('\x1b', '').replaceAll('\x07', ''));
    }
    expect(s('x\x1b')).toBe('x^[');
    expect(s('\x1b[12;')).toBe('^[[12;');
    expect(s('\x9b')).toBe('\\x9b');
  });

  it('shows bidirectional overrides instead of letting them reorder a line', () => {
    expect(s('file\u202Etxt.exe')).toBe('file\\u202etxt.exe');
  });

  it('leaves ordinary text, including non-ASCII, untouched', () => {
    const t = 'héllo wörld — 日本語 😀\tok';
    expect(s(t)).toBe(t);
  });

  it('is linear: a 2 MB string of unterminated CSI openers completes', () => {
    const out = s('\x1b[1;'.repeat(500_000));
    expect(out.length).toBe(2_500_000);
    expect(out).not.toMatch(CONTROL);
  });

  it('changes nothing for a pipe or file (not a TTY), or with --raw', () => {
    const t = '\x1b]52;c;aGk=\x07';
    expect(textFor({ isTTY: false })(t)).toBe(t);
    expect(textFor({ isTTY: true }, true)(t)).toBe(t);
    expect(textFor({ isTTY: true })(t)).toBe('^[]52;c;aGk=^G');
  });

  it('escapes C1 and bidi characters in JSON without changing the parsed value', () => {
    const v = { line: 'a\x9b2Jb\u202e\x1b' };
    const j = escapeJsonForTerminal(JSON.stringify(v));
    expect(j).not.toMatch(CONTROL);
    expect(j).not.toContain('\u202e');
    expect(JSON.parse(j)).toEqual(v);
  });
});
