import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, InclusionProof } from '../../../src/audit/index.js';
import { loadOrCreateSigner } from '../../../src/audit/index.js';
import { formatReport, registerAuditCommand } from '../../../src/cli/audit.js';
import { MoatHome } from '../../../src/home/paths.js';
import { cleanup, sampleEvents, tmpRunDir, writeRun } from './helpers.js';

let home: MoatHome;
let runDir: string;

beforeAll(async () => {
  home = new MoatHome(join(dirname(await tmpRunDir()), 'home'));
  runDir = home.runDir('run-abc');
  await writeRun(runDir, sampleEvents(10), await loadOrCreateSigner(home), 4);
});
afterAll(cleanup);
afterEach(() => {
  process.exitCode = undefined;
});

async function moat(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = new Command('moat').exitOverride();
  registerAuditCommand(program, {
    home,
    resolveRunDir: (ref) => Promise.resolve({ id: ref ?? 'run-abc', dir: home.runDir(ref ?? 'run-abc') }),
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
  });
  process.exitCode = undefined;
  await program.parseAsync(['node', 'moat', 'audit', ...args]);
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = undefined;
  return { out, err, code };
}

describe('moat audit', () => {
  it('verifies the latest run and prints a report with a verdict', async () => {
    const r = await moat();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\[ok\] {3}hashes/m);
    expect(r.out).toMatch(/entries by type: lifecycle 2, console 2, network 2, credential 1, secret 1, policy 1, ssh 1/);
    expect(r.out).toMatch(/verdict: OK/);
  });

  it('--json prints one report object', async () => {
    const r = await moat('run-abc', '--json');
    const report = JSON.parse(r.out) as AuditReport;
    expect(report).toMatchObject({ ok: true, entries: 10, runId: 'run-abc' });
  });

  it('--events lists entries, filtered by --type', async () => {
    const all = await moat('--events');
    const lines = all.out.trim().split('\n');
    // A timeline: the day once, then one line per entry: seq, time, type, summary.
    expect(lines[0]).toMatch(/^── \d{4}-\d{2}-\d{2} \(UTC\)$/);
    expect(lines.slice(1)).toHaveLength(10);
    expect(lines[1]).toMatch(/^ {5}1 {2}\d{2}:\d{2}:\d{2}\.\d{3} {2}lifecycle {3}event i=0 nested=\{"ok":true\} text=event 0 ✓$/);
    const net = await moat('--events', '--type', 'network,ssh', '--json');
    const { entries } = JSON.parse(net.out) as { entries: { type: string }[] };
    expect(entries.map((e) => e.type)).toEqual(['network', 'ssh', 'network']);
    await expect(moat('--events', '--type', 'bogus')).rejects.toThrow(
      "option '--type <types>' argument 'bogus' is invalid. Expected event types from: lifecycle,",
    );
  });

  it('exports a bundle that `audit verify --key` accepts, and fails a tampered one with exit code 1', async () => {
    const file = join(dirname(runDir), 'bundle.json');
    const exported = await moat('--export', file);
    expect(exported.code).toBe(0);
    expect(exported.err).toMatch(/exported 10 entries/);
    // With --json the report alone: no note on stderr (docs/json.md).
    const quiet = await moat('--export', `${file}.2`, '--json');
    expect(quiet.err).toBe('');
    expect(JSON.parse(quiet.out)).toMatchObject({ ok: true, entries: 10 });
    const keyFile = join(dirname(runDir), 'pub.pem');
    await writeFile(keyFile, (await moat('key')).out);
    const ok = await moat('verify', file, '--key', keyFile);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/\[ok\] {3}key/);
    const unpinned = await moat('verify', file);
    expect(unpinned.out).toMatch(/\[warn\] key +not pinned/);
    await writeFile(file, (await readFile(file, 'utf8')).replace('event 3', 'event 4'));
    const bad = await moat('verify', file, '--key', keyFile);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/\[FAIL\] hashes +modified entry: seq 4 does not match its hash \(first failing seq 4\)/);
    expect(bad.out).toMatch(/verdict: FAIL/);
  });

  it('prove prints a proof that verify accepts', async () => {
    const r = await moat('prove', '3');
    const proof = JSON.parse(r.out) as InclusionProof;
    expect(proof.entry.seq).toBe(3);
    const file = join(dirname(runDir), 'proof.json');
    await writeFile(file, r.out);
    const v = await moat('verify', file, '--json');
    expect(JSON.parse(v.out) as AuditReport).toMatchObject({ kind: 'proof', ok: true });
    expect((await moat('prove', 'run-abc', '3')).out).toBe(r.out);
    await expect(moat('prove', 'x')).rejects.toThrow(/not an entry number/);
  });

  it('fails a tampered run with exit code 1 and names the problem', async () => {
    const path = join(runDir, 'audit.jsonl');
    const original = await readFile(path, 'utf8');
    const lines = original.split('\n');
    lines.splice(4, 1);
    await writeFile(path, lines.join('\n'));
    try {
      const r = await moat();
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/first failure: seq 5: deleted-entry/);
    } finally {
      await writeFile(path, original);
    }
  });

  it('reports a missing log and a bad document as errors', async () => {
    await expect(moat('run-none')).rejects.toThrow(/has no audit log/);
    const junk = join(dirname(runDir), 'junk.json');
    await writeFile(junk, 'not json');
    await expect(moat('verify', junk)).rejects.toThrow(/is not JSON/);
  });

  it('formats warnings and colours only on request', () => {
    const report: AuditReport = {
      kind: 'run',
      ok: true,
      runId: 'r',
      entries: 0,
      checkpoints: 0,
      countsByType: { lifecycle: 0, console: 0, network: 0, credential: 0, secret: 0, policy: 0, ssh: 0 },
      checks: [{ name: 'completeness', status: 'warn', message: 'in progress' }],
    };
    expect(formatReport(report, false)).toBe(
      'audit log of run r: 0 entries, 0 checkpoint(s)\n[warn] completeness  in progress\nentries by type: none\nverdict: OK — the record is intact\n',
    );
  });
});
