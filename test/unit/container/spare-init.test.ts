import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeArgvFile, encodeEnvFile } from '../../../src/container/env.js';

// moat-init's spare pieces, run with this machine's /bin/sh and /usr/bin/perl: the command read after the
// drop (read_argv), and the wait for the daemon's go (spare_wait).
const execFileP = promisify(execFile);
const INIT = readFileSync(new URL('../../../src/image/assets/moat-init.sh', import.meta.url), 'utf8');
const APPLY = /apply_env='([^']*)'/.exec(INIT)?.[1] ?? '';
const READ_ARGV = /read_argv='([^']*)'/.exec(INIT.slice(INIT.indexOf('if [ -n "$spare" ]; then')))?.[1] ?? '';
const WAIT = /spare_wait='([^']*)'/.exec(INIT)?.[1] ?? '';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'moat-spare-init-'));
  dirs.push(d);
  return d;
}

/** moat-init's post-drop script as a spare runs it: fd 3 the environment, fd 4 the command; prints argv NUL-separated. */
async function started(argv: string[], env: Record<string, string> = {}): Promise<{ args: string[]; env: Record<string, string> }> {
  const dir = await tempDir();
  await writeFile(join(dir, 'env'), encodeEnvFile({ ...env, PATH: '/usr/bin:/bin' }));
  await writeFile(join(dir, 'argv'), encodeArgvFile(argv));
  const script = READ_ARGV + APPLY;
  // The command given is a printer of its own arguments and environment (what "$@" became).
  const printer = join(dir, 'print');
  await writeFile(printer, '#!/bin/sh\nprintf "%s\\0" "$@"; printf "MOAT-ENV\\0"; /usr/bin/env -0\n', { mode: 0o755 });
  const args = [printer, ...argv.slice(1)];
  await writeFile(join(dir, 'argv'), encodeArgvFile(args));
  const { stdout } = await execFileP(
    '/bin/sh',
    ['-c', 'exec 3<"$1" 4<"$2"; exec /usr/bin/env -i /bin/sh -c "$0" moat ignored cmdline', script, join(dir, 'env'), join(dir, 'argv')],
    {
      encoding: 'utf8',
    },
  );
  const at = stdout.indexOf('MOAT-ENV\0');
  const [a, e] = [stdout.slice(0, at), stdout.slice(at + 'MOAT-ENV\0'.length)];
  return {
    args: a.split('\0').slice(0, -1),
    env: Object.fromEntries(
      e
        .split('\0')
        .filter(Boolean)
        .map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]),
    ),
  };
}

describe("a spare's command (stage/argv, read after the drop)", () => {
  it('reaches the command exactly: spaces, newlines, backslashes, escapes, empty and dash-led arguments, non-ASCII', async () => {
    expect(READ_ARGV).toContain('read -r arg <&4');
    const argv = ['cmd', 'a b', 'line\nbreak\n', 'back\\slash \\n \\0101 \\c', '', '-e', '--', '%s %b', '$(id) `id` ${X}', 'ünï ✓', '\t\r\x01'];
    const got = await started(argv, { FOO: 'bar' });
    expect(got.args).toEqual(argv.slice(1));
    expect(got.env.FOO).toBe('bar');
    // The command file's lines are the only arguments: the container's own command line is not used.
    expect(got.args).not.toContain('cmdline');
  });

  it('one line per argument, and a NUL is refused', () => {
    expect(encodeArgvFile(['a', 'b\nc', ''])).toBe('a\nb\\0012c\n\n');
    expect(() => encodeArgvFile(['a\0b'])).toThrow(/NUL/);
  });
});

/** Runs the wait as moat-init does, against a socket this test serves; resolves with its exit code. */
async function waitWith(serve: ((s: net.Socket) => void) | undefined): Promise<number> {
  const dir = await tempDir();
  const path = join(dir, 'go.sock');
  const server = serve ? net.createServer(serve) : undefined;
  if (server) await new Promise<void>((r) => server.listen(path, r));
  try {
    const child = spawn('/usr/bin/perl', ['-e', WAIT.replace('/moat/net/go.sock', path)], { stdio: 'ignore' });
    return await new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  } finally {
    server?.close();
  }
}

describe("a spare's wait for the go", () => {
  it('goes on (0) only on the byte "g"', async () => {
    expect(WAIT).toContain('/moat/net/go.sock');
    expect(await waitWith((s) => setTimeout(() => s.end('g'), 50))).toBe(0);
  });

  it('ends (not 0) on a closed connection, another byte, or no socket', async () => {
    expect(await waitWith((s) => s.end())).not.toBe(0);
    expect(await waitWith((s) => s.destroy())).not.toBe(0);
    expect(await waitWith((s) => s.end('x'))).not.toBe(0);
    expect(await waitWith(undefined)).not.toBe(0);
  });

  it('is followed in moat-init by exit 75 when it fails, before anything of the run', () => {
    expect(INIT).toMatch(/exec \$clear \/usr\/bin\/perl -e "\$spare_wait"\) <\/dev\/null >\/dev\/null 2>&1 \|\| exit 75/);
    // The wait comes after root's preparation and before the drop.
    expect(INIT.indexOf('"$spare_wait"')).toBeGreaterThan(INIT.indexOf('[ -n "$prepared" ] || prepare_in_shell'));
    expect(INIT.indexOf('"$spare_wait"')).toBeLessThan(INIT.lastIndexOf('exec /usr/bin/setpriv'));
  });
});
