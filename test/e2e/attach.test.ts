/**
 * Attach and detach that never surprise, driven through a real terminal (tmux), asserting the lines the
 * user reads: Ctrl-C on `moat attach` to a run that is not interactive detaches (twice stops it); `run -i`
 * says what starts and which keys leave; Ctrl-/ k says it stopped; a full-screen program repaints when a
 * terminal of the same size joins it; `logs -f` ends with the run's exit line and code; a command that is
 * not in the image is explained.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOAT_BIN, Tmux, cleanupHome, listRuns, moat, parseDetached, shq, sleep, tempDir, waitFor } from './helpers.js';

let home: string;
let root: string;
const tmux = new Tmux(`moat-e2e-attach-${process.pid}`);

async function workspace(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  return d;
}

/** A shell line for tmux: moat with this home, then its exit code, then the pane stays. */
function moatLine(cwd: string, args: string[]): string {
  const env = `MOAT_HOME=${shq(home)} MOAT_DAEMON_IDLE_MS=5000 NO_COLOR=1 MOAT_SPARES=0`;
  return `cd ${shq(cwd)} && ${env} ${shq(process.execPath)} ${shq(MOAT_BIN)} ${args.map(shq).join(' ')}; echo "MOAT_EXIT=$?"; sleep 600`;
}

/** The pane's lines, trailing blanks trimmed. */
const paneLines = (pane: string): string[] => pane.split('\n').map((l) => l.trimEnd());

const MISSING_MAKE = 'moat: make is not in the image; add it to dependencies (moat deps info make)';

beforeAll(async () => {
  home = await tempDir('attach-home');
  root = await tempDir('attach-ws');
});

afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, root, [root]);
});

