/**
 * The daemon's life (issue #19), against the real engine: a daemon killed with SIGKILL mid-run loses no
 * output line (the next one resumes from the engine's log and says so in the audit), a daemon stopped with
 * SIGSTOP is reported busy and never replaced, a garbage lock does not stop a daemon from starting, and
 * `moat proxy restart` hands the runs over without failing a single request.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/index.js';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, parseDetached, readLogs, readMetadata, tempDir, upstreamOverrideEnv, waitFor } from './helpers.js';
import { makeWorkspace, requestsTo, warmImage } from './fixtures/gateway-kit.js';

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;
let n = 0;
const ws = (): Promise<string> => makeWorkspace(root, `ws${++n}`);

/** Pids of the moat daemons of `home` (by command line and MOAT_HOME, as the daemon lock checks them). */
function daemonsOf(h: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes('__daemon')) continue;
      if (readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`MOAT_HOME=${h}`)) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

async function daemonPid(cwd: string): Promise<number> {
  const s = await moat(['proxy', 'status', '--json'], { home, cwd, env });
  return (JSON.parse(s.stdout) as { pid: number }).pid;
}

const ended = (id: string) =>
  waitFor(
    async () => {
      const m = await readMetadata(home, id);
      return m.state === 'stopped' ? m : undefined;
    },
    60_000,
    `run ${id} to end`,
  );

beforeAll(async () => {
  home = await tempDir('dkill-home');
  root = await tempDir('dkill-ws');
  fake = await startFakeUpstream();
  // A daemon that outlives the gaps between the steps of a test (the default test idle time is 5 s).
  env = { ...(await upstreamOverrideEnv(root, { 'allowed.moat.test': fake.httpsPort }, [fake.ca.certPem])), MOAT_DAEMON_IDLE_MS: '120000' };
  await warmImage(home, await ws(), env);
});

