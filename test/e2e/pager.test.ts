/**
 * `moat diff` on a terminal pages through less (LESS=FRX) as git does: the first screen waits for the
 * user, Ctrl-C is the pager's (moat does not die under it and leave the shell's prompt under a pager still
 * drawing), q ends the command with status 0, `--no-pager` prints it all. What a run wrote reaches the
 * pager sanitized: a title escape in a changed file is shown as text, never sets the terminal's title.
 * `moat trace` (without -f) and `moat audit --events` page the same way; their JSON never does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOAT_BIN, Tmux, cleanupHome, moat, shq, sleep, tempDir } from './helpers.js';

const tmux = new Tmux(`moat-e2e-pager-${process.pid}`);
let home: string;
let ws: string;

beforeAll(async () => {
  home = await tempDir('pager-home');
  ws = await tempDir('pager-ws');
  await mkdir(join(ws, 'src'));
  await writeFile(join(ws, 'src', 'keep.txt'), 'kept\n');
  // 200 numbered lines and a title escape: one screen of the diff is far less than the whole.
  // And one request, to this machine's loopback: refused by the gateway's policy (never sent), so traced.
  const request =
    "exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT; printf 'GET http://127.0.0.1:9/paged-trace HTTP/1.1\\r\\nHost: 127.0.0.1:9\\r\\nConnection: close\\r\\n\\r\\n' >&3; head -1 <&3";
  const r = await moat(
    ['run', '-n', 'paged', '--', 'bash', '-c', `seq 1 200 > lines.txt; printf 'title \\033]2;PWNED-DIFF\\007 end\\n' > evil.txt; ${request}`],
    {
      home,
      cwd: ws,
    },
  );
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await tmux.killServer();
  await cleanupHome(home, ws);
});

/** A shell line for a tmux pane: moat with the default pager (no PAGER, MOAT_PAGER or LESS) or `pager`, then its status. */
function line(args: string[], pager?: string): string {
  const env = `env -u PAGER -u MOAT_PAGER -u LESS ${pager ? `MOAT_PAGER=${shq(pager)} ` : ''}MOAT_HOME=${shq(home)} MOAT_DAEMON_IDLE_MS=5000 NO_COLOR=1 MOAT_SPARES=0 TERM=xterm`;
  return `cd ${shq(ws)} && echo BEFORE-DIFF && ${env} ${shq(process.execPath)} ${shq(MOAT_BIN)} ${args.map(shq).join(' ')}; echo "MOAT_EXIT=$?"; sleep 600`;
}

describe('moat diff through a pager', () => {
  it('waits on the first screen, leaves Ctrl-C to the pager, and ends with 0 on q', async () => {
    await tmux.newSession('paged', line(['diff', 'paged']), 100, 20);
    const first = await tmux.waitForText('paged', /\+5\n[^]*\n:\s*$/); // less's prompt on the last line
    expect(first).toContain('diff --moat a/evil.txt b/evil.txt');
    expect(first).not.toMatch(/\+200/);
    expect(first).not.toContain('MOAT_EXIT');
    await tmux.sendKeys('paged', 'C-c');
    await sleep(700);
    expect(await tmux.capture('paged')).not.toContain('MOAT_EXIT');
    await tmux.sendKeys('paged', 'q');
    const after = await tmux.waitForText('paged', /MOAT_EXIT=0/);
    expect(after).toContain('BEFORE-DIFF'); // LESS=X: the screen was not cleared
  });

  it('hostile-diff-pager-escapes: a title escape in a changed file reaches the pager as text', async () => {
    await tmux.newSession('evil', line(['diff', 'paged', '--', 'evil.txt']), 100, 20);
    const pane = await tmux.waitForText('evil', /MOAT_EXIT=0/); // one screen: LESS=F prints it and ends
    expect(pane).toContain('+title ^[]2;PWNED-DIFF^G end');
    expect((await tmux.run(['display-message', '-p', '-t', 'evil', '#{pane_title}'])).trim()).not.toBe('PWNED-DIFF');
  });

  it('--no-pager prints the whole diff without waiting', async () => {
    await tmux.newSession('plain', line(['diff', 'paged', '--no-pager', '--', 'lines.txt']), 100, 20);
    const pane = await tmux.waitForText('plain', /MOAT_EXIT=0/);
    expect(pane).toMatch(/\+200\n/);
  });
});

describe('moat trace and moat audit --events through a pager', () => {
  // A pager that marks each line it shows: what reached it, and only that, is marked.
  const marker = 'sed s/^/PAGED:/';

  it('moat trace pages its list on a terminal; --json and --no-pager do not', async () => {
    await tmux.newSession('trace', line(['trace', 'paged'], marker), 160, 20);
    const pane = await tmux.waitForText('trace', /MOAT_EXIT=0/);
    expect(pane).toMatch(/PAGED:.*GET.*BLOCKED.*http:\/\/127\.0\.0\.1:9\/paged-trace/);
    await tmux.newSession('trace-json', line(['trace', 'paged', '--json'], marker), 160, 20);
    const json = await tmux.waitForText('trace-json', /MOAT_EXIT=0/);
    expect(json).toContain('paged-trace');
    expect(json).not.toContain('PAGED:');
    await tmux.newSession('trace-plain', line(['trace', 'paged', '--no-pager'], marker), 160, 20);
    const plain = await tmux.waitForText('trace-plain', /MOAT_EXIT=0/);
    expect(plain).toContain('paged-trace');
    expect(plain).not.toContain('PAGED:');
  });

  it('moat audit --events pages its timeline on a terminal; --json and --no-pager do not', async () => {
    await tmux.newSession('audit', line(['audit', 'paged', '--events'], marker), 160, 20);
    const pane = await tmux.waitForText('audit', /MOAT_EXIT=0/);
    expect(pane).toMatch(/PAGED:.*paged-trace/);
    await tmux.newSession('audit-json', line(['audit', 'paged', '--events', '--json', '--type', 'network'], marker), 160, 20);
    const json = await tmux.waitForText('audit-json', /MOAT_EXIT=0/);
    expect(json).toContain('paged-trace');
    expect(json).not.toContain('PAGED:');
    await tmux.newSession('audit-plain', line(['audit', 'paged', '--events', '--no-pager'], marker), 160, 20);
    const plain = await tmux.waitForText('audit-plain', /MOAT_EXIT=0/);
    expect(plain).toContain('paged-trace');
    expect(plain).not.toContain('PAGED:');
  });
});
