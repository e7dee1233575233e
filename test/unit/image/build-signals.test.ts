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
import { fakeBuildRuntime } from './fake-runtime.js';

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
    const runtime = fakeBuildRuntime({
      create: () => (relayId = 'relay-1'),
      remove: (id) => {
        removed.push(id as string);
      },
      build: async () => {
        gwDirsDuringBuild = (await readdir(buildsDir)).filter((f) => f.startsWith('gw-'));
        signals.emit('SIGINT', 'SIGINT'); // Ctrl-C while a step runs; the engine call never returns
        return new Promise(() => undefined);
      },
    });
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
