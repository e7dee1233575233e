import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeEntry, encodeEntry, parseLine } from '../../../src/audit/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [3, { z: null, y: 'x' }], c: { e: true, d: false } }))
      .toBe('{"a":[3,{"y":"x","z":null}],"b":1,"c":{"d":false,"e":true}}');
  });

  it('sorts by UTF-16 code units and escapes like JSON', () => {
    expect(canonicalJson({ 'é': 1, Z: 2, a: 3, '\u0001': 'tab\there "q"' })).toBe('{"\\u0001":"tab\\there \\"q\\"","Z":2,"a":3,"é":1}');
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
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const once = canonicalJson(v);
      expect(canonicalJson(JSON.parse(once))).toBe(once);
    }));
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
