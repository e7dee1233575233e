/**
 * bin/moat runs the bundled CLI through V8's code cache (src/code-cache.ts; the daemon's entry too). The cache is code this
 * user's commands run: each test runs a real script in a child Node (the cache is written as it exits) and
 * checks what ran and what the cache folder holds, including the attacks on it (a folder others can write,
 * a link in place of the folder or the cache, a damaged cache, a rebuilt bundle of the same length).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheName, privateCacheDir } from '../../src/code-cache.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MODULE = join(ROOT, 'src/code-cache.ts');
const dir = mkdtempSync(join(tmpdir(), 'moat-code-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A CommonJS script that prints `word`, its file name and what `require` resolves, with its content hash. */
function script(word: string, name = 'cli'): { file: string; id: string } {
  const folder = join(dir, `bundle-${n++}`);
  mkdirSync(folder);
  const file = join(folder, `${name}.cjs`);
  const text = `"use strict";\nconst { basename } = require('node:path');\nfunction twice(s) { return s + s; }\nconsole.log(${JSON.stringify(word)}, twice('x'), basename(__filename).replace(/^\\w+\\./, 'cli.'), __dirname === ${JSON.stringify(folder)}, typeof module.exports);\n`;
  writeFileSync(file, text);
  return { file, id: createHash('sha256').update(text).digest('hex') };
}

/** Runs `file` through runCachedScript in a child Node (one start): what it printed and the outcome. */
function once(file: string, id: string, command: string | undefined, cacheDir: string | undefined): { out: string; outcome: string } {
  const code = `import { runCachedScript } from ${JSON.stringify(MODULE)};
const outcome = runCachedScript(${JSON.stringify(file)}, ${JSON.stringify(id)}, ${command === undefined ? 'undefined' : JSON.stringify(command)}, ${cacheDir === undefined ? 'undefined' : JSON.stringify(cacheDir)});
console.log('outcome', outcome);`;
  const lines = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n');
  const outcome = (lines.pop() ?? '').replace(/^outcome /, '');
  return { out: lines.join('\n'), outcome };
}

const cacheFolder = (name: string): string => {
  const d = join(dir, name);
  mkdirSync(d, { mode: 0o700 });
  return d;
};

