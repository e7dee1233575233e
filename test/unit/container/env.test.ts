import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LOADER_VARIABLES, encodeEnvFile, initEntrypoint, privilegedEnv, userEnvironment } from '../../../src/container/env.js';

const execFileP = promisify(execFile);
const INIT = readFileSync(new URL('../../../src/image/assets/moat-init.sh', import.meta.url), 'utf8');
/** The part of moat-init that runs after the drop: reads the file on fd 3, exports, starts "$@". */
const APPLY = /apply_env='([^']*)'/.exec(INIT)?.[1] ?? '';

/** Runs moat-init's own apply step with `/bin/sh` on this machine, the file on fd 3; returns the env it started `env -0` with. */
async function applied(file: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-envfile-'));
  try {
    const path = join(dir, 'env');
    await writeFile(path, file);
    const { stdout } = await execFileP('/bin/sh', ['-c', 'exec 3<"$1"; exec /usr/bin/env -i /bin/sh -c "$0" moat /usr/bin/env -0', APPLY, path], {
      encoding: 'utf8',
    });
    return Object.fromEntries(
      stdout
        .split('\0')
        .filter(Boolean)
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the run's environment file", () => {
  it("round-trips any value through moat-init's own reader (newlines, =, quotes, backslashes, escapes, controls)", async () => {
    const env = {
      A: 'plain',
      B: 'x = y = z',
      C: 'line\nbreak\n',
      D: `'single' "double" \`back\``,
      E: 'back\\slash \\n \\0101 \\c end\\',
      F: '%s %b %%',
      G: '$HOME $(id) ${X}',
      H: '\t\r\x01\x7f',
      I: 'ünï ✓',
      J: '',
      PATH: '/x:/y',
    };
    const file = encodeEnvFile(env);
    expect(file.split('\n').length).toBe(Object.keys(env).length + 1); // one line each
    const got = await applied(file);
    for (const [k, v] of Object.entries(env)) expect(got[k], k).toBe(v);
  });

  it('skips an invalid name in the file rather than running it', async () => {
    const got = await applied('GOOD=1\n$(touch x)=2\n1BAD=3\nA-B=4\nNEXT=5\n');
    expect(got.GOOD).toBe('1');
    expect(got.NEXT).toBe('5');
    expect(Object.keys(got).filter((k) => !['GOOD', 'NEXT', 'PWD'].includes(k))).toEqual([]);
  });

  it('refuses an invalid name or a NUL before anything is created', () => {
    expect(() => encodeEnvFile({ 'A-B': 'x' })).toThrow(/not a valid environment variable name/);
    expect(() => encodeEnvFile({ A: 'x\0y' })).toThrow(/NUL/);
  });

  it("layers: image ENV under the run's, HOME fixed, a default PATH when nobody sets one", () => {
    expect(userEnvironment([], [{}]).PATH).toMatch(/\/usr\/bin/);
    const e = userEnvironment(['PATH=/img', 'LANG=C.UTF-8', 'HOME=/root'], [{ PATH: '/mine' }, { HOME: '/evil', X: '1' }]);
    expect(e).toMatchObject({ PATH: '/mine', LANG: 'C.UTF-8', HOME: '/home/moat', USER: 'moat', X: '1' });
  });
});

describe('the privileged start', () => {
  it("gets no variable but blanks of the loader's, and an env -i entrypoint with numbers only", () => {
    const env = privilegedEnv();
    expect(Object.values(env).every((v) => v === '')).toBe(true);
    for (const k of ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'GCONV_PATH']) expect(LOADER_VARIABLES).toContain(k);
    expect(initEntrypoint({ uid: 1000, gid: 1000, proxyPort: 43128 })).toEqual([
      '/usr/bin/env',
      '-i',
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      'MOAT_UID=1000',
      'MOAT_GID=1000',
      'MOAT_PROXY_PORT=43128',
      '/bin/sh',
      '/usr/local/bin/moat-init',
    ]);
    expect(() => initEntrypoint({ uid: -1, gid: 0 })).toThrow();
  });
});
