/**
 * A run that tries to leave a set-user-id or set-group-id program (or a device node) in what it can write,
 * for someone on the host to start later: as uid 0 without capabilities (a root-owned workspace) and as an
 * ordinary owner, attached and detached, in the workspace and in a writable mount. After the run no file
 * there has a set-id bit (fs.stat on the host), the CLI names what moat stripped, and the audit records it.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, parseDetached, readMetadata, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);
let home: string;
let root: string;

/** Plants set-id copies of sh in /workspace (and /data when mounted) by every route a shell has. */
const PLANT = [
  'cp /bin/sh /workspace/suid && chmod 4755 /workspace/suid && echo CHMOD=done',
  'cp /bin/sh /workspace/sgid && chmod g+s /workspace/sgid',
  'mkdir -p /workspace/deep/er && install -m 6755 /bin/sh /workspace/deep/er/both',
  '[ -d /data ] && cp /bin/sh /data/mounted && chmod u+s /data/mounted',
  'mknod /workspace/null c 1 3 2>/dev/null && echo MKNOD=done || echo MKNOD=refused',
  'mknod /workspace/disk b 8 0 2>/dev/null && echo MKNODB=done || echo MKNODB=refused',
  'ls -l /workspace/suid',
  'true',
].join('; ');

const setIdBits = (p: string): number => statSync(p).mode & 0o6000;

async function workspace(name: string, owner?: number): Promise<string> {
  const d = join(root, name);
  await mkdir(join(d, 'data'), { recursive: true });
  await writeFile(join(d, 'moat.yaml'), 'mounts:\n  - ./data:/data\n');
  if (owner !== undefined) await execFileP('chown', ['-R', `${owner}:${owner}`, d]);
  return d;
}

function expectClean(ws: string): void {
  for (const f of ['suid', 'sgid', 'deep/er/both', 'data/mounted']) {
    expect(statSync(join(ws, f)).isFile(), f).toBe(true);
    expect(setIdBits(join(ws, f)), f).toBe(0);
  }
  expect(() => statSync(join(ws, 'null'))).toThrow();
  expect(() => statSync(join(ws, 'disk'))).toThrow();
}

beforeAll(async () => {
  home = await tempDir('setid-home');
  root = await tempDir('setid-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('hostile run: no set-id file or device node outlives it', () => {
  for (const [label, owner] of [
    ['a root-owned workspace (uid 0, no capabilities)', undefined],
    ['a workspace owned by uid 1000', 1000],
  ] as const) {
    it(`${label}: chmod 4755, g+s, install -m 6755 in the workspace and a writable mount are stripped and reported; mknod is refused`, async () => {
      const ws = await workspace(`attached-${owner ?? 0}`, owner);
      const r = await moat(['run', '--approve-config', '--', '/bin/sh', '-c', PLANT], { home, cwd: ws });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('CHMOD=done'); // the attempt did happen inside
      expect(r.stdout).toMatch(/^-rws/m);
      expect(r.stdout).toContain('MKNOD=refused');
      expect(r.stdout).toContain('MKNODB=refused');
      expectClean(ws);
      expect(r.stderr).toMatch(/set-user-id or set-group-id files, whose bits moat removed: /);
      for (const f of ['suid', 'sgid', 'both', 'mounted']) expect(r.stderr).toMatch(new RegExp(`/${f}\\b`));
      const events = await moat(['audit', '--events', '--type', 'lifecycle', '--json'], { home, cwd: ws }); // the latest run
      expect(events.stdout + events.stderr).toContain('"event":"set-id-files"');
    });
  }

  it('a detached run is swept when it ends, with nobody attached', async () => {
    const ws = await workspace('detached', 1000);
    const r = await moat(['run', '-d', '--approve-config', '--', '/bin/sh', '-c', PLANT], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    const meta = await waitFor(async () => (await readMetadata(home, id)).setIdSweep as { stripped: string[] } | undefined, 30_000, 'the sweep');
    expect(meta.stripped.length).toBe(4);
    expectClean(ws);
  });
});