describe('the bundle runs through V8 code cache', () => {
  it('runs the script as a module (its require, __filename, __dirname), writes the cache on the first start and uses it on the next', () => {
    const { file, id } = script('hello');
    const cache = cacheFolder('first');
    const first = once(file, id, 'run', cache);
    expect(first).toEqual({ out: 'hello xx cli.cjs true object', outcome: 'written' });
    const [name] = readdirSync(cache);
    expect(name).toBe(cacheName('cli', id, 'run'));
    expect(lstatSync(join(cache, name ?? '')).mode & 0o777).toBe(0o600);
    expect(once(file, id, 'run', cache)).toEqual({ out: 'hello xx cli.cjs true object', outcome: 'used' });
  });

  it('keeps a cache per kind of command, and none without a folder', () => {
    const { file, id } = script('kinds');
    const cache = cacheFolder('kinds');
    for (const c of ['run', 'claude', 'list', undefined]) once(file, id, c, cache);
    expect(readdirSync(cache).sort()).toEqual([cacheName('cli', id, 'claude'), cacheName('cli', id, 'other'), cacheName('cli', id, 'run')].sort());
    expect(cacheName('cli', id, 'status')).toBe(cacheName('cli', id, 'list')); // the rest share one
    expect(once(file, id, 'run', undefined)).toEqual({ out: 'kinds xx cli.cjs true object', outcome: 'off' });
    expect(cacheName('cli', 'not-a-hash', 'run')).toBeUndefined();
  });

  it("attack: a rebuilt bundle of the same length never runs the old code; another build's caches go once a day old", () => {
    const cache = cacheFolder('rebuilt');
    const a = script('aaaa');
    const b = script('bbbb');
    const c = script('cccc');
    expect(readFileSync(a.file).length).toBe(readFileSync(b.file).length); // V8 alone would take it
    once(a.file, a.id, 'run', cache);
    expect(once(b.file, b.id, 'run', cache)).toEqual({ out: 'bbbb xx cli.cjs true object', outcome: 'written' });
    // Two installs used in turn keep their caches...
    expect(readdirSync(cache).sort()).toEqual([cacheName('cli', a.id, 'run'), cacheName('cli', b.id, 'run')].sort());
    expect(once(a.file, a.id, 'run', cache)).toEqual({ out: 'aaaa xx cli.cjs true object', outcome: 'used' });
    // ...and one not used for a day goes when another build writes.
    const old = new Date(Date.now() - 2 * 24 * 3600_000);
    utimesSync(join(cache, cacheName('cli', a.id, 'run') ?? ''), old, old);
    once(c.file, c.id, 'run', cache);
    expect(readdirSync(cache).sort()).toEqual([cacheName('cli', b.id, 'run'), cacheName('cli', c.id, 'run')].sort());
  });

  it("the CLI's and the daemon's caches are apart: one never removes the other's, however old", () => {
    const cache = cacheFolder('apart');
    const d = script('daemon', 'daemon');
    const c = script('cli');
    expect(once(d.file, d.id, 'daemon', cache)).toEqual({ out: 'daemon xx cli.cjs true object', outcome: 'written' });
    const old = new Date(Date.now() - 2 * 24 * 3600_000);
    utimesSync(join(cache, cacheName('daemon', d.id, 'daemon') ?? ''), old, old);
    once(c.file, c.id, 'run', cache);
    expect(readdirSync(cache).sort()).toEqual([cacheName('cli', c.id, 'run'), cacheName('daemon', d.id, 'daemon')].sort());
    expect(once(d.file, d.id, 'daemon', cache).outcome).toBe('used');
    expect(cacheName('Daemon', d.id, 'daemon')).toBeUndefined();
  });

  it('a cache another start wrote meanwhile is kept, not replaced by what this one compiled', () => {
    const cache = cacheFolder('meanwhile');
    const folder = join(dir, 'meanwhile-bundle');
    mkdirSync(folder);
    const file = join(folder, 'cli.cjs');
    const id = 'c'.repeat(64);
    const path = join(cache, cacheName('cli', id, 'run') ?? '');
    // The script itself plays the other start: the cache appears while it runs.
    writeFileSync(file, `"use strict";\nrequire('node:fs').writeFileSync(${JSON.stringify(path)}, 'the other start', { mode: 0o600 });\nconsole.log('ran');\n`);
    expect(once(file, id, 'run', cache)).toEqual({ out: 'ran', outcome: 'written' });
    expect(readFileSync(path, 'utf8')).toBe('the other start');
  });

  it('a bundle without its id (a build stopped half-way) runs compiled, without a cache', () => {
    const { file } = script('no-id');
    const cache = cacheFolder('no-id');
    expect(once(file, '', 'run', cache)).toEqual({ out: 'no-id xx cli.cjs true object', outcome: 'off' });
    expect(readdirSync(cache)).toEqual([]);
  });

  it('attack: a damaged or truncated cache is refused, the script runs compiled, and the cache is written again', () => {
    const { file, id } = script('damaged');
    const cache = cacheFolder('damaged');
    once(file, id, 'run', cache);
    const path = join(cache, cacheName('cli', id, 'run') ?? '');
    const good = readFileSync(path);
    for (const bad of [Buffer.alloc(good.length, 0x41), good.subarray(0, 16), Buffer.alloc(0)]) {
      writeFileSync(path, bad);
      expect(once(file, id, 'run', cache)).toEqual({ out: 'damaged xx cli.cjs true object', outcome: 'refused' });
      expect(once(file, id, 'run', cache).outcome).toBe('used');
    }
  });

  it('a dynamic import() behaves the same on a compiled start and on one from the cache (Node 20 loses its callback there)', () => {
    const folder = join(dir, `bundle-${n++}`);
    mkdirSync(folder);
    const file = join(folder, 'cli.cjs');
    const text = `"use strict";\nimport('node:path').then((m) => console.log('imported', typeof m.join), (e) => console.log('failed', e.code));\n`;
    writeFileSync(file, text);
    const id = createHash('sha256').update(text).digest('hex');
    const cache = cacheFolder('dynamic-import');
    const first = once(file, id, 'run', cache);
    const second = once(file, id, 'run', cache);
    // The script prints after runCachedScript returned: its line comes last, in place of the outcome.
    expect(second.outcome).toBe(first.outcome);
    expect(first.out).toBe('outcome written');
    expect(second.out).toBe('outcome used');
  });

  it('attack: a cache file someone else owns, or others can write, is not used (a folder above swapped after the check)', () => {
    const { file, id } = script('owned');
    const cache = cacheFolder('owned');
    once(file, id, 'run', cache);
    const path = join(cache, cacheName('cli', id, 'run') ?? '');
    chownSync(path, 4242, 4242); // the tests run as root (CI, scripts/setup.sh)
    expect(once(file, id, 'run', cache).outcome).toBe('written');
    expect(lstatSync(path).uid).toBe(process.getuid?.()); // replaced
    expect(once(file, id, 'run', cache).outcome).toBe('used');
    chmodSync(path, 0o622);
    expect(once(file, id, 'run', cache).outcome).toBe('written');
  });

  it('attack: a link in place of the cache is neither read nor written through', () => {
    const { file, id } = script('linked');
    const cache = cacheFolder('linked');
    const elsewhere = join(dir, 'elsewhere.v8');
    writeFileSync(elsewhere, 'not yours');
    symlinkSync(elsewhere, join(cache, cacheName('cli', id, 'run') ?? ''));
    expect(once(file, id, 'run', cache)).toEqual({ out: 'linked xx cli.cjs true object', outcome: 'written' });
    expect(readFileSync(elsewhere, 'utf8')).toBe('not yours');
    expect(lstatSync(join(cache, cacheName('cli', id, 'run') ?? '')).isFile()).toBe(true); // the link was replaced
  });
});

