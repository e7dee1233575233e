/**
 * A run that floods the gateway with requests to many refused hosts cannot flood the terminal through
 * moat's live network lines: a burst, then about one line a second ("and N more hosts"), and a summary
 * that names a bounded number of hosts. Refused at CONNECT, so no host is ever resolved or dialled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkspace, warmImage } from './fixtures/gateway-kit.js';
import { cleanupHome, moat, tempDir } from './helpers.js';

const HOSTS = 100;

let home: string;
let root: string;

beforeAll(async () => {
  home = await tempDir('net-flood-home');
  root = await tempDir('net-flood-ws');
  await warmImage(home, await makeWorkspace(root, 'warm'), {});
}, 600_000);

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('hostile: refusals of many hosts', () => {
  it(`${HOSTS} refused hosts make a handful of live lines, then "and N more", and a bounded summary`, async () => {
    const cwd = await makeWorkspace(root, 'flood', 'network:\n  policy: strict\n');
    const urls = `$(for i in $(seq 1 ${HOSTS}); do printf 'https://h%s.flood.test/ ' $i; done)`;
    const started = Date.now();
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', `curl -s -o /dev/null ${urls}; echo SENT; sleep 3`], { home, cwd, timeoutMs: 60_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('SENT');
    const lines = r.stderr.split('\n');
    const live = lines.filter((l) => /^moat: blocked h\d+\.flood\.test \(strict policy\)/.test(l));
    const more = lines.filter((l) => /^moat: and \d+ more hosts? blocked or unreachable \(listed when the run ends\)$/.test(l));
    expect(live.length).toBeGreaterThanOrEqual(1);
    // A burst of 5, then at most about one line a second for the whole run.
    expect(live.length + more.length, r.stderr).toBeLessThanOrEqual(5 + Math.ceil(seconds) + 1);
    expect(more.length, r.stderr).toBeGreaterThanOrEqual(1);
    // The summary: every host counted, 20 named, the rest counted.
    expect(r.stderr).toContain(`moat: the network refused or could not reach ${HOSTS} hosts during this run:`);
    expect(lines.filter((l) => /^ {2}h\d+\.flood\.test +blocked: strict policy, 1 request$/.test(l))).toHaveLength(20);
    expect(r.stderr).toContain(`  and ${HOSTS - 20} more hosts (\`moat trace\` lists them)`);
    expect(lines.length).toBeLessThan(5 + Math.ceil(seconds) + 1 + 30);
  }, 90_000);
});
