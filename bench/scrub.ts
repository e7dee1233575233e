/**
 * `node --import tsx bench/scrub.ts [path/to/other/response-scrub.ts]`: the response scrubber's cost per
 * KiB (no value present, the common case): a body in 16 KiB chunks and WebSocket frames of 4 KiB. With a second module path, its body
 * scrubber is measured in the same minute (before/after). Prints numbers only.
 */
import { PassThrough, Readable, type Transform } from 'node:stream';
import { compileScrub } from '../src/gateway/response-scrub.js';

const PAIRS = [
  { value: 'acme_REALTOKEN0123456789abcdefXYZ', placeholder: 'acme_PLACEHOLDER0123456789abcdefQ' },
  { value: 'sk-ant-api03-REALREALREALREALREALREALREAL', placeholder: 'sk-ant-api03-PLACEHOLDERPLACEHOLDERPLACE' },
];
const MIB = 1024 * 1024;
const ROUNDS = 40;
// JSON-ish text with the values' first characters present (the partial-tail check has work to do).
const TEXT = Buffer.from('{"id":"acme_x","key":"sk-a","data":[1,2,3],"s":"lorem ipsum dolor sit amet"}\n'.repeat(Math.ceil(MIB / 80)).slice(0, MIB));

function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function frames(buf: Buffer, size: number): Buffer[] {
  return chunks(buf, size).map((p) => {
    const h = Buffer.from([0x82, 126, 0, 0]);
    h.writeUInt16BE(p.length, 2);
    return Buffer.concat([h, p]);
  });
}

async function drain(make: () => Transform | undefined, input: Buffer[]): Promise<void> {
  const t = make() ?? new PassThrough();
  t.resume();
  await new Promise<void>((resolve, reject) => {
    Readable.from(input).pipe(t);
    t.once('end', resolve);
    t.once('error', reject);
  });
}

async function measure(label: string, make: () => Transform | undefined, input: Buffer[]): Promise<void> {
  const kib = input.reduce((n, b) => n + b.length, 0) / 1024;
  await drain(make, input);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i += 1) await drain(make, input);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const per = (ms: number): string => ((ms * 1000) / (kib * ROUNDS)).toFixed(2);
  console.log(`${label.padEnd(44)} wall ${per(wall)} µs/KiB   cpu(user+sys) ${per((cpu.user + cpu.system) / 1000)} µs/KiB`);
}

async function main(): Promise<void> {
  const scrub = compileScrub(PAIRS);
  const other = process.argv[2];
  const body = chunks(TEXT, 16 * 1024);
  await measure('pass-through (PassThrough, no scrub)', () => new PassThrough(), body);
  await measure('body scrub, 16 KiB chunks', () => scrub.body(() => undefined), body);
  if (other) {
    const mod = (await import(other)) as { compileScrub: typeof compileScrub };
    const before = mod.compileScrub(PAIRS);
    await measure('body scrub, 16 KiB chunks (other module)', () => before.body(() => undefined), body);
  }
  await measure('websocket frames scrub, 4 KiB frames', () => scrub.frames(() => undefined), frames(TEXT, 4096));
}

void main();
