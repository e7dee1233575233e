import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Prewalks, settingsKey } from '../../../src/daemon/prewalk.js';
import { hintSocket, prewalkWorkspace, sendPrewalkHint } from '../../../src/daemon/prewalk-hint.js';
import { parseSnapshotRequest, prewalkRequest, prewalksOf, snapshotRequest } from '../../../src/daemon/snapshot-api.js';
import { daemonSocket } from '../../../src/daemon/protocol.js';
import { MoatHome } from '../../../src/home/paths.js';
import { DEFAULT_LIMITS, type SnapshotSettings } from '../../../src/snapshot/limits.js';
import type { SnapshotSummary } from '../../../src/snapshot/service.js';
import { processStartNs } from '../../../src/run/snapshots.js';

let dir: string;
const settings: SnapshotSettings = { exclude: [], limits: DEFAULT_LIMITS };
const other: SnapshotSettings = { exclude: ['*.log'], limits: DEFAULT_LIMITS };
const summary = (hash: string): SnapshotSummary => ({ hash, createdAt: '', files: 1, bytes: 0, read: 0, added: 0, unstored: [], unstoredCount: 0 });
const body = (text: string): IncomingMessage => Readable.from([Buffer.from(text)]) as unknown as IncomingMessage;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-prewalk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Prewalks over a fake walker and a clock the test moves; each walk answers `walk-N`. */
function fixture() {
  let clock = 100n;
  const calls: Array<{ workspace: string; settings: SnapshotSettings }> = [];
  const gates: Array<() => void> = [];
  let gated = false;
  const walks = new Prewalks(
    async (workspace, s, started) => {
      calls.push({ workspace, settings: s });
      if (gated) await new Promise<void>((r) => gates.push(r));
      started();
      return summary(`walk-${calls.length}`);
    },
    () => clock,
  );
  return {
    walks,
    calls,
    tick: (ns: bigint) => (clock += ns),
    now: () => clock,
    gate: () => (gated = true),
    open: () => gates.splice(0).forEach((r) => r()),
  };
}

describe('pre-walks: the daemon walks on bin/moat hint and hands the walk to the CLI request', () => {
  it('hands a walk of the same workspace and settings, begun after the CLI started, to its request', async () => {
    const f = fixture();
    f.walks.remember('/ws', settings);
    const since = f.now();
    f.tick(5n);
    expect(f.walks.start('/ws')).toBe(true);
    expect(await f.walks.take('/ws', { limits: { ...DEFAULT_LIMITS }, exclude: [] }, since)).toEqual(summary('walk-1'));
    expect(f.calls).toEqual([{ workspace: '/ws', settings }]);
  });

  it('settings mismatch: a request with other excludes or limits gets no pre-walk', async () => {
    const f = fixture();
    f.walks.remember('/ws', settings);
    const since = f.now();
    f.walks.start('/ws');
    expect(f.walks.take('/ws', other, since)).toBeUndefined();
    expect(f.walks.take('/ws', { exclude: [], limits: { ...DEFAULT_LIMITS, maxFiles: 7 } }, since)).toBeUndefined();
    expect(settingsKey(settings)).not.toBe(settingsKey(other));
  });

  it('stale walk: one begun before the CLI process started is not its pre-run snapshot', async () => {
    const f = fixture();
    f.walks.remember('/ws', settings);
    f.walks.start('/ws');
    await Promise.resolve();
    f.tick(10n);
    expect(f.walks.take('/ws', settings, f.now())).toBeUndefined();
  });

  it('a walk still waiting its turn serves a CLI that started before it (it begins later), and is not queued twice', async () => {
    const f = fixture();
    f.gate();
    f.walks.remember('/ws', settings);
    f.walks.start('/ws');
    f.tick(10n);
    const since = f.now();
    expect(f.walks.start('/ws')).toBe(false); // one waits already: a hint flood queues no more walks
    const handed = f.walks.take('/ws', settings, since);
    expect(handed).toBeDefined();
    f.tick(10n);
    f.open();
    expect(await handed).toEqual(summary('walk-1'));
    expect(f.calls).toHaveLength(1);
  });

  it('another workspace: a hint for a workspace never snapshotted walks nothing, and a walk serves only its own workspace', async () => {
    const f = fixture();
    expect(f.walks.start('/unknown')).toBe(false);
    f.walks.remember('/ws', settings);
    const since = f.now();
    f.walks.start('/ws');
    expect(f.walks.take('/ws-other', settings, since)).toBeUndefined();
    expect(f.calls.map((c) => c.workspace)).toEqual(['/ws']);
  });

  it('a walk that failed is not handed over (the request walks itself)', async () => {
    const walks = new Prewalks(async (_w, _s, started) => {
      started();
      throw new Error('over snapshots.max_files');
    });
    walks.remember('/ws', settings);
    const since = process.hrtime.bigint();
    walks.start('/ws');
    expect(await walks.take('/ws', settings, since)).toBeUndefined();
  });

  it('attack: settings too large to keep, or many workspaces, keep the memory bounded', () => {
    const f = fixture();
    f.walks.remember('/huge', { exclude: new Array(1000).fill('x'.repeat(100)), limits: DEFAULT_LIMITS });
    expect(f.walks.start('/huge')).toBe(false);
    for (let i = 0; i < 100; i++) f.walks.remember(`/ws${i}`, settings);
    expect(f.walks.start('/ws0')).toBe(false); // forgotten: the oldest go first
    expect(f.walks.start('/ws99')).toBe(true);
  });
});

