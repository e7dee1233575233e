import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeEntry, encodeEntry, parseLine } from '../../../src/audit/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [3, { z: null, y: 'x' }], c: { e: true, d: false } })).toBe('{"a":[3,{"y":"x","z":null}],"b":1,"c":{"d":false,"e":true}}');
  });

  it('sorts by UTF-16 code units and escapes like JSON', () => {
    expect(canonicalJson({ é: 1, Z: 2, a: 3, '\u0001': 'tab\there "q"' })).toBe('{"\\u0001":"tab\\there \\"q\\"","Z":2,"a":3,"é":1}');
  });

  it('writes numbers in shortest round-trip form and omits undefined properties', () => {
    expect(canonicalJson({ n: 1.5, m: -0, big: 1e21, small: 1e-7, u: undefined })).toBe('{"big":1e+21,"m":0,"n":1.5,"small":1e-7}');
  });

  it('rejects what JSON cannot carry faithfully', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson(Infinity)).toThrow(/non-finite/);
    expect(() => canonicalJson(10n)).toThrow(/bigint/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined/);
    expect(() => canonicalJson(new Date(0))).toThrow(/plain objects/);
    expect(() => canonicalJson(() => 1)).toThrow(/function/);
  });

  it('is stable under parse/encode (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const once = canonicalJson(v);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
    );
  });
});

/**
 * The published examples of RFC 8785 (JSON Canonicalization Scheme): section 3.2.2's sample, section
 * 3.2.3's property sorting, and appendix B's number serialisations (IEEE 754 bits -> text).
 */
describe('canonicalJson: RFC 8785 test vectors', () => {
  it('section 3.2.2: literals, numbers and string escapes', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalJson(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it('section 3.2.3: properties sorted by UTF-16 code units (the emoji, a surrogate pair, before U+FB33)', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const out = canonicalJson(JSON.parse(input));
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // The RFC gives the UTF-8 bytes: U+0080 is written as it is (c2 80), not escaped.
    expect(Buffer.from(out, 'utf8').subarray(0, 38).toString('hex')).toBe('7b225c72223a2243617272696167652052657475726e222c2231223a224f6e65222c22c28022');
  });

  it('appendix B: numbers, from their IEEE 754 bits', () => {
    const vectors: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'], // -0
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of vectors) {
      expect(canonicalJson(Buffer.from(bits, 'hex').readDoubleBE(0)), bits).toBe(text);
    }
    // NaN and Infinity have no JSON form: the RFC requires an error.
    for (const bits of ['7fffffffffffffff', '7ff0000000000000']) {
      expect(() => canonicalJson(Buffer.from(bits, 'hex').readDoubleBE(0)), bits).toThrow(/non-finite/);
    }
  });

  it("edge forms of numbers (exponents, -0, more digits than a double holds) give the RFC's text", () => {
    expect(canonicalJson(JSON.parse('[1e21, 1E-7, -0, 333333333.33333329, 1e-6, 100, 1.0, -0.0]'))).toBe('[1e+21,1e-7,0,333333333.3333333,0.000001,100,1,0]');
  });

  it('departs from the RFC on one point: an unpaired surrogate is escaped (\\udxxx), never refused', () => {
    // RFC 8785 takes I-JSON input only and would refuse it; the audit log must record hostile text, not fail.
    expect(canonicalJson({ k: 'a\ud800b' })).toBe('{"k":"a\\ud800b"}');
    expect(JSON.parse(canonicalJson({ k: 'a\ud800b' }))).toEqual({ k: 'a\ud800b' });
  });
});

describe('entry encoding', () => {
  const data = { b: 'two', a: 1 };
  const prev = 'ab'.repeat(32);

  it('hashes exactly canonical {data, prev, seq, ts, type}', () => {
    const { line, hash } = encodeEntry(2, '2025-01-01T00:00:00.000Z', 'console', data, prev);
    const body = `{"data":{"a":1,"b":"two"},"prev":"${prev}","seq":2,"ts":"2025-01-01T00:00:00.000Z","type":"console"}`;
    expect(hash).toBe(createHash('sha256').update(body).digest('hex'));
    expect(line).toBe(`{"data":{"a":1,"b":"two"},"hash":"${hash}","prev":"${prev}","seq":2,"ts":"2025-01-01T00:00:00.000Z","type":"console"}`);
  });

  it('stores the canonical encoding of the whole entry and parses back the hashed bytes', () => {
    const { line, hash } = encodeEntry(1, '2025-01-01T00:00:00.000Z', 'network', { url: 'https://x/"hash":"', n: [1, 2] }, null);
    const entry = decodeEntry(line);
    expect(canonicalJson(entry)).toBe(line);
    expect(entry).toMatchObject({ seq: 1, prev: null, hash, type: 'network' });
    const head = parseLine(line)!;
    expect(createHash('sha256').update(head.body).digest('hex')).toBe(hash);
  });

  it('rejects bad input', () => {
    expect(() => encodeEntry(0, '2025-01-01T00:00:00.000Z', 'console', {}, null)).toThrow(/seq/);
    expect(() => encodeEntry(1, 'now"', 'console', {}, null)).toThrow(/timestamp/);
    expect(() => encodeEntry(1, '2025-01-01T00:00:00.000Z', 'nope' as 'console', {}, null)).toThrow(/type/);
    expect(() => encodeEntry(1, '2025-01-01T00:00:00.000Z', 'console', [] as unknown as Record<string, never>, null)).toThrow(/object/);
  });

  it('does not parse lines that are not entries', () => {
    expect(parseLine('')).toBeUndefined();
    expect(parseLine('{"data":{},"hash":"zz"}')).toBeUndefined();
    expect(parseLine('not json')).toBeUndefined();
  });
});
