import { describe, it, expect } from 'vitest';
import { EscapeFilter } from '../../../src/term/escape.js';

const b = (...xs: number[]): Buffer => Buffer.from(xs);

describe('EscapeFilter (Ctrl-/ prefix)', () => {
  it('passes ordinary bytes through', () => {
    expect(new EscapeFilter().feed(Buffer.from('ls -la\r'))).toEqual({ data: Buffer.from('ls -la\r') });
  });
  it('Ctrl-/ d detaches, keeping the bytes before it', () => {
    expect(new EscapeFilter().feed(b(0x61, 0x1f, 0x64, 0x62))).toEqual({ data: b(0x61), action: 'detach' });
  });
  it('Ctrl-/ k stops, even when split across chunks', () => {
    const f = new EscapeFilter();
    expect(f.feed(b(0x1f))).toEqual({ data: b() });
    expect(f.feed(b(0x6b))).toEqual({ data: b(), action: 'stop' });
  });
  it('Ctrl-/ twice sends one literal Ctrl-/', () => {
    expect(new EscapeFilter().feed(b(0x1f, 0x1f, 0x78))).toEqual({ data: b(0x1f, 0x78) });
  });
  it('Ctrl-/ followed by another key sends both', () => {
    expect(new EscapeFilter().feed(b(0x1f, 0x03))).toEqual({ data: b(0x1f, 0x03) });
  });
});
