/**
 * Interactive runs driven through a real pseudo-terminal (tmux): the size at start and after a resize,
 * Ctrl-C reaching the container, the exit code, the recorded output, and the Ctrl-/ escape keys (detach,
 * reattach, stop, and a literal Ctrl-/).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOAT_BIN, Tmux, cleanupHome, listRuns, moat, readLogs, shq, sleep, tempDir, waitFor } from './helpers.js';

let home: string;
let root: string;
const tmux = new Tmux(`moat-e2e-${process.pid}`);

const PROMPT = /\/workspace[#$] *$/m;

async function workspace(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  return d;
}

/** A shell line for tmux: moat with this home, then the exit code, then the pane stays. */
function moatLine(cwd: string, args: string[]): string {
  const env = `MOAT_HOME=${shq(home)} MOAT_DAEMON_IDLE_MS=5000 NO_COLOR=1 MOAT_SPARES=0`;
  return `cd ${shq(cwd)} && ${env} ${shq(process.execPath)} ${shq(MOAT_BIN)} ${args.map(shq).join(' ')}; echo "MOAT_EXIT=$?"; sleep 600`;
}

/** Type a command line and press Enter. */
async function typeLine(session: string, text: string): Promise<void> {
  await tmux.sendLiteral(session, text);
  await tmux.sendKeys(session, 'Enter');
}

beforeAll(async () => {
  home = await tempDir('tty-home');
  root = await tempDir('tty-ws');
});

afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, root, [root]);
});

describe('interactive runs (tmux)', () => {
  it('has the real size, follows a resize, passes Ctrl-C, exits with the code and records the output', async () => {
    const cwd = await workspace('session');
    const s = 'session';
    await tmux.newSession(s, moatLine(cwd, ['run', '-i', '-n', 'tty-run', '--', 'bash']), 100, 30);
    await tmux.waitForText(s, PROMPT, 30_000);

    await typeLine(s, 'stty size');
    await tmux.waitForText(s, /^30 100\s*$/m);

    await tmux.run(['resize-window', '-t', s, '-x', '120', '-y', '40']);
    // The new size reaches the container via SIGWINCH → resize; ask until it shows (no timing assertion).
    await waitFor(
      async () => {
        await typeLine(s, 'stty size');
        await sleep(500);
        return /^40 120\s*$/m.test(await tmux.capture(s));
      },
      20_000,
      'stty size to say 40 120',
    );

    await typeLine(s, 'sleep 100');
    await sleep(700);
    await tmux.sendKeys(s, 'C-c');
    // Typed after the interrupt: it only runs if Ctrl-C ended the sleep.
    await typeLine(s, 'echo "after-$((6*7))"');
    await tmux.waitForText(s, /^after-42\s*$/m);

    await typeLine(s, 'exit 5');
    await tmux.waitForText(s, /MOAT_EXIT=5/);

    const run = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.name === 'tty-run' && x.state === 'stopped'), 20_000, 'stopped');
    expect(run.exitCode).toBe(5);
    expect(run.interactive).toBe(true);
    const logs = await waitFor(
      async () => {
        const l = await readLogs(home, run.id);
        return l.some((x) => /after-42/.test(x.line) && !/echo/.test(x.line)) ? l : undefined;
      },
      20_000,
      'the typed command output in logs.jsonl',
    );
    expect(logs.some((x) => x.line.includes('30 100'))).toBe(true);
  });

  it('Ctrl-/ Ctrl-/ sends one literal; Ctrl-/ d detaches; attach returns; Ctrl-/ k stops the run', async () => {
    const cwd = await workspace('escape');
    const s = 'escape';
    await tmux.newSession(s, moatLine(cwd, ['run', '-i', '-n', 'esc-run', '--', 'bash']), 100, 30);
    await tmux.waitForText(s, PROMPT, 30_000);

    // A doubled prefix reaches the program as one 0x1f (cat -v shows it as ^_).
    await typeLine(s, 'cat -v');
    await sleep(300);
    await tmux.sendHex(s, '1f', '1f');
    await tmux.sendKeys(s, 'Enter');
    await tmux.waitForText(s, /^\^_\s*$/m);
    await tmux.sendKeys(s, 'C-d');
    await sleep(300);

    await tmux.sendHex(s, '1f');
    await tmux.sendLiteral(s, 'd');
    const pane = await tmux.waitForText(s, /MOAT_EXIT=\d+/);
    expect(pane).toMatch(/Detached from run esc-run/);
    expect(pane).toMatch(/MOAT_EXIT=0/);

    const live = (await listRuns(home, cwd)).find((x) => x.name === 'esc-run');
    expect(live?.state).toBe('running');

    const a = 'attach';
    await tmux.newSession(a, moatLine(cwd, ['attach', 'esc-run']), 100, 30);
    await tmux.waitForText(a, /Attached to esc-run/);
    await typeLine(a, 'echo "back-$((2+3))"');
    await tmux.waitForText(a, /^back-5\s*$/m);

    await tmux.sendHex(a, '1f');
    await tmux.sendLiteral(a, 'k');
    await tmux.waitForText(a, /MOAT_EXIT=\d+/, 40_000);
    const stopped = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.name === 'esc-run' && x.state === 'stopped'), 30_000, 'stopped');
    expect(typeof stopped.exitCode).toBe('number');
  });

  it('a changed moat.yaml is shown on the terminal and asked about: no starts nothing, yes runs and is remembered', async () => {
    const cwd = await workspace('approve');
    await writeFile(join(cwd, 'moat.yaml'), 'grants: []\n');
    const first = await moat(['run', '--', 'true'], { home, cwd });
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(cwd, 'moat.yaml'), 'grants: []\nnetwork:\n  policy: strict\n');

    await tmux.newSession('deny', moatLine(cwd, ['run', '--', 'echo', 'RAN-ANYWAY']), 110, 30);
    const asked = await tmux.waitForText('deny', /Run with these settings\?/, 30_000);
    expect(asked).toContain('moat.yaml changed network.policy since the last run in');
    // The summary first, the question last.
    expect(asked).toContain('  - network.policy: permissive\n  + network.policy: strict');
    expect(asked.indexOf('+ network.policy: strict')).toBeGreaterThan(0);
    expect(asked.indexOf('+ network.policy: strict')).toBeLessThan(asked.indexOf('Run with these settings?'));
    await tmux.sendLiteral('deny', 'n');
    await tmux.sendKeys('deny', 'Enter');
    const denied = await tmux.waitForText('deny', /MOAT_EXIT=\d+/, 20_000);
    expect(denied).toContain('Not started: the network.policy in moat.yaml was not approved.');
    expect(denied).not.toContain('RAN-ANYWAY');
    expect(denied).not.toMatch(/MOAT_EXIT=0/);

    await tmux.newSession('allow', moatLine(cwd, ['run', '--', 'echo', 'RAN-APPROVED']), 110, 30);
    await tmux.waitForText('allow', /Run with these settings\?/, 30_000);
    await tmux.sendLiteral('allow', 'y');
    await tmux.sendKeys('allow', 'Enter');
    const allowed = await tmux.waitForText('allow', /MOAT_EXIT=\d+/, 60_000);
    expect(allowed).toContain('RAN-APPROVED');
    expect(allowed).toMatch(/MOAT_EXIT=0/);
    // Remembered: the same settings run without a question (and without a terminal).
    const again = await moat(['run', '--', 'true'], { home, cwd });
    expect(again.code, again.stderr).toBe(0);
  });
});
