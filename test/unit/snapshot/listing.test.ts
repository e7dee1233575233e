/**
 * Reused listings: a folder unchanged since the previous snapshot (inode, ctime, mtime) under the same
 * ignore rules is not listed again (its names are the recorded ones). Each attack below changes a folder's
 * names or rules in a way a careless cache would miss, or swaps a folder for a link.
 */
import { mkdtemp, mkdir, rm, symlink, writeFile, rename, utimes, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { ObjectStore, sha256 } from '../../../src/snapshot/objects.js';
import { readManifest, type Manifest } from '../../../src/snapshot/manifest.js';
import { takeSnapshot, type TakeOptions, type TakeResult } from '../../../src/snapshot/take.js';

let dir: string;
let ws: string;
let store: ObjectStore;
const settle = () => new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-listing-'));
  ws = join(dir, 'ws');
  await mkdir(ws);
  store = new ObjectStore(join(dir, 'store'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function snap(previous?: TakeResult, o: Partial<TakeOptions> = {}): Promise<TakeResult> {
  return takeSnapshot({
    workspace: ws,
    store,
    limits: DEFAULT_LIMITS,
    ...(previous ? { previous: previous.manifest, previousHash: previous.hash } : {}),
    ...o,
  });
}
const paths = (r: TakeResult): string[] => r.manifest.entries.map((e) => e.path);

/** A tree of folders, then a first snapshot taken once it is past the racy window. */
async function tree(): Promise<TakeResult> {
  for (const d of ['a', 'a/b', 'a/b/c', 'd']) await mkdir(join(ws, d));
  for (const f of ['top', 'a/x', 'a/b/y', 'a/b/c/z', 'd/w']) await writeFile(join(ws, f), f);
  await settle();
  const first = await snap();
  expect(first.listed).toBe(5); // the root and four folders
  await settle();
  return first;
}

describe('reused listings', () => {
  it('an unchanged workspace lists no folder and gives the previous manifest back', async () => {
    const first = await tree();
    const again = await snap(first);
    expect(again.listed).toBe(0);
    expect(again.read).toBe(0);
    expect(again.hash).toBe(first.hash);
  });

  it('a file added to one folder relists only that folder; the others are reused', async () => {
    const first = await tree();
    await writeFile(join(ws, 'a/b/new'), 'new');
    await settle();
    const again = await snap(first);
    expect(again.listed).toBe(1);
    expect(paths(again)).toContain('a/b/new');
    expect(paths(again)).toEqual([...paths(first), 'a/b/new'].sort());
  });

  it('a manifest written before listings were recorded (no root, no list) lists every folder and reads back alike', async () => {
    const first = await tree();
    const old: Manifest = { ...first.manifest, entries: first.manifest.entries.map(({ list: _l, ...e }) => e) };
    delete old.root;
    const again = await snap(undefined, { previous: old });
    expect(again.listed).toBe(5);
    expect(again.read).toBe(0);
    expect(paths(again)).toEqual(paths(first));
    expect((await readManifest(store, again.hash)).root?.list).toBeDefined();
  });

  it('hostile-snapshot-listing-link-swap: a folder under a reused listing swapped for a link is recorded as the link, never followed', async () => {
    const first = await tree();
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'secret'), 'HOST SECRET');
    await rename(join(ws, 'a/b'), join(dir, 'moved-b'));
    await symlink(join(dir, 'outside'), join(ws, 'a/b'));
    await settle();
    const again = await snap(first);
    expect(again.listed).toBe(1); // only a (its names changed); the root's listing was reused
    expect(again.manifest.entries.find((e) => e.path === 'a/b')).toMatchObject({ type: 'link', target: join(dir, 'outside') });
    expect(paths(again).filter((p) => p.startsWith('a/b/'))).toEqual([]);
    expect(await store.has(sha256('HOST SECRET'))).toBe(false);
  });

  it('hostile-snapshot-listing-mtime-reset: a file planted in a folder whose mtime is then set back is still found (the ctime moved)', async () => {
    const first = await tree();
    // Whole seconds, so the mtime can be put back exactly.
    const t = new Date(Math.floor(Date.now() / 1000 - 60) * 1000);
    await utimes(join(ws, 'd'), t, t);
    await settle();
    const second = await snap(first);
    await settle();
    const before = await stat(join(ws, 'd'));
    await writeFile(join(ws, 'd', 'planted'), 'p');
    await utimes(join(ws, 'd'), before.atime, before.mtime);
    expect((await stat(join(ws, 'd'))).mtimeMs).toBe(before.mtimeMs);
    await settle();
    const again = await snap(second);
    expect(paths(again)).toContain('d/planted');
  });

  it('hostile-snapshot-listing-folder-swap: a folder replaced by another with the same mtime is listed (its inode differs)', async () => {
    const first = await tree();
    const before = await stat(join(ws, 'd'));
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'planted'), 'p');
    await utimes(join(dir, 'other'), before.atime, before.mtime);
    await rename(join(ws, 'd'), join(dir, 'old-d'));
    await rename(join(dir, 'other'), join(ws, 'd'));
    await settle();
    const again = await snap(first);
    expect(paths(again).filter((p) => p.startsWith('d/'))).toEqual(['d/planted']);
  });

  it('hostile-snapshot-listing-rules-above: a .gitignore above an unchanged folder changed in place: the folder is listed under the new rules', async () => {
    await writeFile(join(ws, '.gitignore'), '*.log\n');
    await mkdir(join(ws, 'sub'));
    await writeFile(join(ws, 'sub', 'x.log'), 'log');
    await writeFile(join(ws, 'sub', 'k'), 'k');
    await settle();
    const first = await snap();
    expect(paths(first)).toEqual(['.gitignore', 'sub', 'sub/k']);
    await settle();
    await writeFile(join(ws, '.gitignore'), '#.log\n'); // same size, in place: no folder's names changed
    await settle();
    const again = await snap(first);
    expect(paths(again)).toEqual(['.gitignore', 'sub', 'sub/k', 'sub/x.log']);
    await settle();
    // And back: the name is ignored again although its folder did not change.
    await writeFile(join(ws, '.gitignore'), '*.log\n');
    await settle();
    expect(paths(await snap(again))).toEqual(['.gitignore', 'sub', 'sub/k']);
  });

  it('hostile-snapshot-listing-ignored-gitignore: a .gitignore that is itself ignored still counts; its change relists its folder', async () => {
    await writeFile(join(ws, '.gitignore'), 'sub/.gitignore\n');
    await mkdir(join(ws, 'sub'));
    await writeFile(join(ws, 'sub', '.gitignore'), '*.tmp\n');
    await writeFile(join(ws, 'sub', 'a.tmp'), 't');
    await settle();
    const first = await snap();
    expect(paths(first)).toEqual(['.gitignore', 'sub']);
    await settle();
    await writeFile(join(ws, 'sub', '.gitignore'), '#.tmp\n');
    await settle();
    const again = await snap(first);
    expect(paths(again)).toEqual(['.gitignore', 'sub', 'sub/a.tmp']);
  });

  it('hostile-snapshot-listing-exclude-change: changed snapshots.exclude relists (an excluded name comes back)', async () => {
    const first = await (async () => {
      await mkdir(join(ws, 'gen'));
      await writeFile(join(ws, 'gen', 'out.js'), 'o');
      await settle();
      return snap(undefined, { exclude: ['*.js'] });
    })();
    expect(paths(first)).toEqual(['gen']);
    await settle();
    const again = await snap(first, { exclude: [] });
    expect(paths(again)).toEqual(['gen', 'gen/out.js']);
  });

  it('hostile-snapshot-listing-skipped-name: a folder with a name left out (not UTF-8) is listed every time, and the name counted every time', async () => {
    await mkdir(join(ws, 'sub'));
    await writeFile(Buffer.concat([Buffer.from(`${ws}/sub/`), Buffer.from([0x66, 0xff, 0x41])]), 'x');
    await writeFile(join(ws, 'sub', 'ok'), 'ok');
    await settle();
    const first = await snap();
    expect(first.manifest.skippedCount).toBe(1);
    await settle();
    const again = await snap(first);
    expect(again.listed).toBe(1); // sub (its listing is not reusable); the root's is
    expect(again.manifest.skippedCount).toBe(1);
    expect(again.hash).toBe(first.hash);
  });
});
