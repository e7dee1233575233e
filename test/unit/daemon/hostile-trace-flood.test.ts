import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlAuditStore, generateSigner, parsePublicKey, verifyStore, type AuditSigner } from '../../../src/audit/index.js';
import { AuditSink } from '../../../src/daemon/audit-sink.js';
import { NetworkRecorder } from '../../../src/daemon/network-recorder.js';
import { ByteBudget, RECORD_LIMITS, TRUNCATED, capRequestEvent, capText } from '../../../src/daemon/record-limits.js';
import { RefusalAggregator } from '../../../src/daemon/refusals.js';
import { TraceFile } from '../../../src/daemon/trace-file.js';
import type { RequestEvent } from '../../../src/gateway/events.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { RunMetadata } from '../../../src/store/types.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'moat-trace-flood-'));
  dirs.push(d);
  return d;
}

const HUGE = `/${'a'.repeat(30 * 1024)}`;

function refused(i: number, host = 'denied.test', path = HUGE): RequestEvent {
  return {
    type: 'request',
    ts: new Date(1_700_000_000_000 + i).toISOString(),
    method: 'GET',
    url: `http://${host}${path}?i=${i}`,
    host,
    status: 403,
    ttfbMs: 0,
    durationMs: 0.1,
    bytesUp: 0,
    bytesDown: 100,
    blocked: true,
    reason: `GET ${path} on ${host} is refused by "deny"`,
  };
}

const meta = {
  id: 'run_0123456789ab',
  name: 'flood',
  workspace: '/w',
  command: ['x'],
  createdAt: new Date().toISOString(),
  image: 'img',
} as unknown as RunMetadata;

async function openSink(home: MoatHome, runDir: string, budgetBytes: number, signer: AuditSigner): Promise<AuditSink> {
  (AuditSink as unknown as { signer: Promise<AuditSigner> | undefined }).signer = Promise.resolve(signer);
  return AuditSink.open(
    home,
    meta,
    runDir,
    (m) => {
      throw new Error(m);
    },
    { budgetBytes },
  );
}

