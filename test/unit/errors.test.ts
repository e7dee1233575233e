/**
 * Structured errors (issue #21): one MoatError with a code from a closed set, carried as
 * `{code, message, hint}` by the daemon and by `--json`, and never told apart by the text of a message.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, MoatError, errorDocument, isErrorCode } from '../../src/errors.js';
import { MoatHome } from '../../src/home/paths.js';
import { daemonState, watchRun } from '../../src/daemon/client.js';
import { daemonSocket } from '../../src/daemon/protocol.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('MoatError', () => {
  it('carries a code, a message, a hint and an exit code, and reads back from its document', () => {
    const e = new MoatError('No run matches "x".', { code: 'E_NOT_FOUND', hint: 'moat list' });
    expect(e.toDocument()).toEqual({ code: 'E_NOT_FOUND', message: 'No run matches "x".', hint: 'moat list' });
    expect(e.exitCode).toBe(1);
    expect(new MoatError('m', { code: 'E_USAGE' }).toDocument()).toEqual({ code: 'E_USAGE', message: 'm', hint: null });
    const back = MoatError.fromDocument(JSON.parse(JSON.stringify(e.toDocument())));
    expect(back).toBeInstanceOf(MoatError);
    expect(back?.toDocument()).toEqual(e.toDocument());
  });

  it('reads back only documents with a known code and a message', () => {
    expect(MoatError.fromDocument({ code: 'E_MADE_UP', message: 'x' })).toBeUndefined();
    expect(MoatError.fromDocument({ code: 'E_CONFIG' })).toBeUndefined();
    expect(MoatError.fromDocument('E_CONFIG')).toBeUndefined();
    expect(isErrorCode('E_ENGINE_UNREACHABLE')).toBe(true);
    expect(isErrorCode('ENOENT')).toBe(false);
  });

  it('any other thrown value is E_INTERNAL', () => {
    expect(errorDocument(new TypeError('x is undefined'))).toMatchObject({ code: 'E_INTERNAL', message: 'x is undefined' });
    expect(errorDocument('boom')).toMatchObject({ code: 'E_INTERNAL', message: 'boom' });
  });

  it('every code is documented in docs/json.md', async () => {
    const doc = await readFile(new URL('../../docs/json.md', import.meta.url), 'utf8');
    for (const code of ERROR_CODES) expect(doc, code).toContain(`\`${code}\``);
  });
});

/** A stand-in daemon on `h`'s control socket that answers every request with `status` and `body`. */
async function answeringDaemon(status: number, body: unknown): Promise<MoatHome> {
  const root = await mkdtemp(join(tmpdir(), 'moat-errors-'));
  const h = new MoatHome(root);
  await mkdir(h.daemonDir, { recursive: true, mode: 0o700 });
  const server: Server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(daemonSocket(h), r));
  cleanups.push(async () => {
    await new Promise((r) => server.close(r));
    await rm(root, { recursive: true, force: true });
  });
  return h;
}

describe('the daemon answers errors as {error: {code, message, hint}}', () => {
  it("a refused registration keeps the daemon's code and hint", async () => {
    const h = await answeringDaemon(422, { error: { code: 'E_NOT_FOUND', message: 'The grant "gh" does not exist yet.', hint: 'moat grant gh' } });
    const err = await watchRun(h, 'run_0123456789ab').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).toDocument()).toEqual({
      code: 'E_NOT_FOUND',
      message: 'The run\'s gateway could not start: The grant "gh" does not exist yet.',
      hint: 'moat grant gh',
    });
  });

  it('an answer that is no error document is E_DAEMON, with the body', async () => {
    const h = await answeringDaemon(500, 'nonsense');
    const err = await watchRun(h, 'run_0123456789ab').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as MoatError).toDocument()).toEqual({ code: 'E_DAEMON', message: 'The run\'s gateway could not start: "nonsense"', hint: null });
  });

  it('a daemon handing over is told by its status (503), whatever its text says', async () => {
    const h = await answeringDaemon(503, { error: { code: 'E_DAEMON', message: 'anything at all', hint: null } });
    expect(await daemonState(h, 1000)).toEqual({ kind: 'leaving' });
  });
});

describe('no error is classified by its text', () => {
  it('src/ has no regex or string test on an error message, and no Object.assign(new Error …)', async () => {
    const root = new URL('../../src/', import.meta.url).pathname;
    const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => join(root, f));
    const patterns = [
      /\.test\(\s*(?:String\()?\(*(?:err|e|error)\b[^;]*?\.message/,
      /\/\S+\/\w*\.test\(\s*(?:msg|message)\b/,
      /(?:err|e|error)\)?\.message\.(?:startsWith|includes|match|endsWith)\(/,
      /Object\.assign\(new Error/,
    ];
    const found: string[] = [];
    for (const f of files) {
      const lines = (await readFile(f, 'utf8')).split('\n');
      lines.forEach((l, i) => {
        if (patterns.some((p) => p.test(l))) found.push(`${relative(root, f)}:${i + 1}: ${l.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });
});
