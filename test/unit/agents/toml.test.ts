import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeToml, tomlKey, tomlString } from '../../../src/agents/codex/toml.js';

describe('TOML encoder', () => {
  it('escapes quotes, backslashes and control characters', () => {
    expect(tomlString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(tomlString('line1\nline2\r\t\b\f')).toBe('"line1\\nline2\\r\\t\\b\\f"');
    expect(tomlString('\u0000\u001f\u007f')).toBe('"\\u0000\\u001F\\u007F"');
    expect(tomlString('ünïcode ✓')).toBe('"ünïcode ✓"');
  });

  it('round-trips any string (TOML basic-string escapes are a subset of JSON\'s)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const encoded = tomlString(s);
      expect([...encoded].some((ch) => (ch.codePointAt(0) ?? 0) < 0x20 || ch === '\u007f')).toBe(false);
      expect(JSON.parse(encoded)).toBe(s);
    }), { numRuns: 500 });
  });

  it('quotes keys that are not bare', () => {
    expect(tomlKey('approval_policy')).toBe('approval_policy');
    expect(tomlKey('my-server2')).toBe('my-server2');
    expect(tomlKey('/workspace')).toBe('"/workspace"');
    expect(tomlKey('a.b')).toBe('"a.b"');
    expect(tomlKey('')).toBe('""');
    expect(tomlKey('x"]\n[evil]')).toBe('"x\\"]\\n[evil]"');
  });

  it('writes scalars before tables and nests tables under dotted headers', () => {
    const text = encodeToml({
      a: 'x',
      n: 3,
      b: true,
      list: ['p', 'q'],
      t: { k: 'v', sub: { deep: false } },
      projects: { '/workspace': { trust_level: 'trusted' } },
      skipped: undefined,
    });
    expect(text).toBe([
      'a = "x"',
      'n = 3',
      'b = true',
      'list = ["p", "q"]',
      '',
      '[t]',
      'k = "v"',
      '',
      '[t.sub]',
      'deep = false',
      '',
      '[projects."/workspace"]',
      'trust_level = "trusted"',
      '',
    ].join('\n'));
  });

  it('refuses numbers TOML cannot hold', () => {
    expect(() => encodeToml({ x: Number.NaN })).toThrow(/NaN/);
  });

  it('a value can never start a new line or table', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (k, v) => {
      const text = encodeToml({ [k]: v });
      expect(text.trimEnd().split('\n')).toHaveLength(1);
    }), { numRuns: 300 });
  });
});