describe('the cache folder', () => {
  it('is made private under $XDG_CACHE_HOME/moat, else ~/.cache/moat', () => {
    const xdg = join(dir, 'xdg');
    const got = privateCacheDir('code-cache', { XDG_CACHE_HOME: xdg });
    expect(got).toBe(join(xdg, 'moat', 'code-cache'));
    expect(lstatSync(got ?? '').mode & 0o777).toBe(0o700);
    expect(privateCacheDir('code-cache', { XDG_CACHE_HOME: 'relative', HOME: join(dir, 'home') })).toBe(join(dir, 'home', '.cache', 'moat', 'code-cache'));
  });

  it("attack: a folder others can write, someone else's, or a link in its place is not used", () => {
    const open = join(dir, 'open');
    mkdirSync(join(open, 'moat', 'code-cache'), { recursive: true });
    chmodSync(join(open, 'moat', 'code-cache'), 0o777);
    expect(privateCacheDir('code-cache', { XDG_CACHE_HOME: open })).toBeUndefined();

    const theirs = join(dir, 'theirs');
    mkdirSync(join(theirs, 'moat', 'code-cache'), { recursive: true, mode: 0o700 });
    chmodSync(join(theirs, 'moat', 'code-cache'), 0o700);
    chownSync(join(theirs, 'moat', 'code-cache'), 4242, 4242); // the tests run as root (CI, scripts/setup.sh)
    expect(privateCacheDir('code-cache', { XDG_CACHE_HOME: theirs })).toBeUndefined();

    const linked = join(dir, 'linked-home');
    mkdirSync(join(linked, 'moat'), { recursive: true });
    mkdirSync(join(dir, 'target'), { mode: 0o700 });
    symlinkSync(join(dir, 'target'), join(linked, 'moat', 'code-cache'));
    expect(privateCacheDir('code-cache', { XDG_CACHE_HOME: linked })).toBeUndefined();
  });
});
