import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMount } from '../../../src/config/load.js';
import { resolveMountSources } from '../../../src/run/mount-sources.js';
import { assertSourcesUnchanged } from '../../../src/container/sources.js';

let dir: string;
let ws: string;
let outside: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'moat-mounts-')));
  ws = join(dir, 'ws');
  outside = join(dir, 'outside');
  await mkdir(join(ws, 'cfg', 'data'), { recursive: true });
  await mkdir(join(outside, 'data'), { recursive: true });
  await writeFile(join(outside, 'data', 'secret'), 'x');
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const resolve = (spec: string, workspace = ws) => resolveMountSources([parseMount(spec, workspace, '/home/u')], [spec], workspace, ws);

describe('mount sources are resolved to their real paths', () => {
  it('a plain source is its own real path, inside the workspace', async () => {
    expect(await resolve('./cfg/data:/data:ro')).toEqual([{ spec: './cfg/data:/data:ro', source: join(ws, 'cfg', 'data'), target: '/data', readOnly: true }]);
  });

  it('a link at any depth is followed, and a workspace source that leaves the workspace is marked', async () => {
    for (const [link, target] of [
      ['cfg/data', join(outside, 'data')],
      ['cfg', outside],
    ] as const) {
      await rm(join(ws, link), { recursive: true, force: true });
      await symlink(target, join(ws, link));
      expect(await resolve('./cfg/data:/data:ro')).toEqual([
        { spec: './cfg/data:/data:ro', source: join(outside, 'data'), target: '/data', readOnly: true, outside: true },
      ]);
    }
  });

  it('the workspace reached through a link is the same workspace', async () => {
    await symlink(ws, join(dir, 'alias'));
    const [m] = await resolveMountSources([parseMount('./cfg/data:/d', join(dir, 'alias'), '/home/u')], ['./cfg/data:/d'], join(dir, 'alias'), ws);
    expect(m).toEqual({ spec: './cfg/data:/d', source: join(ws, 'cfg', 'data'), target: '/d', readOnly: false });
  });

  it('".." segments are resolved before anything is mounted', async () => {
    const [m] = await resolve('./cfg/../../outside/data:/d:ro');
    expect(m?.source).toBe(join(outside, 'data'));
    expect(m?.outside).toBeUndefined(); // written outside the workspace: shown as an outside path, not a workspace one
  });

  it('a missing source, a link loop, and a real path the engine cannot carry are refused', async () => {
    await expect(resolve('./nope:/d')).rejects.toThrow(`The mount source ./nope (${join(ws, 'nope')}) does not exist.`);
    await symlink(join(ws, 'loop'), join(ws, 'loop'));
    await expect(resolve('./loop:/d')).rejects.toThrow(/is a loop of symbolic links/);
    await mkdir(join(outside, 'a:rw'));
    await symlink(join(outside, 'a:rw'), join(ws, 'colon'));
    await expect(resolve('./colon:/d')).rejects.toThrow(/has a ":", "," or control character/);
  });

  it('just before the start, a source swapped for a link since the check is refused', async () => {
    const [m] = await resolve('./cfg/data:/data:ro');
    if (!m) throw new Error('no mount');
    await expect(assertSourcesUnchanged([m.source])).resolves.toBeUndefined();
    await rm(join(ws, 'cfg'), { recursive: true });
    await symlink(outside, join(ws, 'cfg'));
    await expect(assertSourcesUnchanged([m.source])).rejects.toThrow(
      `Not started: the mount source ${join(ws, 'cfg', 'data')} changed after it was checked (it now leads to ${join(outside, 'data')}); a folder on the way may have been replaced with a symbolic link.`,
    );
    await rm(join(ws, 'cfg'));
    await expect(assertSourcesUnchanged([m.source])).rejects.toThrow(/\(it is gone\)/);
  });
});
