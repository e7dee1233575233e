/**
 * The end of a build must not wait on its steps: a connection a step leaves open to the build gateway
 * (a half-sent request head, a tunnel kept idle) held `close()` for as long as the gateway's timeouts
 * (30 s for a head, 10 minutes for an idle tunnel) when the relay could not be removed first.
 */
import { connect } from 'node:net';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBuildGateway } from '../../../src/image/build-gateway.js';

describe('closing the build gateway', () => {
  it('a connection held open by a build step does not hold close() (under 2 s), and the gw- directory goes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-build-gwclose-'));
    const gw = await startBuildGateway({ caDir: join(dir, 'ca'), parentDir: dir, allowHosts: [], upstream: {}, onEvent: () => undefined });
    const held = connect(join(gw.socketDir, 'proxy.sock'));
    held.on('error', () => undefined);
    await new Promise<void>((r) => held.once('connect', () => r()));
    held.write('GET http://deb.debian.org/ HTTP/1.1\r\nHost: deb.debian.org\r\n'); // a head never finished
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await gw.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await readdir(dir)).filter((f) => f.startsWith('gw-'))).toEqual([]);
    held.destroy();
  }, 60_000);
});
