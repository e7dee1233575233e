/**
 * Audit log benchmarks. Run: `node --import tsx bench/audit.ts [entries-for-verify]`
 * Prints numbers only; no timed assertions (see ARCHITECTURE.md, bench/).
 *
 * The proxy comparison reuses bench/proxy.ts's machinery (bench/lib/gateway.ts): fake HTTPS upstream,
 * gateway proxy and client in separate processes, loopback/unix sockets only. The proxy process holds an
 * AuditWriter on a temp run dir; with auditing on its onEvent does `audit.append('network', event)` for
 * each request event, with auditing off onEvent does nothing. Rounds alternate between the two modes.
 */
import { appendFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWriter, JsonlAuditStore, generateSigner, parsePublicKey, verifyStore, type JsonObject } from '../src/audit/index.js';
import { AuditSink } from '../src/daemon/audit-sink.js';
import { NetworkRecorder } from '../src/daemon/network-recorder.js';
import type { RequestEvent } from '../src/gateway/events.js';
import { MoatHome } from '../src/home/paths.js';
import type { RunMetadata } from '../src/store/types.js';
import { load, loadFor, median, startGatewayBench } from './lib/gateway.js';

const VERIFY_N = Number(process.argv[2] ?? 1_000_000);
const APPEND_N = 200_000;
const PROXY_CONCURRENCY = 16;
/** Even, so each mode goes first equally often (off/on, on/off, ...). */
const PROXY_ROUNDS = 6;
const PROXY_ROUND_MS = 2_000;
/** Upper bound of requests per round (the round normally ends on time first). */
const PROXY_ROUND_MAX = 200_000;
const PROXY_WARMUP = 2_000;
const PROXY_TARGET_PCT = 5;

