/**
 * The workspace as the attacker of moat.yaml's mounts. A run writes the workspace, so it can replace the
 * source of an approved relative mount, or any folder on the way to it, with a symbolic link to a host
 * folder: the text of moat.yaml stays the same. Sources are resolved to their real paths when they are
 * approved and again before every run; a different real path is refused (no terminal here), and the
 * engine is only ever given the real path.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, tempDir, type MoatResult } from './helpers.js';

let home: string;
let root: string;
let outside: string;
let n = 0;

const SECRET = 'HOST-SECRET-OUTSIDE';

beforeAll(async () => {
  home = await tempDir('mounts-home');
  root = await tempDir('mounts-ws');
  // The host folder an attacker wants: the same shape as the workspace's top/mid/data.
  outside = join(root, 'outside');
  await mkdir(join(outside, 'mid', 'data'), { recursive: true });
  await writeFile(join(outside, 'mid', 'data', 'file.txt'), `${SECRET}\n`);
  await writeFile(join(outside, 'file.txt'), `${SECRET}\n`);
  await writeFile(join(outside, 'mid', 'file.txt'), `${SECRET}\n`);
  const warm = await moat(['run', '--', 'true'], { home, cwd: await workspace(''), timeoutMs: 600_000 });
  if (warm.code !== 0) throw new Error(`warming failed: ${warm.stderr}`);
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

/** A workspace with top/mid/data/file.txt and the given moat.yaml. */
async function workspace(yaml: string): Promise<string> {
  const d = join(root, `ws${++n}`);
  await mkdir(join(d, 'top', 'mid', 'data'), { recursive: true });
  await writeFile(join(d, 'top', 'mid', 'data', 'file.txt'), 'workspace data\n');
  if (yaml) await writeFile(join(d, 'moat.yaml'), yaml);
  return d;
}

const MOUNT = 'mounts: ["./top/mid/data:/data:ro"]\n';
const read = (cwd: string, flags: string[] = []): Promise<MoatResult> => moat(['run', ...flags, '--', 'cat', '/data/file.txt'], { home, cwd });

/** The refusal of a run whose approved mount now resolves to `to`. */
function redirected(ws: string, to: string): string {
  return (
    `moat: A mount source in moat.yaml now resolves to another host path than the one approved in ${ws} (a run can replace a folder on the way with a symbolic link):\n` +
    '    mounts:\n' +
    `  -   - ${join(ws, 'top', 'mid', 'data')} → /data, read-only\n` +
    `  +   - ${to} → /data, read-only; ./top/mid/data is in the workspace but resolves outside it\n` +
    `  Review them (moat trust show ${ws}), then run again with --approve-config to accept them.\n`
  );
}

function refusedWithout(r: MoatResult, secret = SECRET): void {
  expect(r.code).toBe(1);
  expect(r.stdout).not.toContain(secret);
  expect(r.stderr).not.toContain(secret);
}

