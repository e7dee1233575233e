import { hash } from 'node:crypto';
import type { AuditEntry, AuditType, JsonObject } from './types.js';
import { isAuditType } from './types.js';

/**
 * Canonical JSON: object keys sorted by UTF-16 code units (as RFC 8785), no insignificant whitespace,
 * strings and numbers as JSON.stringify writes them (shortest round-trip numbers, so JSON.parse followed
 * by canonicalJson reproduces the same bytes). Object properties whose value is undefined are omitted,
 * like JSON. Rejected: non-finite numbers, bigint, functions, symbols, undefined in arrays, class instances.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        return `[${value
          .map((v: unknown) => {
            if (v === undefined) throw new TypeError('canonical JSON: undefined in array');
            return canonicalJson(v);
          })
          .join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new TypeError('canonical JSON: only plain objects');
      const obj = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(obj).sort()) {
        const v = obj[key];
        if (v === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
      }
      return `{${parts.join(',')}}`;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`canonical JSON: cannot encode ${typeof value}`);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
const TS_RE = /^[0-9T:.+Z-]+$/;

/**
 * Encode an entry. The hashed bytes are canonical({data, prev, seq, ts, type}); the stored line is the
 * canonical encoding of the whole entry, i.e. the same bytes with `"hash":"<hex>",` inserted after data,
 * so a verifier recovers the exact hashed bytes by removing that field, without re-encoding `data`.
 */
export function encodeEntry(seq: number, ts: string, type: AuditType, data: JsonObject, prev: string | null): { line: string; hash: string } {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError(`bad seq ${seq}`);
  if (!TS_RE.test(ts)) throw new TypeError(`bad timestamp ${ts}`);
  if (!isAuditType(type)) throw new TypeError(`bad audit type ${String(type)}`);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new TypeError('audit data must be an object');
  return encodeEntryData(seq, ts, type, canonicalJson(data), prev);
}

/**
 * encodeEntry with `data` already in canonical JSON (an object), so a caller that has encoded an event
 * once (e.g. for network.jsonl) does not encode it again. The caller guarantees canonical form.
 */
export function encodeEntryData(seq: number, ts: string, type: AuditType, d: string, prev: string | null): { line: string; hash: string } {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError(`bad seq ${seq}`);
  if (!TS_RE.test(ts)) throw new TypeError(`bad timestamp ${ts}`);
  if (!isAuditType(type)) throw new TypeError(`bad audit type ${String(type)}`);
  if (!d.startsWith('{') || !d.endsWith('}')) throw new TypeError('audit data must be an object');
  const tail = `"prev":${prev === null ? 'null' : `"${prev}"`},"seq":${seq},"ts":"${ts}","type":"${type}"}`;
  const h = sha256Hex(`{"data":${d},${tail}`);
  return { line: `{"data":${d},"hash":"${h}",${tail}`, hash: h };
}

/** What a verifier needs from a stored line, parsed without JSON.parse. */
export interface LineHead {
  seq: number;
  ts: string;
  type: string;
  prev: string | null;
  hash: string;
  /** The exact bytes that were hashed. */
  body: string;
}

const TAIL_RE = /^,"hash":"([0-9a-f]{64})",("prev":(null|"([0-9a-f]{64})"),"seq":([1-9][0-9]{0,15}),"ts":"([0-9T:.+Z-]+)","type":"([a-z]+)"\})$/;

/** Parse a stored line's fixed tail; undefined when the line is not a well-formed entry line. */
export function parseLine(line: string): LineHead | undefined {
  if (!line.startsWith('{"data":{')) return undefined;
  const at = line.lastIndexOf(',"hash":"');
  if (at < 0) return undefined;
  const m = TAIL_RE.exec(line.slice(at));
  if (!m) return undefined;
  return {
    hash: m[1]!,
    prev: m[4] ?? null,
    seq: Number(m[5]),
    ts: m[6]!,
    type: m[7]!,
    body: `${line.slice(0, at)},${m[2]!}`,
  };
}

/** Parse a stored line fully (for listings and bundles). Throws on malformed input. */
export function decodeEntry(line: string): AuditEntry {
  const head = parseLine(line);
  if (!head) throw new TypeError('malformed audit entry line');
  const parsed = JSON.parse(line) as { data: JsonObject };
  return { seq: head.seq, ts: head.ts, type: head.type as AuditType, data: parsed.data, prev: head.prev, hash: head.hash };
}

/** The stored line for an entry object (e.g. from a bundle): canonical encoding of the whole entry. */
export function entryToLine(e: unknown): string {
  return canonicalJson(e);
}

export function isHex64(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}
