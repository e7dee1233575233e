import { chmod, link, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setIdReport, sweepSetId } from '../../../src/daemon/setid-sweep.js';

let base: string;
let ws: string;
let outside: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-setid-'));
  ws = join(base, 'ws');
  outside = join(base, 'outside');
  await mkdir(join(ws, 'a', 'b'), { recursive: true });
  await mkdir(outside);
});
afterEach(async () => rm(base, { recursive: true, force: true }));

const bits = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;

describe('the set-id sweep after a run', () => {
  it('strips set-uid and set-gid bits at any depth, keeps the other bits, reports them', async () => {
    await writeFile(join(ws, 'a', 'b', 'x'), 'x');
    await chmod(join(ws, 'a', 'b', 'x'), 0o6755);
    await writeFile(join(ws, 'plain'), 'p');
    await chmod(join(ws, 'plain'), 0o750);
    const s = await sweepSetId([ws]);
    expect(s.stripped).toEqual([join(ws, 'a', 'b', 'x')]);
    expect(await bits(join(ws, 'a', 'b', 'x'))).toBe(0o755);
    expect(await bits(join(ws, 'plain'))).toBe(0o750);
    expect(setIdReport(s)).toMatch(/whose bits moat removed: .*a\/b\/x\.$/);
    expect(setIdReport({ stripped: [], remaining: [], truncated: false })).toBeUndefined();
  });

  it('never follows a symlink (to a file or a folder) out of the workspace', async () => {
    await writeFile(join(outside, 'victim'), 'v');
    await chmod(join(outside, 'victim'), 0o4755);
    await symlink(join(outside, 'victim'), join(ws, 'link'));
    await symlink(outside, join(ws, 'dirlink'));
    const s = await sweepSetId([ws]);
    expect(s).toEqual({ stripped: [], remaining: [], truncated: false });
    expect(await bits(join(outside, 'victim'))).toBe(0o4755);
  });

  it('leaves a file with a second name alone and reports it (changing it would change the other name)', async () => {
    await writeFile(join(outside, 'shared'), 's');
    await chmod(join(outside, 'shared'), 0o4755);
    await link(join(outside, 'shared'), join(ws, 'hard'));
    const s = await sweepSetId([ws]);
    expect(s.remaining).toEqual([join(ws, 'hard')]);
    expect(await bits(join(outside, 'shared'))).toBe(0o4755);
  });

  it('stops after its bound and says so', async () => {
    for (let i = 0; i < 20; i++) await writeFile(join(ws, `f${i}`), '');
    const s = await sweepSetId([ws], 10);
    expect(s.truncated).toBe(true);
    expect(setIdReport(s)).toMatch(/checked only the first/);
  });
});
