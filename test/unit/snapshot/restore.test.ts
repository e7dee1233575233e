import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile, lstat, readlink, stat, chmod, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { ObjectStore } from '../../../src/snapshot/objects.js';
import type { Manifest } from '../../../src/snapshot/manifest.js';
import { applyRestore, pathOf, planRestore } from '../../../src/snapshot/restore.js';
import { takeSnapshot } from '../../../src/snapshot/take.js';
import { diffManifests } from '../../../src/snapshot/diff.js';
import { notRootScenarios, type ChmodMidOutcome, type SameStatOutcome } from './fixtures/not-root-restore.js';
import { readonlyRollback, type ReadonlyOutcome } from './fixtures/readonly-rollback.js';

let dir: string;
let ws: string;
let outside: string;
let store: ObjectStore;
const all = (): boolean => true;
/** The store, with `act` run once right after the restore's first file is written (a concurrent writer). */
function afterFirstWrite(act: () => void): { store: ObjectStore; acted: () => boolean } {
  let acted = false;
  const racing = Object.create(store) as ObjectStore;
  racing.copyToSync = (hash: string, fd: number): number => {
    const n = store.copyToSync(hash, fd);
    if (!acted) {
      acted = true;
      act();
    }
    return n;
  };
  return { store: racing, acted: () => acted };
}
const snap = async (): Promise<Manifest> => (await takeSnapshot({ workspace: ws, store, limits: DEFAULT_LIMITS })).manifest;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-restore-'));
  ws = join(dir, 'ws');
  outside = join(dir, 'outside');
  await mkdir(join(ws, 'src'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'a.txt'), 'OUTSIDE');
  await writeFile(join(ws, 'src', 'a.txt'), 'original a\n');
  await writeFile(join(ws, 'b.sh'), '#!/bin/sh\n');
  await chmod(join(ws, 'b.sh'), 0o755);
  await symlink('src/a.txt', join(ws, 'alias'));
  store = new ObjectStore(join(dir, 'store'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('restore', () => {
  it('puts back contents, modes, links; removes what was added', async () => {
    const before = await snap();
    await writeFile(join(ws, 'src', 'a.txt'), 'changed');
    await chmod(join(ws, 'b.sh'), 0o644);
    await rm(join(ws, 'alias'));
    await symlink('/etc/passwd', join(ws, 'alias'));
    await mkdir(join(ws, 'new', 'deep'), { recursive: true });
    await writeFile(join(ws, 'new', 'deep', 'x'), 'x');
    const now = await snap();
    const report = await applyRestore(ws, store, planRestore(before, now, all));
    expect(report.skipped).toEqual([]);
    expect(diffManifests(before, await snap())).toEqual([]);
    expect(await readFile(join(ws, 'src', 'a.txt'), 'utf8')).toBe('original a\n');
    expect((await stat(join(ws, 'b.sh'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(ws, 'alias'))).toBe('src/a.txt');
    await expect(lstat(join(ws, 'new'))).rejects.toThrow();
  });

  it('hostile-rollback-symlinked-parent: a folder swapped for a link out of the workspace is refused, nothing written outside', async () => {
    const before = await snap();
    await rm(join(ws, 'src'), { recursive: true });
    await symlink(outside, join(ws, 'src'));
    // The plan comes from a snapshot taken before the swap (the swap happens while the rollback runs).
    const actions = planRestore(before, { ...before, entries: before.entries.filter((e) => e.path !== 'src/a.txt') }, all);
    await expect(applyRestore(ws, store, actions)).rejects.toThrow(/symbolic link or not a folder, and moat never writes through one/);
    expect(await readFile(join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE');
    expect(await readdir(outside)).toEqual(['a.txt']);
  });

  it('hostile-rollback-swap-mid-restore: a folder swapped for a link between two of its files: the second lands in the folder the restore opened (moved, still in the workspace), never outside', async () => {
    await writeFile(join(ws, 'src', 'b.txt'), 'original b\n');
    const before = await snap();
    await rm(join(ws, 'src'), { recursive: true });
    await mkdir(join(ws, 'src'));
    // A concurrent writer acts while the first file is written: src is moved aside and a link to a host
    // folder takes its name (the open folder the restore holds is the moved one, still in the workspace).
    const racing = afterFirstWrite(() => {
      renameSync(join(ws, 'src'), join(ws, 'src-moved'));
      symlinkSync(outside, join(ws, 'src'));
    });
    const actions = planRestore(before, await snap(), (p) => p.startsWith('src/'));
    expect(actions.map(pathOf)).toEqual(['src/a.txt', 'src/b.txt']);
    await applyRestore(ws, racing.store, actions);
    expect(racing.acted()).toBe(true);
    expect(await readdir(outside)).toEqual(['a.txt']);
    expect(await readFile(join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE');
    expect((await readdir(join(ws, 'src-moved'))).sort()).toEqual(['a.txt', 'b.txt']);
  });

  it('rollback-folder-remade-mid-restore: a folder removed and made again between two of its files: the rest is written into the new one', async () => {
    await writeFile(join(ws, 'src', 'b.txt'), 'original b\n');
    const before = await snap();
    await rm(join(ws, 'src'), { recursive: true });
    await mkdir(join(ws, 'src'));
    const racing = afterFirstWrite(() => {
      rmSync(join(ws, 'src'), { recursive: true });
      mkdirSync(join(ws, 'src'));
    });
    await applyRestore(
      ws,
      racing.store,
      planRestore(before, await snap(), (p) => p.startsWith('src/')),
    );
    expect(racing.acted()).toBe(true);
    // a.txt went with the folder the other process removed; b.txt is in the one it made.
    expect(await readdir(join(ws, 'src'))).toEqual(['b.txt']);
    expect(await readFile(join(ws, 'src', 'b.txt'), 'utf8')).toBe('original b\n');
  });

  it('rollback-paths-folders-on-the-way: the folders above the paths given are made with their recorded modes when missing, left alone when there', async () => {
    await mkdir(join(ws, 'lib', 'deep'), { recursive: true });
    await writeFile(join(ws, 'lib', 'deep', 'x.txt'), 'x\n');
    await chmod(join(ws, 'lib', 'deep'), 0o750);
    await chmod(join(ws, 'lib'), 0o710);
    const before = await snap();
    await rm(join(ws, 'lib'), { recursive: true });
    await chmod(join(ws, 'src'), 0o700);
    await rm(join(ws, 'src', 'a.txt'));
    const selected = (p: string): boolean => p.startsWith('lib/deep/') || p === 'src/a.txt';
    const actions = planRestore(before, await snap(), selected);
    expect(actions.map((a) => `${a.op} ${pathOf(a)}`)).toEqual(['mkdir lib', 'mkdir lib/deep', 'write lib/deep/x.txt', 'write src/a.txt']);
    await applyRestore(ws, store, actions);
    expect((await stat(join(ws, 'lib'))).mode & 0o7777).toBe(0o710);
    expect((await stat(join(ws, 'lib', 'deep'))).mode & 0o7777).toBe(0o750);
    expect(await readFile(join(ws, 'lib', 'deep', 'x.txt'), 'utf8')).toBe('x\n');
    expect((await stat(join(ws, 'src'))).mode & 0o7777).toBe(0o700); // there: not the paths given, not changed
    // Into a new folder (--to): the same folders, with the same modes.
    const to = join(dir, 'to');
    await mkdir(to);
    await applyRestore(
      to,
      store,
      planRestore(before, undefined, (p) => p.startsWith('lib/deep/')),
    );
    expect((await stat(join(to, 'lib'))).mode & 0o7777).toBe(0o710);
    expect((await stat(join(to, 'lib', 'deep'))).mode & 0o7777).toBe(0o750);
  });

  it('rollback-paths-folder-there-after-all: a folder on the way made between the plan and the restore keeps its own mode', async () => {
    await mkdir(join(ws, 'lib'));
    await writeFile(join(ws, 'lib', 'x.txt'), 'x\n');
    await chmod(join(ws, 'lib'), 0o750);
    const before = await snap();
    await rm(join(ws, 'lib'), { recursive: true });
    const actions = planRestore(before, await snap(), (p) => p === 'lib/x.txt');
    expect(actions).toContainEqual(expect.objectContaining({ op: 'mkdir', onTheWay: true }));
    await mkdir(join(ws, 'lib'), { mode: 0o700 }); // made meanwhile (or hidden from the snapshot): there after all
    await chmod(join(ws, 'lib'), 0o700);
    const report = await applyRestore(ws, store, actions);
    expect((await stat(join(ws, 'lib'))).mode & 0o7777).toBe(0o700);
    expect(await readFile(join(ws, 'lib', 'x.txt'), 'utf8')).toBe('x\n');
    expect(report.written).toBe(1);
  });

  it('hostile-rollback-paths-link-on-the-way: a folder on the way swapped for a link to a host folder is neither made nor followed; nothing lands outside', async () => {
    await mkdir(join(ws, 'lib'));
    await writeFile(join(ws, 'lib', 'a.txt'), 'lib a\n');
    const before = await snap();
    // The run replaces lib/ with a link to a host folder (outside holds an a.txt of its own).
    await rm(join(ws, 'lib'), { recursive: true });
    await symlink(outside, join(ws, 'lib'));
    const actions = planRestore(before, await snap(), (p) => p === 'lib/a.txt');
    expect(actions.map((a) => `${a.op} ${pathOf(a)}`)).toEqual(['write lib/a.txt']); // lib is there (a link): not made
    const err = await applyRestore(ws, store, actions).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^Refusing to restore lib\/a\.txt: .*\/lib is a symbolic link or not a folder, and moat never writes through one\.$/);
    expect(await readdir(outside)).toEqual(['a.txt']);
    expect(await readFile(join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE');
  });

  it('rollback-error-names-the-path: a folder in the way of a file stops the restore with the path in the tree, not a descriptor path', async () => {
    const before = await snap();
    await rm(join(ws, 'b.sh'));
    await mkdir(join(ws, 'b.sh'));
    await writeFile(join(ws, 'b.sh', 'kept'), 'a file no snapshot recorded');
    const err = await applyRestore(ws, store, planRestore(before, { ...before, entries: before.entries.filter((e) => e.path !== 'b.sh') }, all)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe('The restore stopped at b.sh: a folder is in the way (EISDIR).');
    expect(err?.message).not.toMatch(/proc/);
  });

  it('rollback-many-folders: folders whose names sort apart (a/b, a-b, a.b, a/b/c) are each put back whole', async () => {
    const names = ['a/b/c/f1', 'a/b/f2', 'a-b/f3', 'a.b/f4', 'a/b.c/f5', 'a/b/c/d/f6', 'a/f7', 'a b/f8', 'A/f9', 'é/f10'];
    for (const n of names) {
      await mkdir(dirname(join(ws, n)), { recursive: true });
      await writeFile(join(ws, n), n);
    }
    const before = await snap();
    for (const top of ['a', 'a-b', 'a.b', 'a b', 'A', 'é']) await rm(join(ws, top), { recursive: true });
    await writeFile(join(ws, 'a'), 'a file where a folder was');
    const report = await applyRestore(ws, store, planRestore(before, await snap(), all));
    expect(report.skipped).toEqual([]);
    expect(diffManifests(before, await snap())).toEqual([]);
    for (const n of names) expect(await readFile(join(ws, n), 'utf8')).toBe(n);
  });

  it('hostile-rollback-link-in-place: a file replaced by a link to a host file is replaced itself; the host file is untouched', async () => {
    const before = await snap();
    await rm(join(ws, 'src', 'a.txt'));
    await symlink(join(outside, 'a.txt'), join(ws, 'src', 'a.txt'));
    await applyRestore(ws, store, planRestore(before, await snap(), all));
    expect(await readFile(join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE');
    expect((await lstat(join(ws, 'src', 'a.txt'))).isFile()).toBe(true);
    expect(await readFile(join(ws, 'src', 'a.txt'), 'utf8')).toBe('original a\n');
  });

  it('hostile-rollback-escaping-name: a manifest naming ../ or an absolute path is refused before anything is written', async () => {
    const before = await snap();
    const file = before.entries.find((e) => e.path === 'src/a.txt');
    for (const path of ['../outside/a.txt', 'src/../../outside/a.txt', '/etc/x', 'src//a']) {
      const evil: Manifest = { ...before, entries: [{ ...file!, path }] };
      await expect(applyRestore(ws, store, planRestore(evil, undefined, all))).rejects.toThrow(/Refusing to restore/);
    }
    expect(await readFile(join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE');
  });

  it('hostile-rollback-setid: set-id bits in a snapshot are not restored', async () => {
    const before = await snap();
    const evil: Manifest = { ...before, entries: before.entries.map((e) => (e.path === 'b.sh' ? { ...e, mode: 0o4755 } : e)) };
    await chmod(join(ws, 'b.sh'), 0o644);
    await applyRestore(ws, store, planRestore(evil, await snap(), all));
    expect((await stat(join(ws, 'b.sh'))).mode & 0o7777).toBe(0o755);
  });

  it('--to DIR writes the tree there and nowhere else; a damaged object is refused', async () => {
    const before = await snap();
    const to = join(dir, 'to');
    await mkdir(to);
    await applyRestore(
      to,
      store,
      planRestore(before, undefined, (p) => p === 'src' || p.startsWith('src/')),
    );
    expect(await readdir(to)).toEqual(['src']);
    expect(await readFile(join(to, 'src', 'a.txt'), 'utf8')).toBe('original a\n');
    const hash = before.entries.find((e) => e.path === 'b.sh')?.hash as string;
    await mkdir(dirname(store.path(hash)), { recursive: true }); // a loose copy (read before a packed one)
    await writeFile(store.path(hash), 'tampered');
    const to2 = join(dir, 'to2');
    await mkdir(to2);
    await expect(
      applyRestore(
        to2,
        store,
        planRestore(before, undefined, (p) => p === 'b.sh'),
      ),
    ).rejects.toThrow(/damaged/);
  });
});

describe('restore: folder modes (as a user that is not root)', () => {
  it('rollback-readonly-folders: folders the run made read-only or unreadable, and read-only folders in the snapshot, do not stop a rollback; each folder ends with its mode', async () => {
    const d = await mkdtemp(join(tmpdir(), 'moat-ro-'));
    try {
      let outcome: ReadonlyOutcome;
      if (process.getuid?.() === 0) {
        // Root ignores folder modes: the scenario runs as `nobody`, in a folder of its own.
        await chown(d, NOBODY, NOBODY);
        const fixture = fileURLToPath(new URL('./fixtures/readonly-rollback.ts', import.meta.url));
        const out = await new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            ['--import', 'tsx', fixture, '--run', d],
            { uid: NOBODY, gid: NOBODY, cwd: process.cwd(), env: { PATH: process.env.PATH ?? '' } },
            (err, stdout) => (err ? reject(err) : resolve(stdout)),
          );
        });
        outcome = JSON.parse(out) as ReadonlyOutcome;
      } else {
        outcome = await readonlyRollback(d);
      }
      expect(outcome).toEqual({
        skipped: [],
        contents: {
          'vendor/pkg/mod.go': 'package pkg // v1\n',
          'vendor/pkg/extra.go': '(ENOENT)',
          'src/main.go': 'package main // v1\n',
          'src/added.go': '(ENOENT)',
        },
        // vendor/pkg has the snapshot's mode; the workspace folder (whose own mode no snapshot records) and
        // src/ (made 0000 after the plan was made) are as the run left them: only opened up while written.
        modes: { '.': '555', src: '0', 'vendor/pkg': '555' },
      });
    } finally {
      await chmodTree(d);
      await rm(d, { recursive: true, force: true });
    }
  });
});

describe('restore: what a run does with modes (as a user that is not root)', () => {
  it('hostile-rollback-chmod-mid-restore: a run that makes an open folder read-only or unreadable between two of its paths neither stops the rollback nor has a removal dropped in silence', async () => {
    const outcome = (await asNotRoot('chmod-mid-restore')) as ChmodMidOutcome;
    expect(outcome).toEqual({
      // Opened up again as it is now (not as it was when the restore opened it), its mode put back after.
      'read-only-between-two-writes': { report: { written: 2, deleted: 0, modes: 0, skipped: [] }, left: ['a', 'b'], mode: '500' },
      'unreadable-between-two-deletes': { report: { written: 0, deleted: 2, modes: 0, skipped: [] }, left: [], mode: '0' },
      // Made unreadable after the restore opened it up: d/x stays, and the report says so.
      'unreadable-before-a-delete-looks': {
        report: { written: 0, deleted: 1, modes: 0, skipped: [{ path: 'd/x', why: 'it could not be looked at to be removed (EACCES)' }] },
        left: ['x'],
        mode: '0',
      },
    });
  });

  it('hostile-rollback-unreadable-same-stat: a file the run rewrote with the same size and mtime and made unreadable is written back, not only given its mode', async () => {
    // The rollback's own snapshot cannot read it: its size and mtime vouch for nothing.
    expect((await asNotRoot('unreadable-same-stat')) as SameStatOutcome).toEqual({
      plan: ['write'],
      report: { written: 1, deleted: 0, modes: 0, skipped: [] },
      content: 'echo original\n',
      mode: '644',
    });
  });
});

/** A scenario of fixtures/not-root-restore.ts, as `nobody` (in a child process) when the tests run as root. */
async function asNotRoot(name: keyof typeof notRootScenarios): Promise<unknown> {
  const d = await mkdtemp(join(tmpdir(), 'moat-not-root-'));
  try {
    if (process.getuid?.() !== 0) return await notRootScenarios[name](d);
    await chown(d, NOBODY, NOBODY);
    const fixture = fileURLToPath(new URL('./fixtures/not-root-restore.ts', import.meta.url));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', fixture, '--run', name, d],
        { uid: NOBODY, gid: NOBODY, cwd: process.cwd(), env: { PATH: process.env.PATH ?? '' } },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
    return JSON.parse(out) as unknown;
  } finally {
    await chmodTree(d);
    await rm(d, { recursive: true, force: true });
  }
}

const NOBODY = 65534;

/** Let the clean-up (as root, or as the user) remove what the scenario left read-only. */
async function chmodTree(p: string): Promise<void> {
  const st = await lstat(p).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(p, 0o700).catch(() => undefined);
  for (const name of await readdir(p).catch(() => [] as string[])) await chmodTree(join(p, name));
}
