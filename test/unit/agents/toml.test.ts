import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse } from 'smol-toml';
import { encodeToml, tomlKey, tomlString, type TomlTable, type TomlValue } from '../../../src/agents/codex/toml.js';
import { stageCodex } from '../../../src/agents/codex/staging.js';

/** Characters that mean something to TOML, or to a terminal, or that UTF-8 writes in several bytes. */
const SPECIAL = [
  '"',
  "'",
  '\\',
  '\n',
  '\r',
  '\t',
  '\b',
  '\f',
  '\u0000',
  '\u001b',
  '\u007f',
  '[',
  ']',
  '.',
  '=',
  '#',
  ' ',
  '{',
  '}',
  ',',
  'a',
  'é',
  '\u2028',
  '\ufeff',
  '😀',
];
/** A string a TOML file can hold (no unpaired surrogate: UTF-8 cannot carry one), rich in SPECIAL. */
const text = (): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 12 })
    .filter((s) => !/\p{Cs}/u.test(s));
/** Numbers as JavaScript holds them; -0 reads back as 0 (TOML's -0 is an integer, equal to 0). */
const number = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
);
const { table } = fc.letrec<{ value: TomlValue; table: TomlTable }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, text(), number, fc.boolean(), fc.array(tie('value'), { maxLength: 4 }), tie('table')),
  table: fc.dictionary(text(), tie('value'), { maxKeys: 5 }),
}));

describe('TOML encoder', () => {
  it('escapes quotes, backslashes and control characters', () => {
    expect(tomlString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(tomlString('line1\nline2\r\t\b\f')).toBe('"line1\\nline2\\r\\t\\b\\f"');
    expect(tomlString('\u0000\u001f\u007f')).toBe('"\\u0000\\u001F\\u007F"');
    expect(tomlString('ünïcode ✓')).toBe('"ünïcode ✓"');
  });

  it("round-trips any string (TOML basic-string escapes are a subset of JSON's)", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const encoded = tomlString(s);
        expect([...encoded].some((ch) => (ch.codePointAt(0) ?? 0) < 0x20 || ch === '\u007f')).toBe(false);
        expect(JSON.parse(encoded)).toBe(s);
      }),
      { numRuns: 500 },
    );
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
    expect(text).toBe(
      [
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
      ].join('\n'),
    );
  });

  it('parses back, with a real TOML parser, to the very table it encoded (any keys, strings, numbers, nesting)', () => {
    fc.assert(
      fc.property(table, (doc) => {
        expect(parse(encodeToml(doc))).toEqual(doc);
      }),
      { numRuns: 500 },
    );
  });

  it('writes integers beyond 2^53 as floats (TOML integers stop at 2^63; parsers differ above 2^53)', () => {
    for (const x of [2 ** 53, 1e20, 1e21, -(2 ** 64), Number.MAX_VALUE]) {
      expect(parse(encodeToml({ x })).x).toBe(x);
    }
    expect(encodeToml({ x: 1e20 })).toBe('x = 100000000000000000000.0\n');
  });

  it('the staged codex config parses back to exactly its settings, however hostile the names and values', () => {
    const evil = 'x"]\n[projects."/"]\ntrust_level = "trusted"\n#\u0000\u007f\u2028\\';
    const settings = { mcp: { [evil]: { command: evil, args: [evil, ''], cwd: evil, env: { [evil]: evil, PLAIN: 'v' } }, ok: { command: 'node' } } };
    const parsed = parse(stageCodex(settings, { yolo: true, args: [] }).files[0]?.content ?? '');
    expect(parsed).toEqual({
      approval_policy: 'never',
      sandbox_mode: 'danger-full-access',
      projects: { '/workspace': { trust_level: 'trusted' } },
      shell_environment_policy: { inherit: 'all' },
      mcp_servers: { [evil]: { command: evil, args: [evil, ''], cwd: evil, env: { [evil]: evil, PLAIN: 'v' } }, ok: { command: 'node' } },
    });
  });

  it('refuses numbers TOML cannot hold', () => {
    expect(() => encodeToml({ x: Number.NaN })).toThrow(/NaN/);
  });

  it('a value can never start a new line or table', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (k, v) => {
        const text = encodeToml({ [k]: v });
        expect(text.trimEnd().split('\n')).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });
});
