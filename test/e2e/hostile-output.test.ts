/**
 * Output of any shape is hostile input for the host: a run that prints past its log limit, a 40 MB line
 * without a newline, and terminal control sequences (OSC 52 clipboard writes, title changes, screen
 * clears, the C1 CSI byte) aimed at whoever later reads the logs on a terminal.
 */
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOAT_BIN, Tmux, cleanupHome, moat, moatEnv, parseDetached, readMetadata, shq, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);

let home: string;
let ws: string;
let capped: string;
const tmux = new Tmux(`moat-e2e-out-${process.pid}`);

interface Rec {
  ts: string;
  stream: string;
  line: string;
  cont?: boolean;
  moat?: string;
  dropped?: number;
}

async function records(id: string, file = 'logs.jsonl'): Promise<Rec[]> {
  const text = await readFile(join(home, 'runs', id, file), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
}

async function size(id: string, file: string): Promise<number> {
  return (await stat(join(home, 'runs', id, file)).catch(() => ({ size: 0 }))).size;
}

async function stopped(id: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await readMetadata(home, id)).state === 'stopped', timeoutMs, `run ${id} stopped`);
}

async function detached(cwd: string, args: string[]): Promise<string> {
  const r = await moat(['run', '-d', ...args], { home, cwd, timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  return parseDetached(r.stdout).id;
}

beforeAll(async () => {
  home = await tempDir('out-home');
  ws = await tempDir('out-ws');
  capped = await tempDir('out-capped');
  await writeFile(join(capped, 'moat.yaml'), 'container:\n  log_limit: 2m\n');
});

afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, ws, [capped]);
});