function networkEvent(i: number): { method: string; url: string; status: number; bytes: number; ms: number; grant?: string } {
  return {
    method: i % 3 === 0 ? 'POST' : 'GET',
    url: `https://api.github.com/repos/acme/widgets/pulls/${i}?per_page=100`,
    status: 200,
    bytes: 1234 + (i % 977),
    ms: 12,
    ...(i % 5 === 0 ? { grant: 'github' } : {}),
  };
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

const FLOOD_N = 2_000;

function refusedEvent(i: number): RequestEvent {
  const path = `/${'a'.repeat(30_000)}?i=${i}`;
  return {
    type: 'request',
    ts: new Date().toISOString(),
    method: 'GET',
    url: `http://denied.test${path}`,
    host: 'denied.test',
    status: 403,
    ttfbMs: 0,
    durationMs: 0.1,
    bytesUp: 0,
    bytesDown: 120,
    blocked: true,
    reason: `GET ${path} on denied.test is refused by "deny"`,
  };
}

/**
 * A run floods the gateway with refused requests carrying 30 KB URLs: the daemon's cost per event on its
 * event loop (shared by every run) and the bytes written, as the daemon recorded them before (full event
 * to network.jsonl, parsed again and re-encoded for the audit) and now (NetworkRecorder).
 */
async function floodComparison(root: string): Promise<void> {
  const signer = generateSigner();
  const id = (s: string): string => s;
  // Before: JSON.stringify + redact for network.jsonl, JSON.parse + canonical encoding for the audit.
  const oldDir = join(root, 'flood-old');
  const w = await AuditWriter.open(oldDir, signer);
  let pending = '';
  let t0 = performance.now();
  let callerMs = 0;
  for (let i = 0; i < FLOOD_N; i += 500) {
    const b = performance.now();
    for (let j = i; j < i + 500; j++) {
      const ev = refusedEvent(j);
      const line = `${id(JSON.stringify(ev))}\n`;
      pending += line;
      w.append('network', JSON.parse(line) as JsonObject);
      w.append('policy', { decision: 'deny', host: ev.host, reason: id(ev.reason ?? '') });
    }
    callerMs += performance.now() - b;
    await appendFile(join(oldDir, 'network.jsonl'), pending);
    pending = '';
    await new Promise((r) => setImmediate(r));
  }
  await w.close();
  const oldTotal = performance.now() - t0;
  const size = async (d: string, f: string): Promise<number> => (await stat(join(d, f))).size;
  console.log(`flood: ${fmt(FLOOD_N)} refused requests with 30 KB URLs (one host), as recorded by the daemon`);
  console.log(
    `  before  ${((callerMs * 1000) / FLOOD_N).toFixed(1)} µs of event loop per event, ${(oldTotal / 1000).toFixed(1)} s in all; network.jsonl ${((await size(oldDir, 'network.jsonl')) / 1e6).toFixed(1)} MB, audit.jsonl ${((await size(oldDir, 'audit.jsonl')) / 1e6).toFixed(1)} MB`,
  );

  const newDir = join(root, 'flood-new');
  const home = new MoatHome(join(root, 'flood-home'));
  const meta = {
    id: 'run_000000000000',
    name: 'flood',
    workspace: root,
    command: [],
    createdAt: new Date().toISOString(),
    image: 'x',
  } as unknown as RunMetadata;
  const sink = await AuditSink.open(home, meta, newDir, (m) => console.error(m));
  const net = await NetworkRecorder.open({ file: join(newDir, 'network.jsonl'), audit: sink, log: (m) => console.error(m) });
  t0 = performance.now();
  callerMs = 0;
  for (let i = 0; i < FLOOD_N; i += 500) {
    const b = performance.now();
    for (let j = i; j < i + 500; j++) net.record(refusedEvent(j), id);
    callerMs += performance.now() - b;
    await new Promise((r) => setImmediate(r));
  }
  await net.close();
  await sink.close();
  const newTotal = performance.now() - t0;
  console.log(
    `  now     ${((callerMs * 1000) / FLOOD_N).toFixed(1)} µs of event loop per event, ${(newTotal / 1000).toFixed(1)} s in all; network.jsonl ${((await size(newDir, 'network.jsonl')) / 1e3).toFixed(1)} kB, audit.jsonl ${((await size(newDir, 'audit.jsonl')) / 1e3).toFixed(1)} kB`,
  );
  console.log('  (event-loop time excludes the file writes, which are asynchronous in both; "now" records 20 refusals in full and counts the rest)');
}
const signedPct = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)} %`;

type Mode = 'off' | 'on';

/** Proxy requests/s with auditing on vs off, in alternating rounds (off/on, then on/off, ...). */
async function proxyComparison(): Promise<void> {
  const bench = await startGatewayBench({ audit: true });
  try {
    const pool = bench.proxied(PROXY_CONCURRENCY);
    const audited = { requests: 0 };
    const setMode = async (mode: Mode): Promise<void> => {
      await bench.ask(mode === 'on' ? 'audit-on' : 'audit-off');
    };
    // Warm-up in both modes: connections, leaf cert, JIT of the proxy and of the audit path.
    for (const mode of ['off', 'on'] as const) {
      await setMode(mode);
      await load(pool, PROXY_CONCURRENCY, PROXY_WARMUP);
      if (mode === 'on') audited.requests += PROXY_WARMUP;
    }
    const rps: Record<Mode, number[]> = { off: [], on: [] };
    const paired: number[] = [];
    const rows: string[] = [];
    for (let round = 0; round < PROXY_ROUNDS; round += 1) {
      const order: Mode[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      const got: Partial<Record<Mode, number>> = {};
      for (const mode of order) {
        await setMode(mode);
        const r = await loadFor(pool, PROXY_CONCURRENCY, PROXY_ROUND_MS, PROXY_ROUND_MAX);
        if (mode === 'on') audited.requests += r.requests;
        rps[mode].push(r.rps);
        got[mode] = r.rps;
      }
      const off = got.off!;
      const on = got.on!;
      paired.push(((on - off) / off) * 100);
      rows.push(
        `  round ${round + 1} (${order.join(', ')})  off ${fmt(off).padStart(6)} req/s   on ${fmt(on).padStart(6)} req/s   ${signedPct(((on - off) / off) * 100)}`,
      );
    }
    await setMode('off');
    await pool.close();
    const closed = await bench.ask('close'); // flush + final signed checkpoint
    const report = await verifyStore(new JsonlAuditStore(bench.auditDir!), parsePublicKey(bench.auditPublicKeyPem!));

    const off = median(rps.off);
    const on = median(rps.on);
    const diff = ((on - off) / off) * 100;
    console.log(
      `proxy: requests/s with auditing on vs off (c=${PROXY_CONCURRENCY} keep-alive HTTPS via the gateway; ${PROXY_ROUNDS} rounds x ${PROXY_ROUND_MS / 1000} s per mode, alternating)`,
    );
    for (const row of rows) console.log(row);
    console.log(
      `  median              off ${fmt(off).padStart(6)} req/s   on ${fmt(on).padStart(6)} req/s   ${signedPct(diff)} (target within ${PROXY_TARGET_PCT} %: ${diff >= -PROXY_TARGET_PCT ? 'met' : 'NOT met'})`,
    );
    console.log(`  median of the ${PROXY_ROUNDS} per-round differences: ${signedPct(median(paired))} (less sensitive to load drifting between rounds)`);
    console.log(
      `  audit log: ${fmt(closed.entries as number)} network entries for ${fmt(audited.requests)} audited requests, verify ${report.ok ? 'OK' : 'FAIL'}`,
    );
  } finally {
    await bench.stop();
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'moat-bench-audit-'));
  try {
    console.log(`node ${process.version}, ${process.platform}/${process.arch}`);

    const a = await fill(join(root, 'append'), APPEND_N);
    console.log(`append: ${fmt(APPEND_N)} network entries`);
    console.log(
      `  caller-side append()        ${fmt(APPEND_N / (a.callerMs / 1000))} entries/s (${((a.callerMs / APPEND_N) * 1000).toFixed(2)} µs each; target >= 20,000/s)`,
    );
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
    console.log(
      `  verifyStore                 ${(ms / 1000).toFixed(2)} s, ${fmt(VERIFY_N / (ms / 1000))} entries/s, verdict ${report.ok ? 'OK' : 'FAIL'} (target < 10 s)`,
    );
    console.log(`  RSS after writing / after verifying: ${fmt(rssAfterFill / 1e6)} MB / ${fmt(process.memoryUsage().rss / 1e6)} MB`);

    await floodComparison(root);
    await proxyComparison();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
