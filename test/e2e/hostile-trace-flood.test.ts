import { stat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, tempDir, waitFor } from './helpers.js';

/**
 * A container floods the gateway with refused requests carrying 30 KB URLs, to make the host write
 * without a bound (before: 1.4 GB in 32 s, `moat trace` failed with "Invalid string length" and the
 * exported bundle no longer verified). Loopback only: a refused host is never dialled.
 */
const BUDGET = 256 * 1024;
const FLOOD_SECONDS = 6;

// One loop hammers one refused host (aggregated), one uses a new refused host name per request, two send
// allowed requests to a loopback fake (never aggregated: the byte budget is what bounds them).
const FLOOD = [
  'U=$(head -c 30000 /dev/zero | tr "\\0" a)',
  `end=$((SECONDS+${FLOOD_SECONDS}))`,
  // Pipelined on keep-alive connections, answers drained by a reader; builtins only, so no fork per request.
  'send() { printf "GET http://$1/status/200?q=$U HTTP/1.1\\r\\nHost: $1\\r\\n\\r\\n" >&3 2>/dev/null; }',
  'loop() { n=0; while [ $SECONDS -lt $end ]; do',
  '  exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT || break; cat <&3 >/dev/null & r=$!',
  '  while [ $SECONDS -lt $end ]; do case "$1" in d) send denied.test;; a) send allowed.test;; *) send "$1$RANDOM.denied.test";; esac || break; n=$((n+1)); done',
  '  exec 3<&- 3>&-; kill $r 2>/dev/null; done; echo "sent=$n"; }',
  // The one refused host goes first, so its 20 single entries are written before the others spend the budget.
  'loop d & sleep 2; loop h & loop a & loop a & wait',
].join('\n');

describe('hostile: a refused-request flood cannot grow the trace or the audit log without a bound', () => {
  let home: string;
  let ws: string;
  let fake: FakeUpstream;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = await tempDir('moat-e2e-flood-home-');
    ws = await tempDir('moat-e2e-flood-ws-');
    fake = await startFakeUpstream();
    env = { MOAT_TESTING: '1', MOAT_TEST_UPSTREAMS: `allowed.test=127.0.0.1:${fake.httpPort}` };
    await writeFile(join(ws, 'moat.yaml'), 'network:\n  policy: strict\n');
    // A small budget so a few seconds of flood reach it (the default is 64 MiB each).
    await writeFile(join(home, 'config.yaml'), 'records:\n  trace_max_mib: 0.25\n  audit_max_mib: 0.25\n');
  });
  afterAll(async () => {
    await fake.close();
    await cleanupHome(home, ws);
  });

  it('stays within budget, summarises refusals, and moat trace / moat audit still work on the result', async () => {
    const r = await moat(['run', '--approve-config', '-n', 'flood', '--allow-host', 'allowed.test', '--', 'bash', '-c', FLOOD], {
      home,
      cwd: ws,
      env,
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const sent = [...r.stdout.matchAll(/sent=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);

    const list = await moat(['list', '--json'], { home, cwd: ws });
    const id = (JSON.parse(list.stdout) as { runs: Array<{ id: string; name: string }> }).runs.find((x) => x.name === 'flood')!.id;
    const dir = join(home, 'runs', id);
    const netSize = (await stat(join(dir, 'network.jsonl'))).size;
    const auditSize = (await stat(join(dir, 'audit.jsonl'))).size;
    expect(netSize).toBeLessThanOrEqual(BUDGET);
    expect(auditSize).toBeLessThanOrEqual(BUDGET);
    // Uncapped, each request alone would have written 30 KB to each file.
    expect(sent * 30_000, r.stdout).toBeGreaterThan(16 * BUDGET);

    const lines = (await readFile(join(dir, 'network.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const one = lines.filter((l) => l.type === 'request' && l.host === 'denied.test');
    expect(one).toHaveLength(20);
    expect(one[0]!.urlLen).toBeGreaterThan(30_000);
    expect(String(one[0]!.url)).toMatch(/…\[truncated\]$/);
    expect(lines.filter((l) => l.type === 'refusals' && l.host === 'denied.test').reduce((n, l) => n + (l.count as number), 0)).toBeGreaterThan(0);
    const byHost = (h: string): number => lines.filter((l) => l.host === h).length;
    expect(
      lines.some((l) => l.type === 'trace-budget-reached'),
      `${r.stdout} ${netSize} bytes, allowed.test ${byHost('allowed.test')}`,
    ).toBe(true);
    expect(lines.filter((l) => l.type === 'dropped').reduce((n, l) => n + (l.count as number), 0)).toBeGreaterThan(0);

    const trace = await moat(['trace', 'flood'], { home, cwd: ws });
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toMatch(/403 BLOCKED x\d+ {2}denied\.test/);
    expect(trace.stdout).toContain('trace budget of 262144 bytes reached');
    expect(trace.stdout).toMatch(/\d+ requests not listed/);

    // The daemon signs the final checkpoint as the run ends; wait for it rather than race it.
    const audit = await waitFor(
      async () => {
        const a = await moat(['audit', 'flood'], { home, cwd: ws });
        return a.code === 0 && /\[ok\]\s+completeness/.test(a.stdout) ? a : undefined;
      },
      20_000,
      'a verified audit log',
    );
    expect(audit.stdout).toMatch(/\[ok\]\s+completeness\s+all \d+ entries covered by the final checkpoint/);
    const budget = await moat(['audit', 'flood', '--events', '--type', 'lifecycle', '--json'], { home, cwd: ws });
    expect(budget.stdout).toContain('"event":"audit-budget-reached"');
    expect(budget.stdout).toContain('"event":"audit-entries-dropped"');

    const bundle = join(ws, 'flood.bundle.json');
    expect((await moat(['audit', 'flood', '--export', bundle], { home, cwd: ws })).code).toBe(0);
    const verified = await moat(['audit', 'verify', bundle], { home, cwd: ws });
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toContain('verdict: OK');
  });
});