describe('a run cannot grow its records without a bound', () => {
  it('caps one request: URL and reason truncated with a marker, the full URL length kept', () => {
    const ev = capRequestEvent(refused(1));
    expect(ev.url.length).toBe(RECORD_LIMITS.url);
    expect(ev.url.endsWith(TRUNCATED)).toBe(true);
    expect(ev.urlLen).toBe(refused(1).url.length);
    expect(ev.reason!.length).toBe(RECORD_LIMITS.reason);
    expect(ev.reason!.endsWith(TRUNCATED)).toBe(true);
    const short = capRequestEvent({ ...refused(1), url: 'http://x/', reason: 'r' });
    expect(short.url).toBe('http://x/');
    expect(short.urlLen).toBeUndefined();
    // A surrogate pair is never split by the cut.
    const pre = 'a'.repeat(2048 - TRUNCATED.length - 1);
    expect(capText(`${pre}😀${'tail'.repeat(10)}`, 2048)).toBe(`${pre}${TRUNCATED}`);
  });

  it('aggregates repeated refusals per host: the first N individually, then one summary per window', () => {
    const agg = new RefusalAggregator({ perKey: 3, maxKeys: 2 });
    const admitted = Array.from({ length: 10 }, (_, i) => agg.admit('a.test', 403, `r${i}`, `t${i}`));
    expect(admitted).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(agg.drain('now')).toEqual([{ type: 'refusals', ts: 'now', host: 'a.test', status: 403, reason: 'r9', count: 7, since: 't3', until: 't9' }]);
    expect(agg.drain('later')).toEqual([]);
    agg.admit('a.test', 403, 'again', 'u');
    expect(agg.drain('w3')[0]?.count).toBe(1);
    // Hosts beyond maxKeys (random subdomains) share one bucket, counted from the start.
    expect(agg.admit('b.test', 403, 'r', 't')).toBe(true);
    expect(agg.admit('c1.test', 403, 'r', 't')).toBe(false);
    expect(agg.admit('c2.test', 403, 'r', 't')).toBe(false);
    expect(agg.drain('w4')).toEqual([expect.objectContaining({ host: '*', count: 2 })]);
  });

  it('a trace file never passes its budget; summaries use a reserve that single events cannot', async () => {
    const d = await tmp();
    const f = await TraceFile.open(join(d, 'n.jsonl'), { limitBytes: 64 * 1024 });
    const line = JSON.stringify({ x: 'y'.repeat(1000) });
    let events = 0;
    while (f.write(line, 'event')) events++;
    expect(events).toBe(Math.floor((64 * 1024 - f.budget.reserve) / (line.length + 1)));
    expect(f.write('{"summary":1}', 'summary')).toBe(true);
    while (f.write(line, 'summary')) {
      /* fill the summary share */
    }
    expect(f.write('{"final":1}', 'final')).toBe(true);
    await f.close();
    expect((await stat(join(d, 'n.jsonl'))).size).toBeLessThanOrEqual(64 * 1024);
    // Reopened (a daemon restart), the budget counts what the file already holds.
    const again = await TraceFile.open(join(d, 'n.jsonl'), { limitBytes: 64 * 1024 });
    expect(again.write(line, 'event')).toBe(false);
    await again.close();
    expect(new ByteBudget(1000).fits(900, 'event')).toBe(false);
  });

  it('a flood of refused 30 KB requests stays within both budgets, is summarised, and the audit still verifies', async () => {
    const d = await tmp();
    const home = new MoatHome(join(d, 'home'));
    const runDir = join(d, 'run');
    const signer = generateSigner();
    const budget = 1024 * 1024;
    const audit = await openSink(home, runDir, budget, signer);
    const net = await NetworkRecorder.open({ file: join(runDir, 'network.jsonl'), audit, budgetBytes: budget, log: () => undefined, perKey: 20, maxKeys: 50 });
    const id = (s: string): string => s;
    // 20,000 refusals of one host (aggregated) and 5,000 of distinct hosts (past maxKeys: one bucket).
    for (let i = 0; i < 20_000; i++) net.record(refused(i), id);
    for (let i = 0; i < 5_000; i++) net.record(refused(i, `h${i}.denied.test`, `/p${i}`), id);
    // Allowed requests are never aggregated: past the budget they are counted as dropped.
    for (let i = 0; i < 20_000; i++) net.record({ ...refused(i, 'ok.test', `/${'b'.repeat(500)}`), blocked: false, status: 200, reason: undefined }, id);
    await net.close();
    audit.append('lifecycle', { event: 'stopped', exitCode: 0 });
    await audit.close();

    const netSize = (await stat(join(runDir, 'network.jsonl'))).size;
    const auditSize = (await stat(join(runDir, 'audit.jsonl'))).size;
    expect(netSize).toBeLessThanOrEqual(budget);
    expect(auditSize).toBeLessThanOrEqual(budget);
    const lines = (await readFile(join(runDir, 'network.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const individual = lines.filter((l) => l.type === 'request' && l.host === 'denied.test');
    expect(individual).toHaveLength(20);
    expect(individual[0]).toMatchObject({ urlLen: refused(0).url.length });
    expect(String(individual[0]!.url).endsWith(TRUNCATED)).toBe(true);
    const summary = lines.find((l) => l.type === 'refusals' && l.host === 'denied.test');
    expect(summary).toMatchObject({ count: 19_980, status: 403 });
    expect(lines.find((l) => l.type === 'refusals' && l.host === '*')).toMatchObject({ count: 5_000 - 49 });
    expect(lines.some((l) => l.type === 'trace-budget-reached')).toBe(true);
    const dropped = lines.filter((l) => l.type === 'dropped').reduce((n, l) => n + (l.count as number), 0);
    const allowedListed = lines.filter((l) => l.type === 'request' && l.host === 'ok.test').length;
    expect(allowedListed + dropped).toBe(20_000);

    const report = await verifyStore(new JsonlAuditStore(runDir, meta.id), parsePublicKey(signer.publicKeyPem));
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === 'completeness')?.status).toBe('ok');
    const auditText = await readFile(join(runDir, 'audit.jsonl'), 'utf8');
    expect(auditText).toContain('"event":"audit-budget-reached"');
    expect(auditText).toContain('"event":"audit-entries-dropped"');
    expect(auditText).toContain('"event":"trace-budget-reached"');
    expect(auditText).toContain('"event":"stopped"');
  });

  it('encodes a network event once: the audit entry holds the very bytes of its network.jsonl line', async () => {
    const d = await tmp();
    const runDir = join(d, 'run');
    const audit = await openSink(new MoatHome(join(d, 'home')), runDir, RECORD_LIMITS.budgetBytes, generateSigner());
    const net = await NetworkRecorder.open({ file: join(runDir, 'network.jsonl'), audit, log: () => undefined });
    net.record({ ...refused(1, 'api.test', '/x?token=sek-123456'), blocked: false, status: 200, reason: undefined, grant: 'github' }, (s) =>
      s.replaceAll('sek-123456', '[REDACTED]'),
    );
    await net.close();
    await audit.close();
    const line = (await readFile(join(runDir, 'network.jsonl'), 'utf8')).trim();
    expect(line).toContain('[REDACTED]');
    expect(line).not.toContain('sek-123456');
    const entries = (await readFile(join(runDir, 'audit.jsonl'), 'utf8')).trim().split('\n');
    expect(entries.some((e) => e.startsWith(`{"data":${line},"hash"`))).toBe(true);
    expect(entries.some((e) => e.includes('"type":"credential"'))).toBe(true);
  });
});
