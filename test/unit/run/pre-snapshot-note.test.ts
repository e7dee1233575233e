import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { SLOW_SNAPSHOT_NOTE, noteIfSlow, recordPreSnapshot, type PendingSnapshot } from '../../../src/run/snapshots.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { readRunSnapshots } from '../../../src/snapshot/refs.js';
import { snapshotWorkspace } from '../../../src/snapshot/service.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-prenote-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const later = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

describe('the note said while the pre-run snapshot holds the start up', () => {
  it('is said once when the snapshot takes longer than the wait, never when it is quick', async () => {
    const said: string[] = [];
    expect(await noteIfSlow(later(80, 'slow'), 10, () => said.push('x'))).toBe('slow');
    expect(said).toEqual(['x']);
    expect(await noteIfSlow(later(1, 'quick'), 200, () => said.push('y'))).toBe('quick');
    await later(250, undefined); // past the wait: the timer was cleared
    expect(said).toEqual(['x']);
  });

  it('a failing snapshot still rejects through it (and clears its timer)', async () => {
    const said: string[] = [];
    await expect(noteIfSlow(Promise.reject(new Error('boom')), 50, () => said.push('x'))).rejects.toThrow('boom');
    await later(80, undefined);
    expect(said).toEqual([]);
  });

  it('recordPreSnapshot says it for a slow snapshot and records the snapshot as before', async () => {
    const home = new MoatHome(join(dir, 'home'));
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'a'), 'a\n');
    const settings = { exclude: [], limits: DEFAULT_LIMITS };
    const runId = 'run_0123456789ab';
    await mkdir(home.runDir(runId), { recursive: true });
    const pending: PendingSnapshot = later(60, undefined).then(() => snapshotWorkspace(home, ws, settings));
    const said: string[] = [];
    const warned: string[] = [];
    await recordPreSnapshot(home, runId, settings, pending, (m) => warned.push(m), { say: (m) => said.push(m), afterMs: 5 });
    expect(said).toEqual([SLOW_SNAPSHOT_NOTE]);
    // It says how to leave folders out, or snapshots off (the config lines, as a user types them).
    expect(said[0]).toMatch(/snapshots\.exclude in moat\.yaml; snapshots: \{disabled: true\}/);
    expect(warned).toEqual([]);
    expect((await readRunSnapshots(home, runId))?.records.map((r) => r.kind)).toEqual(['pre']);
  });
});
