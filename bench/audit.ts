/**
 * Audit log benchmarks. Run: `node --import tsx bench/audit.ts [entries-for-verify]`
 * Prints numbers only; no timed assertions (see ARCHITECTURE.md, bench/).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWriter, JsonlAuditStore, generateSigner, parsePublicKey, verifyStore } from '../src/audit/index.js';

const VERIFY_N = Number(process.argv[2] ?? 1_000_000);
const APPEND_N = 200_000;

function networkEvent(i: number): { method: string; url: string; status: number; bytes: number; ms: number; grant?: string } {
  return { method: i % 3 === 0 ? 'POST' : 'GET', url: `https://api.github.com/repos/acme/widgets/pulls/${i}?per_page=100`, status: 200, bytes: 1234 + (i % 977), ms: 12, ...(i % 5 === 0 ? { grant: 'github' } : {}) };
}

async function fill(dir: string, n: number, signer = generateSigner()): Promise<{ callerMs: number; totalMs: number }> {
  const w = await AuditWriter.open(dir, signer);
  const t0 = performance.now();
  let callerMs = 0;
  // Append in bursts of 10k, yielding in between as a proxy would, so batches hit the disk meanwhile.
  for (let i = 0; i < n; i += 10_000) {
    const b = performance.now();
    for (let j = i; j < Math.min(n, i + 10_000); j++) w.append('network', networkEvent(j));
    callerMs += performance.now() - b;
    await new Promise((r) => setImmediate(r));
  }
  await w.close();
  return { callerMs, totalMs: performance.now() - t0 };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'moat-bench-audit-'));
  try {
    console.log(`node ${process.version}, ${process.platform}/${process.arch}`);

    const a = await fill(join(root, 'append'), APPEND_N);
    console.log(`append: ${fmt(APPEND_N)} network entries`);
    console.log(`  caller-side append()        ${fmt(APPEND_N / (a.callerMs / 1000))} entries/s (${(a.callerMs / APPEND_N * 1000).toFixed(2)} µs each; target >= 20,000/s)`);
    console.log(`  durable (batched, fsync'd)  ${fmt(APPEND_N / (a.totalMs / 1000))} entries/s (incl. close + final checkpoint)`);

    const signer = generateSigner();
    const dir = join(root, 'verify');
    const f = await fill(dir, VERIFY_N, signer);
    const size = (await stat(join(dir, 'audit.jsonl'))).size;
    const rssAfterFill = process.memoryUsage().rss;
    console.log(`verify: ${fmt(VERIFY_N)} entries, ${(size / 1e6).toFixed(0)} MB (written in ${(f.totalMs / 1000).toFixed(1)} s)`);
    const t0 = performance.now();
    const report = await verifyStore(new JsonlAuditStore(dir), parsePublicKey(signer.publicKeyPem));
    const ms = performance.now() - t0;
    console.log(`  verifyStore                 ${(ms / 1000).toFixed(2)} s, ${fmt(VERIFY_N / (ms / 1000))} entries/s, verdict ${report.ok ? 'OK' : 'FAIL'} (target < 10 s)`);
    console.log(`  RSS after writing / after verifying: ${fmt(rssAfterFill / 1e6)} MB / ${fmt(process.memoryUsage().rss / 1e6)} MB`);

    console.log('proxy: TODO(lead): requests/s with auditing on vs off (target within 5 %) — not measured here yet');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
