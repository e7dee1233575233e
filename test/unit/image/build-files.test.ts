/**
 * Each image build writes its own log and network trace. Before, two builds of the same tag at once (two
 * terminals on one workspace) wrote into one `<tag>.network.jsonl`, and the run that followed took the
 * other build's requests over into its own trace and audit.
 */
import { mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureImage } from '../../../src/image/build.js';
import { fakeBuildRuntime } from './fake-runtime.js';

describe('build files', () => {
  it('two builds of the same tag at once write separate logs and traces; files older than 30 days are pruned', async () => {
    const home = await mkdtemp(join(tmpdir(), 'moat-build-files-'));
    const buildsDir = join(home, 'builds');
    await mkdir(buildsDir, { recursive: true });
    const stale = join(buildsDir, 'moat_old.20250101T000000Z-1-abcdef.network.jsonl');
    const recent = join(buildsDir, 'moat_recent.log');
    await writeFile(stale, '{}\n');
    await writeFile(recent, 'x\n');
    const old = new Date(Date.now() - 31 * 24 * 3600_000);
    await utimes(stale, old, old);

    let started = 0;
    let release: () => void = () => undefined;
    const both = new Promise<void>((r) => (release = r));
    const runtime = fakeBuildRuntime({
      build: async () => {
        if (++started === 2) release();
        await both;
      },
    });
    const build = () =>
      ensureImage({
        runtime,
        recipe: { baseImage: 'debian:bookworm-slim', extra: '' },
        homeRoot: home,
        buildsDir,
        rebuild: true,
        network: async () => ({ caDir: join(home, 'ca'), allowHosts: [], upstream: {} }),
        progress: async () => ({ step: () => undefined, line: () => undefined, done: () => undefined }),
      });
    const [a, b] = await Promise.all([build(), build()]);
    expect(a.tag).toBe(b.tag);
    expect(a.traceFile).toBeDefined();
    expect(a.traceFile).not.toBe(b.traceFile);
    expect(a.logFile).not.toBe(b.logFile);
    const files = await readdir(buildsDir);
    expect(files).not.toContain('moat_old.20250101T000000Z-1-abcdef.network.jsonl');
    expect(files).toContain('moat_recent.log');
    expect(files.filter((f) => f.endsWith('.log'))).toHaveLength(3);
  }, 30_000);
});
