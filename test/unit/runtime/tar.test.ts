import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarArchive, tarContext, tarHeader, type TarEntry } from '../../../src/runtime/docker/tar.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const LONG = `${'folder-'.repeat(12)}end/${'n'.repeat(90)}.txt`; // 183 bytes: needs ustar's prefix field
const ENTRIES: TarEntry[] = [
  { name: 'Dockerfile', data: Buffer.from('FROM debian:bookworm-slim\nRUN echo hi\n'), mode: 0o644, mtime: 1_700_000_000 },
  { name: 'moat-init', data: Buffer.alloc(513, 0x61), mode: 0o755, mtime: 1_700_000_001 },
  { name: 'empty', data: Buffer.alloc(0), mode: 0o600, mtime: 0 },
  { name: 'exactly-one-block', data: Buffer.alloc(512, 0x62), mode: 0o640, mtime: 1 },
  { name: 'a/b/nested.sh', data: Buffer.from('#!/bin/sh\necho nested\n'), mode: 0o700, mtime: 2 },
  { name: 'ünïcode-名前.txt', data: Buffer.from('utf-8 name\n'), mode: 0o644, mtime: 3 },
  { name: LONG, data: Buffer.from('long\n'), mode: 0o644, mtime: 4 },
];

async function writeTar(name: string, data: Buffer): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, data);
  return f;
}

/** Parse an archive back by hand: names, sizes, modes, mtimes, content; checks each header checksum. */
function parse(buf: Buffer): Array<{ name: string; size: number; mode: number; mtime: number; data: Buffer }> {
  const out = [];
  let off = 0;
  for (;;) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a: number, n: number): string => h.toString('utf8', a, a + n).replace(/\0.*$/s, '');
    const num = (a: number, n: number): number => parseInt(field(a, n).trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    expect(num(148, 8)).toBe(sum);
    expect(h.toString('ascii', 257, 265)).toBe('ustar\x0000');
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = num(124, 12);
    out.push({ name, size, mode: num(100, 8), mtime: num(136, 12), data: buf.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  expect(buf.length).toBe(off + 1024); // two zero blocks end it
  expect(buf.subarray(off).every((b) => b === 0)).toBe(true);
  return out;
}

describe('the build-context tar writer', () => {
  it('writes an archive GNU tar lists with the right names, sizes and modes', async () => {
    const f = await writeTar('list.tar', tarArchive(ENTRIES));
    const listing = execFileSync('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '-f', f], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' },
    });
    const rows = listing
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    expect(rows.map((r) => r.slice(5).join(' '))).toEqual(ENTRIES.map((e) => e.name));
    expect(rows.map((r) => Number(r[2]))).toEqual(ENTRIES.map((e) => e.data.length));
    expect(rows.map((r) => r[0])).toEqual(['-rw-r--r--', '-rwxr-xr-x', '-rw-------', '-rw-r-----', '-rwx------', '-rw-r--r--', '-rw-r--r--']);
    expect(rows.every((r) => r[1] === '0/0')).toBe(true);
    expect(`${rows[0]?.[3]} ${rows[0]?.[4]}`).toBe('2023-11-14 22:13:20');
  });

  it('round-trips content and modes through GNU tar extraction', async () => {
    const f = await writeTar('x.tar', tarArchive(ENTRIES));
    const out = join(dir, 'extracted');
    await mkdir(out);
    execFileSync('tar', ['-x', '-p', '-f', f, '-C', out]);
    for (const e of ENTRIES) {
      expect(await readFile(join(out, e.name))).toEqual(e.data);
      expect((await stat(join(out, e.name))).mode & 0o7777).toBe(e.mode);
    }
  });

  it('parses back by hand: checksums, ustar magic, prefix split, padding and the end blocks', () => {
    const got = parse(tarArchive(ENTRIES));
    expect(got.map((g) => g.name)).toEqual(ENTRIES.map((e) => e.name));
    expect(got.map((g) => g.mode)).toEqual(ENTRIES.map((e) => e.mode));
    expect(got.map((g) => g.mtime)).toEqual(ENTRIES.map((e) => e.mtime));
    got.forEach((g, i) => expect(g.data).toEqual(ENTRIES[i]?.data));
    expect(tarArchive([]).length).toBe(1024);
  });

  it('refuses names a tar header cannot carry or that leave the context', () => {
    const h = (name: string) => () => tarHeader({ name, size: 0, mode: 0o644, mtime: 0 });
    expect(h('../escape')).toThrow(/"\.\."/);
    expect(h('a/../../escape')).toThrow(/"\.\."/);
    expect(h('/etc/passwd')).toThrow(/relative/);
    expect(h('a//b')).toThrow(/empty/);
    expect(h('')).toThrow(/relative/);
    expect(h('n'.repeat(101))).toThrow(/too long/);
    expect(h(`${'p'.repeat(156)}/x`)).toThrow(/too long/);
    expect(h('nul\0byte')).toThrow(/relative/);
    expect(h('n'.repeat(100))).not.toThrow();
    const dup: TarEntry = { name: 'Dockerfile', data: Buffer.alloc(1), mode: 0o644, mtime: 0 };
    expect(() => tarArchive([dup, dup])).toThrow(/named twice/);
  });
});

describe('the build context read from a folder', () => {
  it('takes the named regular files with their modes and mtimes, nothing else', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n', { mode: 0o644 });
    await writeFile(join(ctx, 'sub', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(ctx, 'not-named'), 'left out\n');
    await utimes(join(ctx, 'Dockerfile'), 1_600_000_000, 1_600_000_000);
    const got = parse(await tarContext(ctx, ['Dockerfile', 'sub/run.sh']));
    expect(got.map((g) => [g.name, g.mode, g.data.toString()])).toEqual([
      ['Dockerfile', 0o644, 'FROM scratch\n'],
      ['sub/run.sh', 0o755, '#!/bin/sh\n'],
    ]);
    expect(got[0]?.mtime).toBe(1_600_000_000);
  });

  it('refuses a symlink (even to a file), a folder, a FIFO and a missing file', async () => {
    const ctx = join(dir, 'ctx-bad');
    await mkdir(join(ctx, 'folder'), { recursive: true });
    await writeFile(join(dir, 'outside-secret'), 'secret\n');
    await symlink(join(dir, 'outside-secret'), join(ctx, 'link'));
    execFileSync('mkfifo', [join(ctx, 'fifo')]);
    await expect(tarContext(ctx, ['link'])).rejects.toThrow(/symbolic link/);
    await expect(tarContext(ctx, ['folder'])).rejects.toThrow(/not a regular file/);
    await expect(tarContext(ctx, ['fifo'])).rejects.toThrow(/not a regular file/);
    await expect(tarContext(ctx, ['missing'])).rejects.toThrow(/ENOENT/);
    await expect(tarContext(ctx, ['../outside-secret'])).rejects.toThrow(/"\.\."/);
  });
});