describe('hostile output', () => {
  it('output past container.log_limit: the stored output stays under the cap, keeps the newest lines, and says what was dropped', async () => {
    // About 8 MB of JSONL (50,000 numbered lines) against a 2 MiB cap.
    const id = await detached(capped, [
      '--approve-config',
      '--keep',
      '--',
      'sh',
      '-c',
      'seq 1 50000 | sed "s/$/ ........................................................................................../"',
    ]);
    const inspect = JSON.parse((await execFileP('docker', ['inspect', (await readMetadata(home, id)).containerId as string])).stdout) as Array<{
      HostConfig: { LogConfig: { Type: string; Config: Record<string, string> } };
    }>;
    // The engine's own copy of the output is bounded too (two files of a quarter of the cap, at least 8 MiB).
    expect(inspect[0]?.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '8192k', 'max-file': '2' } });
    await stopped(id);
    const stored = (await size(id, 'logs.jsonl')) + (await size(id, 'logs.1.jsonl'));
    expect(stored).toBeLessThanOrEqual(2 * 1024 * 1024);
    const head = (await records(id))[0];
    expect(head?.moat).toBe('log-limit');
    expect(head?.dropped).toBeGreaterThan(1_000_000);
    const logs = await moat(['logs', id], { home, cwd: capped });
    expect(logs.code).toBe(0);
    const lines = logs.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^50000 \.+$/);
    // What is shown is a contiguous tail of the output, and the drop is said once, on stderr.
    const first = Number(lines[0]?.split(' ')[0]);
    expect(lines.map((l) => Number(l.split(' ')[0]))).toEqual(Array.from({ length: 50001 - first }, (_, i) => first + i));
    expect(logs.stderr).toMatch(/MiB of earlier output dropped: the run's output passed its 2\.0 MiB limit \(container\.log_limit/);
    expect((await moat(['logs', '-n', '2', id], { home, cwd: capped })).stdout).toMatch(/^49999 \.+\n50000 \.+\n$/);
    // The append-only audit log records output up to the cap, then one event, and still verifies.
    const { stdout: ev } = await execFileP(process.execPath, [MOAT_BIN, 'audit', id, '--events', '--json', '--type', 'lifecycle,console'], {
      env: moatEnv(home),
      cwd: capped,
      maxBuffer: 64 * 1024 * 1024,
    });
    const entries = (JSON.parse(ev) as { entries: Array<{ type: string; data: Record<string, unknown> }> }).entries;
    expect(entries.filter((e) => e.data.event === 'output-limit')).toHaveLength(1);
    const consoleChars = entries.filter((e) => e.type === 'console').reduce((a, e) => a + String(e.data.line).length, 0);
    expect(consoleChars).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect((await moat(['audit', id], { home, cwd: capped })).code).toBe(0);
  });

  it('a 40 MB line without a newline is recorded in pieces while the daemon keeps answering and another run starts and ends', async () => {
    // A daemon with a long idle time, so that "the same daemon afterwards" is always asserted and never
    // confused with an idle exit (5 s in the other tests) between the run's end and the check.
    const started = await moat(['proxy', 'restart'], { home, cwd: ws, env: { MOAT_DAEMON_IDLE_MS: '600000' }, timeoutMs: 30_000 });
    expect(started.code, started.stderr).toBe(0);
    const before = JSON.parse((await moat(['proxy', 'status', '--json'], { home, cwd: ws })).stdout) as { running: boolean; pid?: number };
    expect(before.running).toBe(true);
    const id = await detached(ws, ['--', 'sh', '-c', 'head -c 40000000 /dev/zero | tr "\\0" a; echo; echo after-the-long-line']);
    // While the daemon reads it: a health check and a whole second run.
    const status = await moat(['status', '--json'], { home, cwd: ws, timeoutMs: 30_000 });
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { daemon: { running: boolean } }).daemon.running).toBe(true);
    const second = await moat(['run', '--', 'echo', 'second-run-ran'], { home, cwd: ws, timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('second-run-ran');
    await stopped(id, 120_000);
    const after = JSON.parse((await moat(['proxy', 'status', '--json'], { home, cwd: ws })).stdout) as { running: boolean; pid?: number };
    expect(after.pid).toBe(before.pid); // the daemon survived the line: no second one was started
    const recs = await records(id);
    const long = recs.filter((r) => r.line.startsWith('aaaa'));
    expect(long.length).toBeGreaterThan(100);
    expect(Math.max(...long.map((r) => r.line.length))).toBeLessThanOrEqual(256 * 1024);
    expect(long.slice(0, -1).every((r) => r.cont === true)).toBe(true);
    expect(long.at(-1)?.cont).toBeUndefined();
    expect(long.map((r) => r.line).join('')).toBe('a'.repeat(40_000_000)); // no engine timestamps inside
    expect(recs.at(-1)?.line).toBe('after-the-long-line');
    // moat logs puts the line back together.
    const { stdout } = await execFileP(process.execPath, [MOAT_BIN, 'logs', id], { env: moatEnv(home), cwd: ws, maxBuffer: 64 * 1024 * 1024 });
    expect(stdout.length).toBe(40_000_000 + 1 + 'after-the-long-line\n'.length);
    expect(stdout.endsWith('a\nafter-the-long-line\n')).toBe(true);
  });

  it('moat logs on a terminal shows control sequences as text (no clipboard write, no title, no clear); a pipe and --raw get the bytes', async () => {
    const payload = '\\033]52;c;aGVsbG8=\\007\\033]2;PWNED-TITLE\\033\\\\\\033[2J\\033[H\\302\\233Hvisible-text \\033[?1049hfull-screen-text\\033[?1049l\\n';
    const id = await detached(ws, ['--', 'sh', '-c', `printf '${payload}'`]);
    await stopped(id);
    const raw = '\x1b]52;c;aGVsbG8=\x07\x1b]2;PWNED-TITLE\x1b\\\x1b[2J\x1b[H\u009bHvisible-text \x1b[?1049hfull-screen-text\x1b[?1049l\n';
    // Into a pipe: the recorded bytes, unchanged.
    const piped = await moat(['logs', id], { home, cwd: ws });
    expect(piped.stdout).toBe(raw);

    const env = `MOAT_HOME=${shq(home)} MOAT_DAEMON_IDLE_MS=5000 NO_COLOR=1 MOAT_SPARES=0`;
    const line = (args: string[]): string =>
      `cd ${shq(ws)} && echo BEFORE-LOGS && ${env} ${shq(process.execPath)} ${shq(MOAT_BIN)} ${args.map(shq).join(' ')}; echo "MOAT_EXIT=$?"; sleep 600`;
    await tmux.newSession('safe', 'sleep 600', 120, 30);
    await tmux.run(['set-option', '-g', 'set-clipboard', 'on']);
    await tmux.run(['respawn-pane', '-k', '-t', 'safe', line(['logs', id])]);
    const pane = await tmux.waitForText('safe', /MOAT_EXIT=0/);
    expect(pane).toContain('^[]52;c;aGVsbG8=^G^[]2;PWNED-TITLE^[\\visible-text full-screen-text');
    expect(pane).toContain('BEFORE-LOGS'); // the screen was not cleared
    expect((await tmux.run(['display-message', '-p', '-t', 'safe', '#{pane_title}'])).trim()).not.toBe('PWNED-TITLE');
    expect((await tmux.run(['list-buffers'])).trim()).toBe('');

    // The same bytes written raw to the terminal do set the title and the clipboard: the check above can fail.
    await tmux.newSession('raw', line(['logs', '--raw', id]), 120, 30);
    await tmux.waitForText('raw', /MOAT_EXIT=0/);
    expect((await tmux.run(['display-message', '-p', '-t', 'raw', '#{pane_title}'])).trim()).toBe('PWNED-TITLE');
    expect(await tmux.run(['list-buffers'])).toMatch(/hello|5 bytes/);
  });

  it('a run started meanwhile is not held up by one printing as fast as it can (the delay is printed, not asserted)', async () => {
    const t0 = Date.now();
    const base = await moat(['run', '--', 'true'], { home, cwd: ws, timeoutMs: 60_000 });
    const baseline = Date.now() - t0;
    expect(base.code).toBe(0);
    const flood = await detached(ws, [
      '--',
      'sh',
      '-c',
      'yes ................................................................................ | head -c 1000000000',
    ]);
    const t1 = Date.now();
    const during = await moat(['run', '--', 'echo', 'during-flood'], { home, cwd: ws, timeoutMs: 60_000 });
    const busy = Date.now() - t1;
    expect(during.code, during.stderr).toBe(0);
    expect(during.stdout).toContain('during-flood');
    const health = await moat(['proxy', 'status', '--json'], { home, cwd: ws });
    expect((JSON.parse(health.stdout) as { running: boolean }).running).toBe(true); // the daemon still answers its health check
    process.stdout.write(`[hostile-output] moat run: ${baseline} ms alone, ${busy} ms while another run prints 1 GB (delay ${busy - baseline} ms)\n`);
    await moat(['stop', flood], { home, cwd: ws, timeoutMs: 30_000 });
  });
});
