/**
 * Say what happens on the network while it happens (issue 11): an attached run under a strict policy
 * curls a host the policy refuses (refused at CONNECT, before any DNS) and a host the test-only upstream
 * override sends to a loopback port nobody listens on. The CLI prints one line per host on stderr while
 * the run still sleeps, and one summary with the fix when it ends; a full-screen run gets only the summary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../fakes/closed-port.js';
import { makeWorkspace, warmImage } from './fixtures/gateway-kit.js';
import { MOAT_BIN, Tmux, cleanupHome, moat, parseDetached, shq, sleep, startMoat, tempDir, upstreamOverrideEnv, waitFor } from './helpers.js';

const BLOCKED = 'www.blocked.test';
const DOWN = 'api.unreachable.test';
const POLICY = `network:\n  policy: strict\n  rules:\n    - ${DOWN}\n`;
// Two requests to the refused host (one line for it), one to the unreachable one, then the run goes on.
const SCRIPT = `curl -sS -o /dev/null https://${BLOCKED}/a; curl -sS -o /dev/null https://${BLOCKED}/b; curl -sS -o /dev/null https://${DOWN}/v1; echo REQUESTED; sleep 5; echo DONE`;

const LIVE_BLOCKED = `moat: blocked ${BLOCKED} (strict policy) — allow it with --allow-host ${BLOCKED}`;
const liveDown = (config: string) =>
  `moat: cannot reach ${DOWN} (connection refused) — check your network, or proxy.upstream in ${config} if this machine needs a proxy`;
const summary = (config: string) =>
  [
    'moat: the network refused or could not reach 2 hosts during this run:',
    `  ${BLOCKED}      blocked: strict policy, 2 requests`,
    `  ${DOWN}  unreachable: connection refused, 1 request`,
    `  To allow it, run again with --allow-host ${BLOCKED}`,
    `    or add to moat.yaml: network: { rules: [ "${BLOCKED}" ] }`,
    `  ${DOWN}: check your network, or proxy.upstream in ${config} if this machine needs a proxy.`,
  ].join('\n');

let home: string;
let root: string;
let env: NodeJS.ProcessEnv;
const tmux = new Tmux(`moat-e2e-net-${process.pid}`);

beforeAll(async () => {
  home = await tempDir('net-notices-home');
  root = await tempDir('net-notices-ws');
  env = await upstreamOverrideEnv(root, { [DOWN]: await closedPort() }, []);
  await warmImage(home, await makeWorkspace(root, 'warm'), env);
}, 600_000);

afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, root, [root]);
});

describe('live network lines and the end-of-run summary', () => {
  it('an attached run: one line per host within 2 s while it still runs, then one summary with the fix', async () => {
    const cwd = await makeWorkspace(root, 'attached', POLICY);
    const config = `${home}/config.yaml`;
    const m = startMoat(['run', '--approve-config', '--', 'sh', '-c', SCRIPT], { home, cwd, env, timeoutMs: 60_000 });
    await waitFor(() => m.stdout().includes('REQUESTED'), 45_000, 'the requests to be made');
    const requested = Date.now();
    await waitFor(() => m.stderr().includes(LIVE_BLOCKED) && m.stderr().includes(liveDown(config)), 5_000, `both live lines in:\n${m.stderr()}`);
    const seenAfter = Date.now() - requested;
    // Still running: the command sleeps after its requests.
    expect(m.stdout()).not.toContain('DONE');
    expect(m.child.exitCode).toBeNull();
    expect(seenAfter).toBeLessThan(2_000);
    expect(m.stderr()).not.toContain('during this run');

    const r = await m.done;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l === LIVE_BLOCKED)).toHaveLength(1); // once per host, though refused twice
    expect(lines.filter((l) => l === liveDown(config))).toHaveLength(1);
    expect(r.stderr).toContain(summary(config));
    expect(r.stderr.match(/during this run/g)).toHaveLength(1);
    // The summary replaced the old per-host hints.
    expect(r.stderr).not.toContain('could not be reached from this machine');
  }, 90_000);

  it('moat logs -f and moat attach of a detached run: the live line as it happens, the summary when it ends', async () => {
    const cwd = await makeWorkspace(root, 'detached', POLICY);
    const later = `sleep 4; ${SCRIPT}`; // the requests come after both followers started
    const d = await moat(['run', '-d', '--approve-config', '--', 'sh', '-c', later], { home, cwd, env });
    expect(d.code, d.stderr).toBe(0);
    const { name } = parseDetached(d.stdout);
    const logs = startMoat(['logs', '-f', name], { home, cwd, env, timeoutMs: 60_000 });
    const attach = startMoat(['attach', name], { home, cwd, env, timeoutMs: 60_000 });
    for (const f of [logs, attach]) {
      await waitFor(() => f.stdout().includes('REQUESTED'), 45_000, 'the requests to be made');
      await waitFor(() => f.stderr().includes(LIVE_BLOCKED), 3_000, 'the live line');
      expect(f.stdout()).not.toContain('DONE');
    }
    const config = `${home}/config.yaml`;
    for (const r of await Promise.all([logs.done, attach.done])) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.split('\n').filter((l) => l === LIVE_BLOCKED)).toHaveLength(1);
      expect(r.stderr).toContain(summary(config));
      expect(r.stderr.match(/during this run/g)).toHaveLength(1);
    }
  }, 90_000);

  it('a full-screen (TTY) run: no live line drawn over it, the summary once when it ends', async () => {
    const cwd = await makeWorkspace(root, 'tty', POLICY);
    const envText = Object.entries({ ...env, MOAT_HOME: home, MOAT_DAEMON_IDLE_MS: '5000', NO_COLOR: '1' })
      .map(([k, v]) => `${k}=${shq(v ?? '')}`)
      .join(' ');
    const line = `cd ${shq(cwd)} && ${envText} ${shq(process.execPath)} ${shq(MOAT_BIN)} run -i --approve-config -- sh -c ${shq(SCRIPT)}; echo "MOAT_EXIT=$?"; sleep 600`;
    await tmux.newSession('tty', line, 160, 40);
    await tmux.waitForText('tty', /^REQUESTED/m, 45_000);
    await sleep(2_000); // longer than a live line takes to appear on an attached run
    const during = await tmux.capture('tty');
    expect(during).not.toContain('DONE');
    expect(during).not.toContain('moat: blocked');
    expect(during).not.toContain('moat: cannot reach');
    const after = await tmux.waitForText('tty', /MOAT_EXIT=0/, 30_000);
    expect(after).not.toContain('moat: blocked');
    expect(after.match(/the network refused or could not reach 2 hosts during this run:/g)).toHaveLength(1);
    expect(after).toMatch(new RegExp(`^ {2}To allow it, run again with --allow-host ${BLOCKED.replace(/\./g, '\\.')}\\s*$`, 'm'));
  }, 90_000);
});
