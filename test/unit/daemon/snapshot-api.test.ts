import type { IncomingMessage } from 'node:http';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSnapshotRequest, snapshotRequest } from '../../../src/daemon/snapshot-api.js';
import { MoatHome } from '../../../src/home/paths.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { readManifest } from '../../../src/snapshot/manifest.js';
import { ManifestCache, objectStore, snapshotWorkspace, type SnapshotSummary } from '../../../src/snapshot/service.js';

let dir: string;
let home: MoatHome;
const settings = { exclude: [], limits: DEFAULT_LIMITS };
const body = (text: string | Buffer): IncomingMessage => Readable.from([Buffer.from(text)]) as unknown as IncomingMessage;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-snapapi-'));
  home = new MoatHome(join(dir, 'home'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the daemon takes the pre-run snapshot (POST /snapshots)', () => {
  it('answers a summary of the snapshot it took, the same manifest the CLI would have made', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'a.txt'), 'hello\n');
    await symlink('/etc/passwd', join(ws, 'link'));
    const r = await snapshotRequest(body(JSON.stringify({ workspace: ws, settings })), home);
    expect(r.status).toBe(200);
    const s = r.body as SnapshotSummary;
    expect(s.files).toBe(1);
    const m = await readManifest(objectStore(home), s.hash);
    expect(m.entries.map((e) => [e.path, e.type, e.target])).toEqual([
      ['a.txt', 'file', undefined],
      ['link', 'link', '/etc/passwd'],
    ]);
  });

  it('attack: malformed, oversized or out-of-range requests are refused before any file is looked at', async () => {
    const ws = join(dir, 'ws');
    const bad = [
      'not json',
      'null',
      JSON.stringify({ workspace: 'relative/path', settings }),
      JSON.stringify({ workspace: `${ws}/../elsewhere`, settings }),
      JSON.stringify({ workspace: `${ws}\0x`, settings }),
      JSON.stringify({ workspace: ws, settings: { exclude: [], limits: { ...DEFAULT_LIMITS, maxFiles: 1e300 } } }),
      JSON.stringify({ workspace: ws, settings: { exclude: [], limits: { ...DEFAULT_LIMITS, maxDepth: -1 } } }),
      JSON.stringify({ workspace: ws, settings: { exclude: [{}], limits: DEFAULT_LIMITS } }),
      JSON.stringify({ workspace: ws, settings: { exclude: new Array(5000).fill('x'), limits: DEFAULT_LIMITS } }),
    ];
    for (const b of bad) expect(parseSnapshotRequest(b), b.slice(0, 80)).toBeUndefined();
    const huge = await snapshotRequest(body(Buffer.alloc(1 << 20, 0x20)), home);
    expect(huge.status).toBe(400);
  });

  it('attack: a workspace over the file limit is a refusal the CLI says, not a fallback that walks it again', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    for (let i = 0; i < 20; i++) await writeFile(join(ws, `f${i}`), '');
    const r = await snapshotRequest(body(JSON.stringify({ workspace: ws, settings: { exclude: [], limits: { ...DEFAULT_LIMITS, maxFiles: 5 } } })), home);
    expect(r.status).toBe(422);
    expect((r.body as { error: { code: string } }).error.code).toBe('E_REFUSED');
  });
});

/** A manifest of `n` files whose paths are `len` characters long (at least their number). */
const manifestOf = (n: number, len = 0) => ({
  version: 1 as const,
  workspace: '',
  createdAt: '',
  startedAt: 0,
  skipped: [],
  skippedCount: 0,
  entries: Array.from({ length: n }, (_, i) => ({ path: `f${i}`.padEnd(len, 'x'), type: 'file' as const, mode: 0o644, size: 0, mtime: 0 })),
});

describe('ManifestCache', () => {
  it('serves the last manifest from memory only while the pointer on disk still names it', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'a'), 'one');
    await new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window
    const cache = new ManifestCache();
    const first = await snapshotWorkspace(home, ws, settings, { cache });
    expect(cache.get(ws, first.hash)?.manifest.entries.length).toBe(1);
    // Another process (the CLI's `moat snapshot`) takes one of a changed workspace: the memory is stale.
    await writeFile(join(ws, 'b'), 'two');
    await new Promise((r) => setTimeout(r, 150));
    const other = await snapshotWorkspace(home, ws, settings);
    expect(cache.get(ws, other.hash)).toBeUndefined();
    const again = await snapshotWorkspace(home, ws, settings, { cache });
    expect(again.hash).toBe(other.hash); // from the pointer's manifest, read from the store
    expect(again.read).toBe(0);
    expect(cache.get(ws, other.hash)?.manifest.entries.length).toBe(2);
  });

  it('forgets the least recently used workspaces past its entry budget', async () => {
    const cache = new ManifestCache(3);
    cache.set('/a', 'h1', manifestOf(2));
    cache.set('/b', 'h2', manifestOf(1));
    cache.set('/c', 'h3', manifestOf(1));
    expect(cache.get('/a', 'h1')).toBeUndefined();
    expect(cache.get('/b', 'h2')).toBeDefined();
    expect(cache.get('/c', 'h3')).toBeDefined();
  });

  it('attack: a manifest of long paths is not kept, and path characters count toward the budget', () => {
    const cache = new ManifestCache(1000, 5000);
    cache.set('/huge', 'h0', manifestOf(2, 4000)); // 8000 characters: over the budget alone
    expect(cache.get('/huge', 'h0')).toBeUndefined();
    cache.set('/a', 'h1', manifestOf(1, 2000));
    cache.set('/b', 'h2', manifestOf(1, 2000)); // 4000 each (the path, and the name in the folder index): the older goes
    expect(cache.get('/a', 'h1')).toBeUndefined();
    expect(cache.get('/b', 'h2')).toBeDefined();
  });

  it('attack: the per-folder name index counts too: paths that fit alone, with their names over the budget, are not kept', () => {
    const cache = new ManifestCache(1000, 5000);
    cache.set('/w', 'h1', manifestOf(1, 3000)); // 3000 path characters, 6000 with the name index
    expect(cache.get('/w', 'h1')).toBeUndefined();
    cache.set('/d', 'h2', {
      ...manifestOf(0),
      entries: [{ path: `${'d'.repeat(2000)}/${'n'.repeat(1000)}`, type: 'file' as const, mode: 0o644, size: 0, mtime: 0 }],
    });
    expect(cache.get('/d', 'h2')).toBeDefined(); // 3001 + 1000
  });
});

describe('walks the daemon takes at once', () => {
  it('two requests for one workspace at once: the second waits for the first and starts from its manifest', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    for (let i = 0; i < 50; i++) await writeFile(join(ws, `f${i}`), `content ${i}`);
    await new Promise((r) => setTimeout(r, 150)); // past the racy-timestamp window
    const ask = () => snapshotRequest(body(JSON.stringify({ workspace: ws, settings })), home);
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const [sa, sb] = [a.body as SnapshotSummary, b.body as SnapshotSummary];
    expect(sb.hash).toBe(sa.hash);
    expect([sa.read, sb.read].sort()).toEqual([0, 50]); // one walk read the files, the other none
  });
});
