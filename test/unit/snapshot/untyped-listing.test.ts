/**
 * A file system whose listings give no file type (ext2 without `filetype`, XFS with `ftype=0`): Node's
 * batched listing (opendir) looks at each name with lstat as it reads, so a name a run removes at that
 * moment fails the listing. The walk lists such a folder again in one call. The race is made here by
 * failing Node's batched listing as it does then (an lstat ENOENT), once.
 */
import type * as NodeFs from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { ObjectStore } from '../../../src/snapshot/objects.js';
import { takeSnapshot } from '../../../src/snapshot/take.js';

const fail = { batched: 0 };
const lost = (): Error =>
  Object.assign(new Error("ENOENT: no such file or directory, lstat '/proc/self/fd/9/gone'"), { code: 'ENOENT', errno: -2, syscall: 'lstat' });

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof NodeFs>();
  const opendirSync = ((path: string, o?: object) => {
    const d = fs.opendirSync(path, o);
    if (fail.batched <= 0) return d;
    fail.batched--;
    // The first batch is read, then Node's lstat of one of its names fails.
    return {
      readSync: () => {
        d.readSync();
        throw lost();
      },
      closeSync: () => d.closeSync(),
    };
  }) as typeof fs.opendirSync;
  return { ...fs, default: { ...fs, opendirSync }, opendirSync };
});

let dir: string;
let ws: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-untyped-'));
  ws = join(dir, 'ws');
  await mkdir(join(ws, 'src'), { recursive: true });
  fail.batched = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listings without file types', () => {
  it('snapshot-untyped-listing-race: a folder listed in batches (here for a name that is not UTF-8) whose listing Node fails for a name removed meanwhile is listed again; that name is said to be left out once', async () => {
    await writeFile(join(ws, 'src', 'a.ts'), 'a\n');
    await writeFile(join(ws, 'src', 'b.ts'), 'b\n');
    await writeFile(Buffer.concat([Buffer.from(join(ws, 'src', 'bad-')), Buffer.from([0xff])]), 'not utf-8 name');
    fail.batched = 1;
    const r = await takeSnapshot({ workspace: ws, store: new ObjectStore(join(dir, 'store')), limits: DEFAULT_LIMITS, parallel: false });
    expect(fail.batched).toBe(0);
    expect(r.manifest.entries.filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['src/a.ts', 'src/b.ts']);
    expect(r.manifest.skipped).toEqual([{ path: 'src/bad-\uFFFD', why: 'name is not UTF-8' }]);
  });
});
