/**
 * Which kernel a run talks to. Under runc a container shares the host's kernel (one kernel bug away from
 * the host); under gVisor it talks to gVisor's own user-space kernel, which reports another release.
 * A run cannot take the next one out of gVisor by writing `sandbox: runc` into moat.yaml: that choice is
 * approved like mounts. Asking for gVisor on an engine without it is an error, never a run under runc.
 */
import { execFile } from 'node:child_process';
import { release } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, readMetadata, tempDir, RUN_ID_RE } from './helpers.js';

let home: string;
let root: string;
let engineHasRunsc: boolean;
/** No sandbox named by the environment: each test names its own (or none, for the default). */
const env = { MOAT_SANDBOX: '' };

async function workspace(name: string, yaml?: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true, mode: 0o755 });
  if (yaml !== undefined) await writeFile(join(d, 'moat.yaml'), yaml);
  return d;
}

const kernel = (stdout: string): string | undefined => /^KERNEL=(.*)$/m.exec(stdout)?.[1];
const SCRIPT = 'echo "KERNEL=$(uname -r)"; echo "RUN=$MOAT_RUN_ID"';

beforeAll(async () => {
  home = await tempDir('sandbox-home');
  root = await tempDir('sandbox-ws');
  const { stdout } = await promisify(execFile)('docker', ['info', '--format', '{{range $k, $v := .Runtimes}}{{$k}} {{end}}']);
  engineHasRunsc = stdout.split(/\s+/).includes('runsc');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('sandbox: which kernel a run sees', () => {
  it("under runc the run sees the host's kernel, and its record says runc", async () => {
    const r = await moat(['run', '--sandbox', 'runc', '--', 'sh', '-c', SCRIPT], { home, cwd: await workspace('runc'), env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(kernel(r.stdout)).toBe(release());
    const id = /^RUN=(.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(id).toMatch(RUN_ID_RE);
    expect(((await readMetadata(home, id)) as unknown as { sandbox?: string }).sandbox).toBe('runc');
  }, 90_000);

  it("--sandbox gvisor: another kernel than the host's when the engine has runsc; else an error with the fix and no run", async () => {
    const cwd = await workspace('gvisor');
    const r = await moat(['run', '--sandbox', 'gvisor', '--', 'sh', '-c', SCRIPT], { home, cwd, env, timeoutMs: 60_000 });
    if (engineHasRunsc) {
      expect(r.code, r.stderr).toBe(0);
      expect(kernel(r.stdout)).toBeDefined();
      expect(kernel(r.stdout)).not.toBe(release());
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gVisor was asked for \(--sandbox\) but the engine at unix:\/\/\S+ has no runsc runtime registered\./);
    expect(r.stderr).toContain('"runtimeArgs":["--network=none","--host-uds=open"]');
    expect(r.stdout).not.toContain('KERNEL=');
  }, 90_000);

  it("coreutils' ls and stat work under gVisor (Debian 12's own runsc answered EINVAL to statx)", async () => {
    const cwd = await workspace('statx');
    await writeFile(join(cwd, 'f.txt'), 'abc');
    const sandbox = engineHasRunsc ? 'gvisor' : 'runc';
    const r = await moat(['run', '--sandbox', sandbox, '--', 'sh', '-c', 'ls -la /workspace && stat -c "SIZE=%s" /workspace/f.txt'], {
      home,
      cwd,
      env,
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ f\.txt$/m);
    expect(r.stdout).toContain('SIZE=3');
    expect(r.stderr).not.toMatch(/Invalid argument|cannot stat|Bad file descriptor/);
  }, 90_000);

  it('with nothing asked for, runs get gVisor when the engine has it, else runc with a notice said once per home', async () => {
    const cwd = await workspace('default');
    const first = await moat(['run', '--', 'sh', '-c', SCRIPT], { home, cwd, env, timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(0);
    if (engineHasRunsc) {
      expect(kernel(first.stdout)).not.toBe(release());
      expect(first.stderr).not.toContain('Runs use runc');
      return;
    }
    expect(kernel(first.stdout)).toBe(release());
    expect(first.stderr).toContain("Runs use runc and share this host's kernel: the engine at");
    const second = await moat(['run', '--', 'true'], { home, cwd, env, timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('Runs use runc');
  }, 120_000);

  it('a run that writes `sandbox: runc` into moat.yaml does not take the next run out of gVisor unapproved', async () => {
    const cwd = await workspace('downgrade', 'sandbox: runc\n');
    const r = await moat(['run', '--', 'sh', '-c', SCRIPT], { home, cwd, env, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('sandbox');
    expect(r.stderr).toContain('--approve-config');
    expect(r.stdout).not.toContain('KERNEL=');
  }, 90_000);

  it('refuses a sandbox it does not know, from the environment or the flag, before anything starts', async () => {
    const cwd = await workspace('bad');
    const fromEnv = await moat(['run', '--', 'true'], { home, cwd, env: { MOAT_SANDBOX: 'kata' } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('MOAT_SANDBOX="kata" is not a sandbox: expected gvisor or runc.');
    const fromFlag = await moat(['run', '--sandbox', 'none', '--', 'true'], { home, cwd, env });
    expect(fromFlag.code).not.toBe(0);
    expect(fromFlag.stderr).toMatch(/--sandbox.*none.*(gvisor|choices)/);
  }, 60_000);
});
