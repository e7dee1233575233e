/**
 * Ctrl-C during an image build: Node's default ended the CLI at once, leaving the relay container (the
 * base image's code, running as the host user) and the gateway's socket directory behind until `moat clean`.
 * The build now takes its boundary down first, then ends with the same signal.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureImage } from '../../../src/image/build.js';
import { cleanupOnSignal } from '../../../src/image/build-signals.js';

describe('a signal during an image build', () => {
  it('SIGINT mid-build removes the relay container and the gateway directory, then re-raises SIGINT', async () => {
    const home = await mkdtemp(join(tmpdir(), 'moat-build-sig-'));
    const buildsDir = join(home, 'builds');
    const signals = new EventEmitter();
    const removed: string[] = [];
    let gwDirsDuringBuild: string[] = [];
    let reraised: ((s: string) => void) | undefined;
    const reraisedP = new Promise<string>((r) => {
      reraised = r;
    });
    let relayId = '';
    const runtime = new Proxy(
      {},
      {
        get:
          (_t, name: string) =>
          async (...args: unknown[]) => {
            switch (name) {
              case 'imageExists':
                return args[0] === 'debian:bookworm-slim';
              case 'inspectImage':
                return { id: 'sha256:1', tags: [], labels: {}, size: 1, created: 0, env: [], onBuild: [] };
              case 'create':
                relayId = 'relay-1';
                return relayId;
              case 'start':
                return undefined;
              case 'logs':
                (args[2] as (l: { line: string }) => void)({ line: 'moat-build-relay ready' });
                return undefined;
              case 'inspect':
                return { status: 'running' };
              case 'remove':
                removed.push(args[0] as string);
                return undefined;
              case 'build':
                gwDirsDuringBuild = (await readdir(buildsDir)).filter((f) => f.startsWith('gw-'));
                signals.emit('SIGINT', 'SIGINT'); // Ctrl-C while a step runs; the engine call never returns
                return new Promise(() => undefined);
              default:
                throw new Error(`unexpected ${name}`);
            }
          },
      },
    ) as never;
    void ensureImage({
      runtime,
      recipe: { baseImage: 'debian:bookworm-slim', extra: '' },
      homeRoot: home,
      buildsDir,
      rebuild: false,
      network: async () => ({ caDir: join(home, 'ca'), allowHosts: [], upstream: {} }),
      progress: async () => ({ step: () => undefined, line: () => undefined, done: () => undefined }),
      signalHooks: { signals, reraise: (s) => reraised?.(s) },
    });
    expect(await reraisedP).toBe('SIGINT');
    expect(gwDirsDuringBuild).toHaveLength(1);
    expect(removed).toEqual([relayId]);
    expect((await readdir(buildsDir)).filter((f) => f.startsWith('gw-'))).toEqual([]);
    expect(signals.listenerCount('SIGINT')).toBe(0);
  }, 30_000);

  it('a second signal during the clean-up ends at once; after the build no listener is left', async () => {
    const signals = new EventEmitter();
    const got: string[] = [];
    const stop = cleanupOnSignal(() => new Promise(() => undefined), { signals, reraise: (s) => got.push(s) });
    signals.emit('SIGTERM', 'SIGTERM');
    expect(got).toEqual([]);
    signals.emit('SIGINT', 'SIGINT');
    expect(got).toEqual(['SIGINT']);
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGHUP')).toBe(0);
    stop();
    const stop2 = cleanupOnSignal(async () => undefined, { signals, reraise: (s) => got.push(s) });
    stop2();
    expect(signals.listenerCount('SIGHUP')).toBe(0);
  });
});