describe('hostile workspace: a symbolic link swapped into an approved mount', () => {
  for (const [depth, link, target] of [
    ['the source itself', 'top/mid/data', () => join(outside, 'mid', 'data')],
    ['its parent', 'top/mid', () => join(outside, 'mid')],
    ['the top folder', 'top', () => outside],
  ] as const) {
    it(`a swap of ${depth} after the approval is refused, naming the new real path`, async () => {
      const cwd = await workspace(MOUNT);
      const approved = await moat(['trust', 'approve'], { home, cwd });
      expect(approved.stdout).toBe(`Approved the settings of moat.yaml in ${cwd}.\n`);
      await rm(join(cwd, link), { recursive: true });
      await symlink(target(), join(cwd, link));
      const r = await read(cwd);
      refusedWithout(r);
      expect(r.stderr).toBe(redirected(cwd, join(outside, 'mid', 'data')));
    });
  }

  it('a run that swaps the folder for a link gets nothing from the next run while the approval stays unchanged', async () => {
    const cwd = await workspace(MOUNT);
    const swap = await moat(
      [
        'run',
        '--approve-config',
        '--',
        'sh',
        '-c',
        `cat /data/file.txt && rm -rf /workspace/top/mid && ln -s ${outside}/mid /workspace/top/mid && echo SWAPPED`,
      ],
      { home, cwd },
    );
    expect(swap.code, swap.stderr).toBe(0);
    expect(swap.stdout).toBe('workspace data\nSWAPPED\n');
    const r = await read(cwd);
    refusedWithout(r);
    expect(r.stderr).toBe(redirected(cwd, join(outside, 'mid', 'data')));
    // Refused again: a refusal approves nothing, and moat trust show names the change.
    refusedWithout(await read(cwd));
    const show = await moat(['trust', 'show'], { home, cwd });
    expect(show.stdout).toContain(
      `  mounts:\n-   - ${join(cwd, 'top', 'mid', 'data')} → /data, read-only\n` +
        `+   - ${join(outside, 'mid', 'data')} → /data, read-only; ./top/mid/data is in the workspace but resolves outside it\n`,
    );
  });

  it('a link planted before the first approval is shown as the real path, outside the workspace', async () => {
    const cwd = await workspace(MOUNT);
    await rm(join(cwd, 'top'), { recursive: true });
    await symlink(outside, join(cwd, 'top'));
    const r = await read(cwd);
    refusedWithout(r);
    expect(r.stderr).toBe(
      `moat: moat.yaml in ${cwd} sets mounts, which reach beyond the container, and nobody has approved them here yet:\n` +
        '    mounts:\n' +
        `  +   - ${join(outside, 'mid', 'data')} → /data, read-only; ./top/mid/data is in the workspace but resolves outside it\n` +
        `  Review them (moat trust show ${cwd}), then run again with --approve-config to accept them.\n`,
    );
  });

  it('".." segments are resolved before the approval: a rewritten source that climbs out is a change, shown by its real path', async () => {
    const cwd = await workspace(MOUNT);
    expect((await moat(['trust', 'approve'], { home, cwd })).code).toBe(0);
    await writeFile(join(cwd, 'moat.yaml'), `mounts: ["./top/mid/data/../../../../outside/mid/data:/data:ro"]\n`);
    const r = await read(cwd);
    refusedWithout(r);
    expect(r.stderr).toBe(
      `moat: moat.yaml changed mounts since the last run in ${cwd}, and an agent in a run can edit that file:\n` +
        '    mounts:\n' +
        `  -   - ${join(cwd, 'top', 'mid', 'data')} → /data, read-only\n` +
        `  +   - ${join(outside, 'mid', 'data')} → /data, read-only\n` +
        `  Review them (moat trust show ${cwd}), then run again with --approve-config to accept them.\n`,
    );
  });

  it("a link to a folder whose name would split the engine's mount syntax is refused", async () => {
    const cwd = await workspace(MOUNT);
    expect((await moat(['trust', 'approve'], { home, cwd })).code).toBe(0);
    const odd = join(root, 'odd:/etc');
    await mkdir(odd, { recursive: true });
    await rm(join(cwd, 'top', 'mid', 'data'), { recursive: true });
    await symlink(odd, join(cwd, 'top', 'mid', 'data'));
    const r = await read(cwd, ['--approve-config']);
    refusedWithout(r);
    expect(r.stderr).toBe(
      `moat: The mount source ./top/mid/data resolves to ${JSON.stringify(odd)}, which has a ":", "," or control character the engine cannot mount safely.\n  Rename the folder, or remove the mount from moat.yaml.\n`,
    );
  });

  it('an approved relative mount still works, through its real path', async () => {
    const cwd = await workspace(MOUNT);
    await symlink(join(cwd, 'top'), join(cwd, 'alias'));
    await writeFile(join(cwd, 'moat.yaml'), 'mounts: ["./alias/mid/data:/data:ro"]\n');
    const r = await read(cwd, ['--approve-config']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('workspace data\n');
    const again = await read(cwd);
    expect(again.code, again.stderr).toBe(0);
  });
});
