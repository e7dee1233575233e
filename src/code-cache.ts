/**
 * Runs a bundled script (the CLI, the daemon: CommonJS scripts, scripts/bundle.mjs) with V8's code cache:
 * the code V8 compiled on an earlier start is read back instead of compiled again (start-up, BENCHMARKS.md).
 * Node 20 keeps no such cache for modules, so bin/moat and the daemon's entry (daemon/launch.ts) load their
 * bundle through here. Node built-ins only: it runs before the bundle.
 *
 * The cache is code this user's commands will run, so it lives only in a folder that this user owns and
 * nobody else can write, like Node's own compile cache (a shared temporary folder would let another local
 * user plant code). Its name carries the bundle's content hash and Node's version: V8 itself checks only
 * the source's length and its own version and flags, so a rebuilt bundle of the same length must not find
 * the old code. A cache V8 refuses (other flags, damaged) is ignored and written again.
 */
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isAscii } from 'node:buffer';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';
import { moatCacheRoot } from './cache-dir.js';

export type CacheOutcome = 'used' | 'written' | 'refused' | 'off';

/**
 * `$XDG_CACHE_HOME/moat/NAME` (else `~/.cache/moat/NAME`), created private; undefined when it is not a
 * folder this user owns with no access for others (a link, someone else's, group- or world-writable).
 */
export function privateCacheDir(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = join(moatCacheRoot(env), name);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cache file's name for the bundle `script` (`cli`, `daemon`) whose content hash is `id` (undefined: not
 * a hash). Each kind of command keeps its own (`run`, `claude`, `codex`, `daemon`, the rest): a cache holds what the
 * command that wrote it compiled, and a run's path is not `moat list`'s.
 */
export function cacheName(script: string, id: string, command: string | undefined): string | undefined {
  const kind = command === 'run' || command === 'claude' || command === 'codex' || command === 'daemon' ? command : 'other';
  return /^[a-z]+$/.test(script) && /^[0-9a-f]{64}$/.test(id) ? `${script}-${id.slice(0, 32)}-${kind}-${process.version}-${process.arch}.v8` : undefined;
}

/** The script's text: one byte per character when it is all ASCII (esbuild's output is), which V8 reads fastest. */
function readSource(file: string): string {
  const bytes = readFileSync(file);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

function readCache(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    // The file opened, not only the folder checked before: a folder above it that someone else can write
    // (XDG_CACHE_HOME in a shared place, root running with a user's HOME) could be swapped in between.
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether a cache file is there, as readCache would take it (this user's, not writable by others). */
function usable(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isFile() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Another build's caches are removed once this old: two installs used in turn keep theirs. */
const STALE_MS = 24 * 3600_000;

/** Replaces the cache whole (another start never reads half of it) and removes other builds' old caches. */
function writeCache(dir: string, name: string, script: string, id: string, data: Buffer): void {
  const path = join(dir, name);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for (let at = 0; at < data.length;) at += writeSync(fd, data, at);
      // Renamed into place only once on disk: V8 checks a cache's length and header, not its payload.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const now = Date.now();
    for (const other of readdirSync(dir)) {
      if (!other.startsWith(`${script}-`) || other.startsWith(`${script}-${id.slice(0, 32)}-`)) continue;
      const st = lstatSync(join(dir, other));
      if (now - st.mtimeMs > STALE_MS) unlinkSync(join(dir, other));
    }
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/**
 * Runs the CommonJS script `file` as Node runs a module (its own `require`, `module`, `__filename`,
 * `__dirname`), with its code cache from `cacheDir` when there is one for this `id`. Without one (or when
 * V8 refuses it) the cache is written as the process exits, so it holds what this command compiled.
 */
export function runCachedScript(file: string, id: string, command: string | undefined, cacheDir: string | undefined): CacheOutcome {
  const script = basename(file, '.cjs');
  const name = cacheDir ? cacheName(script, id, command) : undefined;
  const cachePath = cacheDir && name ? join(cacheDir, name) : undefined;
  const before = cachePath !== undefined && lstatExists(cachePath);
  const cachedData = cachePath ? readCache(cachePath) : undefined;
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${readSource(file)}\n})`;
  // No importModuleDynamically: on Node 20 a script compiled from the cache loses it (import() then throws
  // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so an import() would work on the first start only. The bundle
  // has none (scripts/bundle.mjs turns them into require and checks): one fails the same on every start.
  const compiled = new vm.Script(wrapped, { filename: file, cachedData });
  const outcome: CacheOutcome = !cachePath ? 'off' : !cachedData ? 'written' : compiled.cachedDataRejected ? 'refused' : 'used';
  if (cacheDir && name && outcome !== 'used')
    process.once('exit', () => {
      // One written meanwhile by another start (two daemons racing for the home, two commands) is kept:
      // it may hold more than what this process compiled.
      if (!before && usable(join(cacheDir, name))) return;
      writeCache(cacheDir, name, script, id, compiled.createCachedData());
    });
  const run = compiled.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  const module = { exports: {}, filename: file, id: file };
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return outcome;
}

/**
 * Runs the bundle `file` (`dist/bundle/NAME.cjs`) with its id (`NAME.id`) through the code cache, unless
 * `MOAT_CODE_CACHE=0`; false when there is no bundle (a build with tsc alone: the caller loads its modules).
 * A missing id (a build stopped half-way) runs the script compiled, without a cache.
 */
export function runBundle(file: string, command: string | undefined): boolean {
  if (!existsSync(file)) return false;
  let id = '';
  try {
    id = readFileSync(file.replace(/\.cjs$/, '.id'), 'utf8').trim();
  } catch {
    // compiled without a cache
  }
  runCachedScript(file, id, command, process.env.MOAT_CODE_CACHE === '0' ? undefined : privateCacheDir('code-cache'));
  return true;
}