afterAll(async () => {
  for (const pid of daemonsOf(home)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('a daemon that dies loses nothing', () => {
  it('SIGKILL mid-run: the next command restarts it, logs.jsonl holds lines 1..200 once each, the audit verifies with a recovery entry', async () => {
    const cwd = await ws();
    const script = 'i=1; while [ $i -le 200 ]; do echo "line $i"; i=$((i+1)); sleep 0.02; done';
    const r = await moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    await waitFor(async () => (await readLogs(home, id)).length >= 30, 30_000, '30 lines recorded');
    const pid = await daemonPid(cwd);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => daemonsOf(home).length === 0, 5_000, 'the daemon to die');
    const atDeath = (await readLogs(home, id)).length;
    expect(atDeath).toBeLessThan(200); // killed mid-run, for real
    await new Promise((res) => setTimeout(res, 1500)); // the run goes on printing with no daemon

    const list = await moat(['list'], { home, cwd, env }); // the next command restarts the daemon
    expect(list.code, list.stderr).toBe(0);
    expect(daemonsOf(home)).toHaveLength(1);
    await ended(id);
    const lines = (await readLogs(home, id)).map((l) => l.line);
    expect(lines).toEqual(Array.from({ length: 200 }, (_, i) => `line ${i + 1}`));

    const audit = await moat(['audit', id, '--json'], { home, cwd, env });
    expect(audit.code, audit.stdout).toBe(0);
    const report = JSON.parse(audit.stdout) as AuditReport;
    expect(report).toMatchObject({ ok: true, completeness: 'complete-with-recovery' });
    expect(report.countsByType.console).toBe(200);
    expect(report.checks.find((c) => c.name === 'recovery')?.message).toMatch(
      /closed with recovery: a writer died 1 time\(s\); seq \d+ at \S+: nothing: console output after \S+ was read back/,
    );
    const events = await moat(['audit', id, '--events', '--type', 'console,lifecycle', '--json'], { home, cwd, env });
    const entries = (JSON.parse(events.stdout) as { entries: { type: string; data: Record<string, unknown> }[] }).entries;
    expect(entries.filter((e) => e.type === 'console').map((e) => e.data.line)).toEqual(lines);
    const rec = entries.find((e) => e.data.event === 'recovered');
    expect(rec?.data).toMatchObject({
      cause: expect.stringMatching(/stopped without closing it/) as string,
      diedAfter: expect.stringMatching(/^\d{4}-/) as string,
    });
  });
});

describe('a daemon that is stopped lets its runs go cleanly', () => {
  it('moat proxy stop mid-run: the next daemon resumes the output, and the audit is complete without a recovery', async () => {
    const cwd = await ws();
    const script = 'i=1; while [ $i -le 100 ]; do echo "line $i"; i=$((i+1)); sleep 0.02; done';
    const r = await moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    await waitFor(async () => (await readLogs(home, id)).length >= 20, 30_000, '20 lines recorded');
    const stop = await moat(['proxy', 'stop'], { home, cwd, env });
    expect(stop.stdout).toBe('stopped\n');
    expect(daemonsOf(home)).toEqual([]);
    expect((await moat(['list'], { home, cwd, env })).code).toBe(0);
    await ended(id);
    expect((await readLogs(home, id)).map((l) => l.line)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i + 1}`));
    const report = JSON.parse((await moat(['audit', id, '--json'], { home, cwd, env })).stdout) as AuditReport;
    expect(report).toMatchObject({ ok: true, completeness: 'complete' });
    expect(report.countsByType.console).toBe(100);
  });
});

describe('one daemon per home', () => {
  it('a daemon stopped with SIGSTOP is reported busy, not replaced; its socket stays; after SIGCONT all is well', async () => {
    const cwd = await ws();
    const warm = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, env });
    expect(warm.code, warm.stderr).toBe(0);
    const pid = await daemonPid(cwd);
    process.kill(pid, 'SIGSTOP');
    try {
      const r = await moat(['run', '--approve-config', '--', 'echo', 'hi'], {
        home,
        cwd,
        env: { ...env, MOAT_DAEMON_BUSY_WAIT_MS: '1500' },
        timeoutMs: 30_000,
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`The moat daemon is busy: pid ${pid} holds this home but did not answer for \\d+ s\\.`));
      expect(daemonsOf(home)).toEqual([pid]);
      expect(statSync(join(home, 'daemon', 'daemon.sock')).isSocket()).toBe(true);
      const status = await moat(['proxy', 'stop'], { home, cwd, env });
      expect(status.stderr).toMatch(/The moat daemon is busy/);
      expect(daemonsOf(home)).toEqual([pid]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const after = await moat(['run', '--approve-config', '--', 'echo', 'again'], { home, cwd, env });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain('again');
    expect(daemonsOf(home)).toEqual([pid]);
  });

  it('a garbage lock does not stop a daemon from starting (and the garbage is replaced)', async () => {
    const cwd = await ws();
    await moat(['proxy', 'stop'], { home, cwd, env });
    await writeFile(join(home, 'daemon', 'daemon.pid'), '\u0000garbage{{');
    const r = await moat(['run', '--approve-config', '--', 'echo', 'fine'], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('fine');
    const pid = await daemonPid(cwd);
    expect(daemonsOf(home)).toEqual([pid]);
    expect(JSON.parse(readFileSync(join(home, 'daemon', 'daemon.pid'), 'utf8'))).toMatchObject({ pid });
  });
});

describe('moat proxy restart hands over without a gap', () => {
  it('a container requesting in a loop across a restart sees every request succeed', async () => {
    const cwd = await ws();
    const script = [
      'ok=0; fail=0; i=0',
      'while [ $i -lt 40 ]; do',
      '  c=$(curl -sS -m 10 -o /dev/null -w "%{http_code}" https://allowed.moat.test/loop-$i 2>&1)',
      '  if [ "$c" = 200 ]; then ok=$((ok+1)); else fail=$((fail+1)); echo "FAIL $i $c"; fi',
      '  i=$((i+1)); sleep 0.1',
      'done',
      'echo "ok=$ok fail=$fail"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    await waitFor(() => requestsTo(fake, 'allowed.moat.test').filter((q) => q.path.startsWith('/loop-')).length >= 5, 30_000, 'five requests');
    const before = await daemonPid(cwd);
    const restart = await moat(['proxy', 'restart'], { home, cwd, env });
    expect(restart.code, restart.stderr).toBe(0);
    expect(await daemonPid(cwd)).not.toBe(before);
    await ended(id);
    const out = (await readLogs(home, id)).map((l) => l.line);
    expect(out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(out).toContain('ok=40 fail=0');
    expect(daemonsOf(home)).toHaveLength(1);
    const audit = await moat(['audit', id, '--json'], { home, cwd, env });
    const report = JSON.parse(audit.stdout) as AuditReport;
    expect(report).toMatchObject({ ok: true, completeness: 'complete' });
    expect(report.countsByType.network).toBe(40);
  });
});
