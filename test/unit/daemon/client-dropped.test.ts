/**
 * "moat: unexpected error: socket hang up" (seen under heavy load): the CLI's requests to the daemon whose
 * connection drops before any answer. Taking a run over is idempotent, so it is asked again once; when it
 * still fails the user gets one sentence saying what failed, where to look and what to run.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchRun } from '../../../src/daemon/client.js';
import { daemonLog, daemonSocket } from '../../../src/daemon/protocol.js';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';

let dir: string;
let home: MoatHome;
let server: Server;
let requests: string[];
let drops: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-client-drop-'));
  home = new MoatHome(dir);
  await mkdir(home.daemonDir, { recursive: true });
  requests = [];
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (drops-- > 0) return req.socket.destroy();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(daemonSocket(home), r));
});
afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('watchRun over a connection the daemon drops', () => {
  it('dropped once: asked again, and the run is taken over', async () => {
    drops = 1;
    await watchRun(home, 'run_0123456789ab', {});
    expect(requests).toEqual(['POST /runs/run_0123456789ab/watch', 'POST /runs/run_0123456789ab/watch']);
  });

  it('dropped every time: one sentence with the cause, the daemon log and moat proxy restart', async () => {
    drops = 10;
    const err = await watchRun(home, 'run_0123456789ab', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect(err).toMatchObject({
      code: 'E_DAEMON',
      message: 'The moat daemon dropped the connection (ECONNRESET) while taking the run over, so its gateway did not start.',
      hint: `Run it again; if it happens again, see ${daemonLog(home)} and run moat proxy restart.`,
    });
    expect(requests).toHaveLength(2);
  });
});