describe('attach and detach (tmux)', () => {
  it('attach to a run that is not interactive: Ctrl-C detaches and the run goes on; Ctrl-C twice stops it', async () => {
    const cwd = await workspace('output');
    // It ends on SIGTERM at once (a shell as PID 1 would otherwise ignore it until the stop's SIGKILL).
    const script = 'trap "exit 143" TERM; i=0; while [ $i -lt 600 ]; do echo tick$i; i=$((i+1)); sleep 0.2; done';
    const r = await moat(['run', '-d', '-n', 'out-run', '--', 'sh', '-c', script], { home, cwd });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);

    await tmux.newSession('once', moatLine(cwd, ['attach', 'out-run']), 110, 30);
    await tmux.waitForText('once', /^tick\d+$/m);
    const banner = paneLines(await tmux.capture('once'));
    expect(banner[0]).toBe('Attached to the output of out-run. Ctrl-C detaches (the run goes on), Ctrl-C twice stops it.');
    await tmux.sendKeys('once', 'C-c');
    const once = paneLines(await tmux.waitForText('once', /MOAT_EXIT=\d+/));
    expect(once).toContain('Detaching from out-run; Ctrl-C again within 1 s stops it.');
    expect(once).toContain(`Detached from run out-run (${id}); moat attach out-run to return.`);
    expect(once).toContain('MOAT_EXIT=0');
    expect((await listRuns(home, cwd)).find((x) => x.id === id)?.state).toBe('running');
    // Still running a moment later: the detach never reached the run.
    await sleep(1500);
    expect((await listRuns(home, cwd)).find((x) => x.id === id)?.state).toBe('running');

    await tmux.newSession('twice', moatLine(cwd, ['attach', 'out-run']), 110, 30);
    await tmux.waitForText('twice', /^tick\d+$/m);
    await tmux.sendKeys('twice', 'C-c');
    await sleep(200);
    await tmux.sendKeys('twice', 'C-c');
    const twice = paneLines(await tmux.waitForText('twice', /MOAT_EXIT=\d+/, 30_000));
    expect(twice).toContain('Stopping out-run…');
    expect(twice).toContain('Stopped out-run');
    expect(twice).toContain('MOAT_EXIT=143');
    expect(twice.some((l) => l.startsWith('Detached from'))).toBe(false);
    const stopped = await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.id === id && x.state === 'stopped'), 20_000, 'stopped');
    expect(stopped.exitCode).toBe(143);
  });

  it('run -i says what starts and which keys leave before the program starts; Ctrl-/ k says Stopped NAME', async () => {
    const cwd = await workspace('banner');
    await tmux.newSession('banner', moatLine(cwd, ['run', '-i', '-n', 'ban-run', '--', 'bash']), 100, 30);
    const pane = paneLines(await tmux.waitForText('banner', /\/workspace[#$] *$/m, 30_000));
    const start = pane.findIndex((l) => l.startsWith('Starting bash'));
    expect(pane[start]).toMatch(/^Starting bash \(image cached, \d+\.\d s\)…$/);
    expect(pane[start + 1]).toBe('Attached to ban-run. Ctrl-/ d detaches, Ctrl-/ k stops the run.');

    await tmux.sendHex('banner', '1f');
    await tmux.sendLiteral('banner', 'k');
    const end = paneLines(await tmux.waitForText('banner', /MOAT_EXIT=\d+/, 30_000));
    expect(end).toContain('Stopped ban-run');
    await waitFor(async () => (await listRuns(home, cwd)).find((x) => x.name === 'ban-run' && x.state === 'stopped'), 20_000, 'stopped');
  });

  it('a full-screen program repaints when a terminal of the same size attaches again', async () => {
    const cwd = await workspace('redraw');
    // A stand-in for a TUI: it repaints (prints its size) on every SIGWINCH, as full-screen programs do, and
    // says its size twice a second (bash may run its trap once for two signals close together: the size it
    // ends at is read apart from the signals).
    const tui = 'trap \'echo "REDRAW $(stty size)"\' WINCH; echo READY; while :; do sleep 0.5; echo "SIZE $(stty size)"; done';
    await tmux.newSession('first', moatLine(cwd, ['run', '-i', '-n', 'tui-run', '--', 'bash', '-c', tui]), 100, 30);
    await tmux.waitForText('first', /^READY\s*$/m, 30_000);
    await sleep(500);
    await tmux.sendHex('first', '1f');
    await tmux.sendLiteral('first', 'd');
    await tmux.waitForText('first', /MOAT_EXIT=0/);

    // Same size as before: the size alone would not change, so no signal would reach the program.
    await tmux.newSession('again', moatLine(cwd, ['attach', 'tui-run']), 100, 30);
    // A signal reached it (the size changed and back), and it ends at the terminal's size.
    const pane = await tmux.waitForText('again', /^REDRAW \d+ 100\s*$[^]*^SIZE 30 100\s*$/m);
    expect(paneLines(pane)[0]).toBe('Attached to tui-run. Ctrl-/ d detaches, Ctrl-/ k stops the run.');
    await tmux.sendHex('again', '1f');
    await tmux.sendLiteral('again', 'k');
    expect(paneLines(await tmux.waitForText('again', /MOAT_EXIT=\d+/, 30_000))).toContain('Stopped tui-run');
  });

  it("a command that is not in the image is explained on the terminal, without the container's own message", async () => {
    const cwd = await workspace('missing-tty');
    await tmux.newSession('missing', moatLine(cwd, ['run', '-i', '--', 'make']), 110, 30);
    const pane = await tmux.waitForText('missing', /MOAT_EXIT=\d+/, 30_000);
    const lines = paneLines(pane);
    expect(lines).toContain(MISSING_MAKE);
    expect(lines).toContain('MOAT_EXIT=127');
    expect(pane).not.toContain('moat-init');
    expect(pane).not.toMatch(/not found$/m);
  });
});

describe('exit lines and missing commands (no terminal)', () => {
  it("logs -f ends with the run's exit line and returns its exit code", async () => {
    const cwd = await workspace('logs-exit');
    const r = await moat(['run', '-d', '-n', 'three', '--', 'sh', '-c', 'echo out; sleep 1; exit 3'], { home, cwd });
    expect(r.code, r.stderr).toBe(0);
    const logs = await moat(['logs', '-f', 'three'], { home, cwd });
    expect(logs.stdout).toBe('out\n');
    expect(logs.stderr).toBe('moat: run three exited with code 3\n');
    expect(logs.code).toBe(3);
    // Without -f: the output only, exit 0.
    const plain = await moat(['logs', 'three'], { home, cwd });
    expect(plain.stdout).toBe('out\n');
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
  });

  it('a missing command: one line naming the dependency to add (or saying it was not found), exit 127', async () => {
    const cwd = await workspace('missing');
    const attached = await moat(['run', '--', 'make', 'all'], { home, cwd });
    expect(attached.stderr).toBe(`${MISSING_MAKE}\n`);
    expect(attached.stdout).toBe('');
    expect(attached.code).toBe(127);

    const other = await moat(['run', '--', 'frobnicate'], { home, cwd });
    expect(other.stderr).toBe('moat: frobnicate was not found in the image; add what provides it to dependencies (moat deps list shows the built-in ones)\n');
    expect(other.code).toBe(127);
  });

  it('a missing command in a detached run: logs -f says the same line, then the exit line, and returns 127', async () => {
    const cwd = await workspace('missing-detached');
    const d = await moat(['run', '-d', '-n', 'no-make', '--', 'make'], { home, cwd });
    expect(d.code, d.stderr).toBe(0);
    const followed = await moat(['logs', '-f', 'no-make'], { home, cwd });
    expect(followed.stderr).toBe(`${MISSING_MAKE}\nmoat: run no-make exited with code 127\n`);
    expect(followed.code).toBe(127);
  });

  it("a command that itself exits 127 keeps its own message (only moat-init's line is translated)", async () => {
    const cwd = await workspace('own-127');
    const r = await moat(['run', '--', 'sh', '-c', 'nope; exit 127'], { home, cwd });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/nope: not found\n$/);
    expect(r.stderr).not.toContain('is not in the image');
    // Printing moat-init's line later, or with more after it, is ordinary output.
    const later = await moat(['run', '--', 'sh', '-c', 'echo first >&2; echo moat-init: command-not-found >&2; exit 127'], { home, cwd });
    expect(later.stderr).toBe('first\nmoat-init: command-not-found\n');
  });
});
