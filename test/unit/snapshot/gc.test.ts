import { mkdtemp, mkdir, readdir, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { collectGarbage } from '../../../src/snapshot/gc.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { addRecord, objectStore, recordOf, snapshotWorkspace } from '../../../src/snapshot/service.js';
import { sha256 } from '../../../src/snapshot/objects.js';

let dir: string;
let home: MoatHome;
const settings = { exclude: [], limits: DEFAULT_LIMITS };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-gc-'));
  home = new MoatHome(join(dir, 'home'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('collectGarbage', () => {
  it('removes what no run references (after the grace time), keeps what one does', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'kept'), 'kept content');
    const runId = 'run_0123456789ab';
    await mkdir(home.runDir(runId), { recursive: true });
    await addRecord(home, runId, settings, recordOf('pre', await snapshotWorkspace(home, ws, settings)));
    const store = objectStore(home);
    const orphan = (await store.putBuffer(Buffer.from('orphan'))).hash;
    const young = (await store.putBuffer(Buffer.from('young'))).hash;
    await utimes(store.path(orphan), new Date(0), new Date(0));
    const dry = await collectGarbage(home, { dryRun: true });
    expect(dry.objects).toBe(1);
    expect(await store.has(orphan)).toBe(true);
    await collectGarbage(home);
    expect(await store.has(orphan)).toBe(false);
    expect(await store.has(young)).toBe(true);
    expect(await store.has(sha256('kept content'))).toBe(true);
    // Once the run is gone (moat destroy), the workspace's last snapshot stays (the next one's base)…
    await rm(home.runDir(runId), { recursive: true });
    expect((await collectGarbage(home, { graceMs: -1000 })).objects).toBe(1); // the young orphan
    expect(await store.has(sha256('kept content'))).toBe(true);
    // …until the workspace is gone too: then its contents and its pointer go.
    await rm(ws, { recursive: true });
    expect((await collectGarbage(home, { graceMs: -1000 })).objects).toBe(2); // the content, the manifest
    expect(await store.has(sha256('kept content'))).toBe(false);
    expect(await readdir(join(home.root, 'snapshots', 'workspaces'))).toEqual([]);
  });

  it('attack: a prune between two runs cannot delete what the next snapshot of an unchanged workspace reuses', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'a'), 'content a');
    await writeFile(join(ws, 'b'), 'content b');
    const runId = 'run_0123456789ab';
    await mkdir(home.runDir(runId), { recursive: true });
    await new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window
    const first = await snapshotWorkspace(home, ws, settings);
    await addRecord(home, runId, settings, recordOf('pre', first));
    // The run is destroyed and everything old collected (no grace): the workspace's pointer is a reference.
    await rm(home.runDir(runId), { recursive: true });
    await collectGarbage(home, { graceMs: -1000 });
    const store = objectStore(home);
    const again = await snapshotWorkspace(home, ws, settings);
    expect(again.read).toBe(0); // the unchanged-workspace shortcut: the previous manifest is this one
    expect(again.hash).toBe(first.hash);
    for (const e of again.manifest.entries) if (e.hash) expect(await store.has(e.hash)).toBe(true);
    expect(await store.has(again.hash)).toBe(true);
    // One file changed: the other keeps its recorded hash without being read, and its object is still there.
    await collectGarbage(home, { graceMs: -1000 });
    await writeFile(join(ws, 'b'), 'content b, changed');
    const changed = await snapshotWorkspace(home, ws, settings);
    expect(changed.read).toBe(1);
    expect((await store.read(sha256('content a'))).toString()).toBe('content a');
  });

  it('attack: a torn or hostile workspace pointer is dropped, never followed', async () => {
    const wsDir = join(home.root, 'snapshots', 'workspaces');
    await mkdir(wsDir, { recursive: true });
    await writeFile(join(wsDir, 'torn.json'), '{"workspace": "/tmp", "manif');
    await writeFile(join(wsDir, 'bad.json'), JSON.stringify({ workspace: dir, manifest: '../../../../etc/passwd' }));
    await collectGarbage(home);
    expect(await readdir(wsDir)).toEqual([]);
  });

  it('removes temp files a stopped snapshot left in fan-out folders, once old; never an object', async () => {
    const store = objectStore(home);
    const { hash } = await store.putBuffer(Buffer.from('obj'));
    const fan = join(store.objectsDir, hash.slice(0, 2));
    await writeFile(join(fan, '.tmp-1.ab.0'), 'old');
    await writeFile(join(fan, '.tmp-1.ab.1'), 'young');
    await utimes(join(fan, '.tmp-1.ab.0'), new Date(0), new Date(0));
    await utimes(store.path(hash), new Date(0), new Date(0));
    const r = await collectGarbage(home);
    expect(r.objects).toBe(1); // the unreferenced object; temp files are not counted as objects
    expect((await readdir(fan)).sort()).toEqual(['.tmp-1.ab.1']);
  });

  it('attack: a live manifest that cannot be read back makes the collection keep everything, and say so', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'important.txt'), 'the only copy');
    const runId = 'run_0123456789ab';
    await mkdir(home.runDir(runId), { recursive: true });
    const store = objectStore(home);
    // A run's record names a manifest the reader refuses (here: an entry path that climbs out).
    const bad = (await store.putBuffer(Buffer.from(JSON.stringify({ version: 1, entries: [{ path: '../x', type: 'file' }] })))).hash;
    await addRecord(home, runId, settings, { ...recordOf('pre', await snapshotWorkspace(home, ws, settings)), manifest: bad });
    const orphan = (await store.putBuffer(Buffer.from('orphan'))).hash;
    const r = await collectGarbage(home, { graceMs: -1000 });
    expect(r).toEqual({ objects: 0, bytes: 0, unreadable: 1 });
    expect(await store.has(sha256('the only copy'))).toBe(true);
    expect(await store.has(orphan)).toBe(true);
  });
});
