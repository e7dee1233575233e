import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { ENGINE_PARTIAL_BYTES, FrameLines, LineAssembler, RawLines } from '../../../src/runtime/docker/log-stream.js';
import { FrameReader } from '../../../src/runtime/docker/engine-api.js';
import { readLogLines } from '../../../src/runtime/docker/docker-runtime.js';
import type { LogLine } from '../../../src/runtime/types.js';

const TS = '2026-12-01T22:31:14.687507618Z';
const MB = 1024 * 1024;

/** A line as the engine's log API returns it: partials of 16 KiB content, each with its timestamp. */
function engineMessages(line: Buffer, ts = TS): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < line.length; i += ENGINE_PARTIAL_BYTES) {
    const part = line.subarray(i, i + ENGINE_PARTIAL_BYTES);
    const last = i + ENGINE_PARTIAL_BYTES >= line.length;
    out.push(Buffer.concat([Buffer.from(`${ts} `), part, Buffer.from(last ? '\n' : '')]));
  }
  return out;
}

function frame(kind: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

function expectPieces(got: LogLine[], whole: string, max: number): void {
  expect(got.map((l) => l.line).join('')).toBe(whole);
  for (const l of got) expect(l.line.length).toBeLessThanOrEqual(max);
  expect(got.slice(0, -1).every((l) => l.cont === true)).toBe(true);
  expect(got.at(-1)?.cont).toBeUndefined();
}

describe('hostile output: line splitting is linear and bounded', () => {
  it('a 5 MB line fed one byte at a time comes out as pieces no longer than the maximum', () => {
    const max = 64 * 1024;
    const got: LogLine[] = [];
    const a = new LineAssembler('stdout', (l) => got.push(l), max);
    const one = Buffer.from('x');
    const n = 5 * MB;
    for (let i = 0; i < n; i++) a.push(TS, one, false);
    a.push(TS, Buffer.alloc(0), true);
    expect(got).toHaveLength(Math.ceil(n / max));
    expectPieces(got, 'x'.repeat(n), max);
    expect(new Set(got.map((l) => l.ts))).toEqual(new Set([TS]));
  });

  it('a 5 MB line from a TTY log stream, in 7-byte chunks, loses none of its text and none of the engine timestamps leak into it', () => {
    const max = 256 * 1024;
    const line = Buffer.alloc(5 * MB, 'A');
    const stream = Buffer.concat([...engineMessages(line), Buffer.from(`${TS} short\n`)]);
    const got: LogLine[] = [];
    const r = new RawLines((l) => got.push(l), max);
    for (let i = 0; i < stream.length; i += 7) r.write(stream.subarray(i, i + 7));
    r.finish();
    expect(got.at(-1)).toEqual({ ts: TS, stream: 'stdout', line: 'short' });
    expectPieces(got.slice(0, -1), 'A'.repeat(5 * MB), max);
  });

  it('a 5 MB frame arriving in 64-byte chunks is demultiplexed whole (a quadratic join would copy ~200 GB)', () => {
    const body = Buffer.alloc(5 * MB, 'B');
    const all = frame(1, body);
    const sizes: number[] = [];
    const r = new FrameReader((_s, d) => sizes.push(d.length));
    for (let i = 0; i < all.length; i += 64) r.write(all.subarray(i, i + 64));
    expect(sizes).toEqual([5 * MB]);
  });

  it('partial messages of a non-TTY stream join into one line; stdout and stderr pieces stay apart', () => {
    const max = 40_000;
    const got: LogLine[] = [];
    const f = new FrameLines((l) => got.push(l), max);
    const line = Buffer.alloc(100_000, 'C');
    for (const m of engineMessages(line)) {
      f.frame('stdout', m);
      f.frame('stderr', Buffer.from(`${TS} err\n`));
    }
    f.finish();
    const out = got.filter((l) => l.stream === 'stdout');
    expectPieces(out, 'C'.repeat(100_000), max);
    expect(got.filter((l) => l.stream === 'stderr').map((l) => l.line)).toEqual(Array(Math.ceil(100_000 / ENGINE_PARTIAL_BYTES)).fill('err'));
  });

  it('a multi-byte character cut by the engine between two partials is decoded whole', () => {
    const text = `${'a'.repeat(ENGINE_PARTIAL_BYTES - 1)}é€😀z`;
    const got: LogLine[] = [];
    const r = new RawLines((l) => got.push(l));
    for (const m of engineMessages(Buffer.from(text))) r.write(m);
    r.finish();
    expect(got.map((l) => l.line)).toEqual([text]);
  });

  it('a piece is never cut inside a surrogate pair', () => {
    const got: LogLine[] = [];
    const a = new LineAssembler('stdout', (l) => got.push(l), 5);
    a.push(TS, Buffer.from('abcd😀efgh'), true);
    expect(got.map((l) => l.line)).toEqual(['abcd', '😀efg', 'h']);
  });

  it('text that does not start with a timestamp is kept as content, control bytes included', () => {
    const got: LogLine[] = [];
    const r = new RawLines((l) => got.push(l));
    r.write(Buffer.from(`2026-1x not a time\n${TS} \x1b]52;c;aGk=\x07ok\r\n`));
    r.finish();
    expect(got.map((l) => l.line)).toEqual(['2026-1x not a time', '\x1b]52;c;aGk=\x07ok']);
  });

  it('pauses the engine stream while the consumer is busy, and loses nothing', async () => {
    const src = new PassThrough();
    const got: string[] = [];
    let pausedSeen = false;
    const done = readLogLines(src, true, async (l) => {
      got.push(l.line);
      await new Promise((r) => setTimeout(r, 1));
      pausedSeen ||= src.isPaused();
    });
    for (let i = 0; i < 50; i++) src.write(`${TS} line ${i}\n`);
    src.end();
    await done;
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
    expect(pausedSeen).toBe(true);
  });
});
