/**
 * `moat proxy restart` when the old daemon drops the hand-over request before any answer: the request
 * may never have been read. The client confirms the old daemon let go (leaving, gone or replaced) before
 * it starts waiting for a successor; one still serving as before is asked again, then the restart stops
 * with one sentence instead of waiting out the busy timeout and blaming the new daemon.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restartDaemon } from '../../../src/daemon/client.js';
import { DAEMON_PROTOCOL, daemonLog, daemonSocket } from '../../../src/daemon/protocol.js';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';
import { BUILD } from '../../../src/version.js';

const OLD = 4242;
const NEW = 4343;

let dir: string;
let home: MoatHome;
let server: Server;
let requests: string[];
let shutdownDrops: number;
let pid: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-restart-drop-'));
  home = new MoatHome(dir);
  await mkdir(home.daemonDir, { recursive: true });
  requests = [];
  pid = OLD;
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith('/shutdown')) {
      if (shutdownDrops-- > 0) return req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      pid = NEW; // the old daemon hands over; the next look finds its successor
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ protocol: DAEMON_PROTOCOL, version: BUILD, pid, startedAt: '', runs: [] }));
  });
  await new Promise<void>((r) => server.listen(daemonSocket(home), r));
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('restartDaemon over a hand-over request the old daemon drops', () => {
  it('dropped once while the old daemon still serves: asked again, and the successor is returned', async () => {
    shutdownDrops = 1;
    const h = await restartDaemon(home, { MOAT_DAEMON_BUSY_WAIT_MS: '2000' });
    expect(h.pid).toBe(NEW);
    expect(requests.slice(0, 4)).toEqual(['GET /health', 'POST /shutdown?handover=1', 'GET /health', 'POST /shutdown?handover=1']);
  });

  it('dropped every time: one sentence naming the hand-over, not a wait for a daemon that cannot start', async () => {
    shutdownDrops = 10;
    const err = await restartDaemon(home, { MOAT_DAEMON_BUSY_WAIT_MS: '2000' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect(err).toMatchObject({
      code: 'E_DAEMON',
      message: 'The moat daemon dropped the connection (ECONNRESET) when asked to hand its runs over.',
      hint: `Run it again; if it happens again, see ${daemonLog(home)} and run moat proxy restart.`,
    });
    expect(requests.filter((r) => r.startsWith('POST'))).toHaveLength(2);
  });
});