describe('the daemon API for pre-walks (POST /prewalk, POST /snapshots with since)', () => {
  it('a request from a process started before the hint gets the pre-walk; the workspace changed before the hint is in it', async () => {
    const home = new MoatHome(join(dir, 'home'));
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'a.txt'), 'one\n');
    // No run has snapshotted it yet: a hint walks nothing.
    expect((await prewalkRequest(body(JSON.stringify({ workspace: ws })), home)).body).toEqual({ started: false });
    const first = await snapshotRequest(body(JSON.stringify({ workspace: ws, settings })), home);
    expect(first.status).toBe(200);
    await new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window
    const since = processStartNs(); // this test process started before the hint
    await writeFile(join(ws, 'b.txt'), 'two\n');
    expect((await prewalkRequest(body(JSON.stringify({ workspace: ws })), home)).body).toEqual({ started: true });
    const prewalked = await prewalksOf(home).take(ws, settings, since);
    const r = await snapshotRequest(body(JSON.stringify({ workspace: ws, settings, since: String(since) })), home);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(prewalked); // that walk, not another
    expect((r.body as SnapshotSummary).files).toBe(2);
    await new Promise((r) => setTimeout(r, 5));
    // A request whose process started after that walk began is not handed it: it walks again, the same tree.
    const late = await snapshotRequest(body(JSON.stringify({ workspace: ws, settings, since: String(process.hrtime.bigint()) })), home);
    expect((late.body as SnapshotSummary).files).toBe(2);
    expect((late.body as SnapshotSummary).createdAt).not.toBe((r.body as SnapshotSummary).createdAt);
  });

  it('attack: malformed hints and since values are refused', async () => {
    const home = new MoatHome(join(dir, 'home'));
    for (const b of ['nope', 'null', JSON.stringify({ workspace: 'rel' }), JSON.stringify({ workspace: '/a/../b' }), JSON.stringify({ workspace: '/a\0' })])
      expect((await prewalkRequest(body(b), home)).status, b).toBe(400);
    for (const since of [12, '-1', '1e9', 'x', '1'.repeat(21)])
      expect(parseSnapshotRequest(JSON.stringify({ workspace: '/ws', settings, since }))).toBeUndefined();
    expect(parseSnapshotRequest(JSON.stringify({ workspace: '/ws', settings, since: '123' }))?.since).toBe('123');
  });
});

describe("bin/moat's hint", () => {
  it('names the workspace of run, claude and codex only: an operand directory, else the current directory', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await symlink(ws, join(dir, 'link'));
    expect(prewalkWorkspace(['run', '--', 'true'], ws)).toBe(ws);
    expect(prewalkWorkspace(['--verbose', 'claude', '--grant', 'github'], ws)).toBe(ws);
    expect(prewalkWorkspace(['codex', '-e', 'X=1', '../link', '--', 'ws'], ws)).toBe(ws); // real path
    expect(prewalkWorkspace(['run', 'ws'], dir)).toBe(ws);
    expect(prewalkWorkspace(['run', '--', 'ws'], join(dir, 'link'))).toBe(ws); // after --: the command's
    for (const a of [['list'], ['run', '--dry-run'], ['--dry-run', 'run'], ['run', '--help'], ['diff', 'run'], []])
      expect(prewalkWorkspace(a, ws), a.join(' ')).toBeUndefined();
    expect(prewalkWorkspace(['run'], join(dir, 'gone'))).toBeUndefined();
  });

  it('is sent on the socket the daemon listens on', () => {
    expect(hintSocket({ MOAT_HOME: join(dir, 'h') })).toBe(daemonSocket(new MoatHome(join(dir, 'h'))));
    expect(hintSocket({ MOAT_HOME: 'rel/h' })).toBe(daemonSocket(new MoatHome('rel/h')));
    expect(hintSocket({})).toBe(daemonSocket(MoatHome.fromEnv({})));
  });

  it('reaches a listening daemon as POST /prewalk with the workspace', async () => {
    const sock = join(dir, 'd.sock');
    const got: Array<{ method?: string; url?: string; body: string }> = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        got.push({ method: req.method, url: req.url, body: b });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await sendPrewalkHint(sock, '/some/ws');
      for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(got).toEqual([{ method: 'POST', url: '/prewalk', body: '{"workspace":"/some/ws"}' }]);
    } finally {
      server.close();
    }
  });

  it('daemon down: no socket, a stale file, a socket nobody accepts on: resolves without an error', async () => {
    await sendPrewalkHint(join(dir, 'absent.sock'), '/ws');
    await writeFile(join(dir, 'file.sock'), '');
    await sendPrewalkHint(join(dir, 'file.sock'), '/ws');
    await sendPrewalkHint(join(dir, 'x'.repeat(200)), '/ws'); // a path too long for a socket
  });
});
