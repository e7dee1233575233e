/**
 * Audit completeness (issue #19): a run whose log no final checkpoint closes is incomplete once nobody writes
 * it, and `moat audit` exits non-zero for it once the run has ended; a log a later writer closed for a dead
 * one, with a `recovered` entry, verifies as complete-with-recovery and shows what is missing.
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AuditReport, AuditSigner } from '../../../src/audit/index.js';
import { AuditWriter, JsonlAuditStore, generateSigner, loadOrCreateSigner, parsePublicKey, verifyStore } from '../../../src/audit/index.js';
import { formatReport, registerAuditCommand } from '../../../src/cli/audit.js';
import { MoatHome } from '../../../src/home/paths.js';
import { auditLeftOpen, recoveredEntry } from '../../../src/daemon/recovery.js';
import { cleanup, failed, tmpRunDir } from './helpers.js';

afterAll(cleanup);
afterEach(() => {
  process.exitCode = undefined;
});

/** A writer that signs a periodic checkpoint, then dies (SIGKILL: no close, its lock left behind by a dead pid). */
async function writeAndDie(dir: string, signer: AuditSigner, n: number, unsigned = 0): Promise<void> {
  const w = await AuditWriter.open(dir, signer, { checkpointEvery: 1_000_000 });
  for (let i = 0; i < n; i++) w.append('console', { ts: `2026-01-01T00:00:0${i}.000000000Z`, stream: 'stdout', line: `line ${i + 1}` });
  await w.checkpoint();
  for (let i = 0; i < unsigned; i++) w.append('console', { ts: `2026-01-01T00:01:0${i}.000000000Z`, stream: 'stdout', line: `tail ${i + 1}` });
  await w.flush();
  // The process is gone: its lock is stale (a dead pid) and nothing else of it remains.
  await rm(join(dir, 'audit.lock'), { force: true });
}

const verify = (dir: string, signer: AuditSigner, inProgress?: boolean): Promise<AuditReport> =>
  verifyStore(new JsonlAuditStore(dir), parsePublicKey(signer.publicKeyPem), inProgress === undefined ? {} : { inProgress });

describe('audit completeness', () => {
  it('a log whose writer died after signing everything is incomplete, not OK with a warning', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    await writeAndDie(dir, signer, 5);
    const r = await verify(dir, signer);
    expect(r.ok).toBe(false);
    expect(r.completeness).toBe('incomplete');
    expect(failed(r)).toEqual(['completeness:incomplete']);
    expect(r.checks.find((c) => c.name === 'completeness')?.message).toMatch(/^incomplete: all 5 entries are signed, but no final checkpoint closes the log/);
  });

  it('the same log held by a live writer is in progress: OK so far, with a warning', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    await writeAndDie(dir, signer, 3);
    const r = await verify(dir, signer, true);
    expect(r).toMatchObject({ ok: true, completeness: 'in-progress' });
    expect(r.checks.find((c) => c.name === 'completeness')).toMatchObject({
      status: 'warn',
      message: 'all 3 entries are signed; no final checkpoint yet (run in progress)',
    });
    expect(formatReport(r, false)).toMatch(/verdict: OK so far — the run is in progress/);
  });

  it("a writer that resumes a dead writer's log learns it was not closed, and how much was unsigned", async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    await writeAndDie(dir, signer, 4, 2);
    const w = await AuditWriter.open(dir, signer);
    expect(w.resumed).toEqual({ entries: 6, signed: 4, closed: false, tornBytes: 0, lastTs: expect.any(String) as string });
    await w.close();
    const again = await AuditWriter.open(dir, signer);
    expect(again.resumed?.closed).toBe(true); // a clean close (a hand-over) is not a death
    await again.close();
  });

  it('closed by a recovering writer: complete-with-recovery, OK, and the gap is named', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    await writeAndDie(dir, signer, 4, 2);
    expect(await auditLeftOpen(dir)).toBe(true);
    const w = await AuditWriter.open(dir, signer);
    w.append('lifecycle', recoveredEntry(w.resumed!, 'console output after 2026-01-01T00:01:01.000000000Z and the exit code: the container was removed'));
    await w.close();
    expect(await auditLeftOpen(dir)).toBe(false);
    const r = await verify(dir, signer);
    expect(r).toMatchObject({ ok: true, completeness: 'complete-with-recovery', entries: 7 });
    const rec = r.checks.find((c) => c.name === 'recovery');
    expect(rec?.status).toBe('warn');
    expect(rec?.message).toMatch(
      /^closed with recovery: a writer died 1 time\(s\); seq 7 at \S+: console output after 2026-01-01T00:01:01.000000000Z and the exit code: the container was removed$/,
    );
    expect(formatReport(r, false)).toMatch(/\[warn\] recovery +closed with recovery[^\n]*\nentries by type: lifecycle 1, console 6\nverdict: OK with recovery/);
  });

  it('a clean log says complete and its recovery check is ok', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    const w = await AuditWriter.open(dir, signer);
    w.append('lifecycle', { event: 'started' });
    await w.close();
    const r = await verify(dir, signer);
    expect(r).toMatchObject({ ok: true, completeness: 'complete' });
    expect(r.checks.find((c) => c.name === 'recovery')?.status).toBe('ok');
  });

  it('a recovered entry added by someone without the home key does not make a log verify', async () => {
    const dir = await tmpRunDir();
    const signer = generateSigner();
    const w = await AuditWriter.open(dir, signer);
    w.append('lifecycle', { event: 'started' });
    await w.close();
    // Someone without the key appends a "recovered" entry: it is not covered by any signature.
    const other = generateSigner();
    const w2 = await AuditWriter.open(dir, other);
    w2.append('lifecycle', recoveredEntry({ entries: 1, signed: 1, closed: false, tornBytes: 0 }, 'nothing'));
    await w2.close();
    const r = await verify(dir, signer);
    expect(r.ok).toBe(false);
    expect(r.completeness).toBe('incomplete');
  });
});

describe('moat audit on a run whose log was never closed', () => {
  async function moatAudit(home: MoatHome, id: string, live: boolean): Promise<{ out: string; code: number }> {
    let out = '';
    const program = new Command('moat').exitOverride();
    registerAuditCommand(program, {
      home,
      resolveRunDir: () => Promise.resolve({ id, dir: home.runDir(id), live }),
      stdout: (s) => {
        out += s;
      },
      stderr: () => undefined,
    });
    process.exitCode = undefined;
    await program.parseAsync(['node', 'moat', 'audit', id]);
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    process.exitCode = undefined;
    return { out, code };
  }

  it('exits non-zero once the run has ended, even while a (stopped) writer still holds the lock', async () => {
    const home = new MoatHome(join(dirname(await tmpRunDir()), 'home'));
    const signer = await loadOrCreateSigner(home);
    const dir = home.runDir('run-open');
    const w = await AuditWriter.open(dir, signer, { checkpointEvery: 1_000_000 });
    w.append('lifecycle', { event: 'started' });
    await w.checkpoint(); // the lock stays: this (live) process holds it, like a daemon stopped with SIGSTOP
    const ended = await moatAudit(home, 'run-open', false);
    expect(ended.code).toBe(1);
    expect(ended.out).toMatch(/\[FAIL\] completeness +incomplete: all 1 entries are signed, but no final checkpoint/);
    expect(ended.out).toMatch(/verdict: FAIL/);
    const live = await moatAudit(home, 'run-open', true);
    expect(live.code).toBe(0);
    expect(live.out).toMatch(/verdict: OK so far/);
    await w.close();
    expect((await moatAudit(home, 'run-open', false)).code).toBe(0);
  });
});
