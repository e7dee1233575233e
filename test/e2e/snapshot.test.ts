/**
 * Snapshots on every run: an attached run ends with the line saying what it changed, `moat diff` shows it
 * (unified text, --stat, --name-only, --json), a detached run gets its post-run snapshot from the daemon, and
 * `snapshots: {disabled: true}` takes none; a run pre-walked on bin/moat hint (daemon/prewalk.ts) records its
 * own start and its own settings.
 */
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, parseDetached, tempDir, waitFor } from './helpers.js';

let home: string;
let root: string;

beforeAll(async () => {
  home = await tempDir('snap-home');
  root = await tempDir('snap-ws');
});
afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

async function packIndexes(): Promise<string[]> {
  return (await readdir(join(home, 'snapshots', 'packs')).catch(() => [] as string[])).filter((f) => f.endsWith('.idx'));
}

async function workspace(name: string, yaml = ''): Promise<string> {
  const ws = join(root, name);
  await mkdir(join(ws, 'src'), { recursive: true });
  await writeFile(join(ws, 'src', 'a.txt'), 'one\ntwo\nthree\n');
  await writeFile(join(ws, 'gone.txt'), 'bye\n');
  await writeFile(join(ws, '.gitignore'), 'build/\n');
  if (yaml) await writeFile(join(ws, 'moat.yaml'), yaml);
  return ws;
}

const CHANGE =
  'printf "one\\nTWO\\nthree\\nfour\\n" > src/a.txt; rm gone.txt; echo new > added.txt; mkdir -p build; echo x > build/out; ln -s /etc/passwd link';

describe('snapshots on runs', () => {
  it('an attached run says what it changed; moat diff shows it', async () => {
    const ws = await workspace('attached');
    const r = await moat(['run', '-n', 'snap-att', '--', 'sh', '-c', CHANGE], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/moat: the run changed 4 files \(\+3 −2\) — moat diff snap-att \/ moat rollback snap-att/);
    const names = await moat(['diff', 'snap-att', '--name-only'], { home, cwd: ws });
    expect(names.stdout.trim().split('\n')).toEqual(['added.txt', 'gone.txt', 'link', 'src/a.txt']);
    const globbed = await moat(['diff', 'snap-att', '--name-only', '--', '*.txt'], { home, cwd: ws });
    expect(globbed.stdout.trim().split('\n')).toEqual(['added.txt', 'gone.txt', 'src/a.txt']);
    const patch = await moat(['diff', 'snap-att', '--', 'src'], { home, cwd: ws });
    expect(patch.stdout).toContain('--- a/src/a.txt\n+++ b/src/a.txt\n@@ -1,3 +1,4 @@\n one\n-two\n+TWO\n three\n+four\n');
    const json = JSON.parse((await moat(['diff', 'snap-att', '--json'], { home, cwd: ws })).stdout) as {
      changes: Array<{ path: string; kind: string; after?: { target?: string } }>;
    };
    expect(json.changes.map((c) => [c.path, c.kind])).toEqual([
      ['added.txt', 'added'],
      ['gone.txt', 'deleted'],
      ['link', 'added'],
      ['src/a.txt', 'modified'],
    ]);
    expect(json.changes[2]?.after?.target).toBe('/etc/passwd');
    const stat = await moat(['diff', 'snap-att', '--stat'], { home, cwd: ws });
    expect(stat.stdout).toMatch(/4 files changed, 3 insertions\(\+\), 2 deletions\(-\)/);
    const runs = (JSON.parse((await moat(['list', '--json'], { home, cwd: ws })).stdout) as { runs: Array<{ id: string; name: string }> }).runs;
    const audit = await readFile(join(home, 'runs', runs.find((x) => x.name === 'snap-att')?.id ?? 'none', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"snapshot","files":\d+,"kind":"pre","manifest":"[0-9a-f]{64}"/);
    expect(audit).toMatch(/"event":"snapshot","files":\d+,"kind":"post","manifest":"[0-9a-f]{64}"/);
  });

  it('moat rollback restores the pre-run state, refuses files changed since the run, and can be undone', async () => {
    const ws = join(root, 'attached');
    const noTty = await moat(['rollback', 'snap-att'], { home, cwd: ws });
    expect(noTty.code).not.toBe(0);
    expect(noTty.stderr).toMatch(/there is no terminal to ask/);
    await writeFile(join(ws, 'added.txt'), 'edited by the user after the run\n');
    const refused = await moat(['rollback', 'snap-att', '-y'], { home, cwd: ws });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/changed since run snap-att ended, in 1 of the files to restore: added\.txt/);
    const dry = await moat(['--dry-run', 'rollback', 'snap-att', '--force'], { home, cwd: ws });
    expect(dry.stdout).toMatch(/delete +added\.txt \(changed since the run ended\)\n/);
    expect(dry.stdout).not.toMatch(/src\/a\.txt \(changed/);
    const dryJson = JSON.parse((await moat(['--dry-run', 'rollback', 'snap-att', '--force', '--json'], { home, cwd: ws })).stdout) as {
      plan: Array<{ op: string; path: string; changedSinceRun?: boolean }>;
    };
    expect(dryJson.plan.filter((a) => a.changedSinceRun)).toEqual([{ op: 'delete', path: 'added.txt', changedSinceRun: true }]);
    expect(await readFile(join(ws, 'src', 'a.txt'), 'utf8')).toBe('one\nTWO\nthree\nfour\n');
    const ok = await moat(['rollback', 'snap-att', '-y', '--force'], { home, cwd: ws });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/--force: overwriting 1 path changed since run snap-att ended: added\.txt/);
    expect(await readFile(join(ws, 'src', 'a.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(await readFile(join(ws, 'gone.txt'), 'utf8')).toBe('bye\n');
    await expect(readFile(join(ws, 'added.txt'))).rejects.toThrow();
    const undo = /undo: (moat rollback snap-att --snapshot (snap_[0-9a-f]+) -y)/.exec(ok.stdout);
    expect(undo, ok.stdout).not.toBeNull();
    const back = await moat(['rollback', 'snap-att', '--snapshot', undo![2]!, '-y'], { home, cwd: ws });
    expect(back.code, back.stderr).toBe(0);
    expect(await readFile(join(ws, 'added.txt'), 'utf8')).toBe('edited by the user after the run\n');
    const to = join(root, 'before');
    const copy = await moat(['rollback', 'snap-att', '--to', to, '--', 'src'], { home, cwd: ws });
    expect(copy.code, copy.stderr).toBe(0);
    expect(await readFile(join(to, 'src', 'a.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    const list = JSON.parse((await moat(['snapshot', 'list', 'snap-att', '--json'], { home, cwd: ws })).stdout) as {
      snapshots: Array<{ kind: string; id: string; run: string }>;
    };
    expect(list.snapshots.map((x) => x.kind)).toEqual(['pre', 'post', 'safety', 'safety']);
    // Each safety snapshot is an audit event of its own (with its manifest's hash), before its rollback's.
    const audit = await readFile(join(home, 'runs', list.snapshots[0]!.run, 'audit.jsonl'), 'utf8');
    for (const s of list.snapshots.filter((x) => x.kind === 'safety')) {
      expect(audit).toMatch(new RegExp(`"event":"snapshot","files":\\d+,"kind":"safety","manifest":"[0-9a-f]{64}","snapshot":"${s.id}"`));
      expect(audit.indexOf(`"snapshot":"${s.id}"`)).toBeLessThan(audit.indexOf(`"safetySnapshot":"${s.id}"`));
    }
  });

  it("a workspace with megabytes of assets is stored by the daemon's helper thread too; the run's changes roll back from its pack", async () => {
    const ws = await workspace('assets');
    await mkdir(join(ws, 'assets'));
    // 48 files of 1 MiB (distinct): past the bytes after which the walk starts its helper thread.
    const blob = (i: number): Buffer => Buffer.alloc(1 << 20, `asset ${i} `);
    for (let i = 0; i < 48; i++) await writeFile(join(ws, 'assets', `a${i}.bin`), blob(i));
    const packsBefore = await packIndexes();
    const r = await moat(['run', '-n', 'snap-assets', '--', 'sh', '-c', 'echo changed > assets/a3.bin; rm assets/a9.bin'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/moat: the run changed 2 files/);
    // Its packs sealed before each manifest was written: the pre-run walk's and its helper's (unless the walk
    // stored every queued file itself before the thread was up, on a loaded machine), the post-run walk's.
    const added = (await packIndexes()).length - packsBefore.length;
    expect(added).toBeGreaterThanOrEqual(2);
    expect(added).toBeLessThanOrEqual(3);
    // The plan, then the rollback, as JSON (docs/json.md).
    const dry = await moat(['--dry-run', 'rollback', 'snap-assets', '--json'], { home, cwd: ws });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({
      plan: [
        { op: 'write', path: 'assets/a3.bin' },
        { op: 'write', path: 'assets/a9.bin' },
      ],
    });
    const ok = await moat(['rollback', 'snap-assets', '-y', '--json'], { home, cwd: ws });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ written: 2, deleted: 0, modes: 0, skipped: [], safety: expect.stringMatching(/^snap_/) });
    expect((await readFile(join(ws, 'assets', 'a3.bin'))).equals(blob(3))).toBe(true);
    expect((await readFile(join(ws, 'assets', 'a9.bin'))).equals(blob(9))).toBe(true);
  });

  it('a detached run gets its post-run snapshot from the daemon', async () => {
    const ws = await workspace('detached');
    const r = await moat(['run', '-d', '--', 'sh', '-c', 'echo changed > src/a.txt'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    const { name } = parseDetached(r.stdout);
    const d = await waitFor(
      async () => {
        const x = await moat(['diff', name, '--name-only'], { home, cwd: ws });
        return x.code === 0 ? x : undefined;
      },
      30_000,
      'the post-run snapshot',
    );
    expect(d.stdout).toBe('src/a.txt\n');
  });

  it('a manual moat snapshot of a live run enters its audit log (name and manifest hash)', async () => {
    const ws = await workspace('live');
    const r = await moat(['run', '-d', '--', 'sleep', '30'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    const { id, name } = parseDetached(r.stdout);
    const s = await moat(['snapshot', name, '--label', 'mid-run', '--json'], { home, cwd: ws });
    expect(s.code, s.stderr).toBe(0);
    const rec = JSON.parse(s.stdout) as { id: string; manifest: string; audited: boolean };
    expect(rec.audited).toBe(true);
    // No post-run snapshot yet: the diff is against the one taken by hand, as the error's hint offers.
    const live = await moat(['diff', name, '--name-only'], { home, cwd: ws });
    expect(live.code, live.stderr).toBe(0);
    expect(live.stderr).toContain(`the changes up to ${rec.id}, taken by hand`);
    expect((await moat(['stop', '-t', '1', name], { home, cwd: ws })).code).toBe(0);
    const audit = await waitFor(
      async () => {
        const text = await readFile(join(home, 'runs', id, 'audit.jsonl'), 'utf8');
        return text.includes('"kind":"post"') ? text : undefined;
      },
      30_000,
      'the post-run snapshot in the audit log',
    );
    const manual = audit.split('\n').filter((l) => l.includes('"kind":"manual"'));
    expect(manual).toHaveLength(1); // once: by the daemon, not again before the post-run snapshot
    expect(manual[0]).toContain(`"label":"mid-run","manifest":"${rec.manifest}","snapshot":"${rec.id}"`);
  });

  it('a run pre-walked on bin/moat hint records the workspace as it is at its start, with its own settings', async () => {
    const ws = await workspace('prewalk');
    const r1 = await moat(['run', '-n', 'snap-pw1', '--', 'true'], { home, cwd: ws });
    expect(r1.code, r1.stderr).toBe(0);
    // Changed between runs: the next run's pre-walk (asked before its CLI loads) has it.
    await writeFile(join(ws, 'between.txt'), 'x\n');
    const r2 = await moat(['run', '-n', 'snap-pw2', '--', 'rm', 'between.txt'], { home, cwd: ws });
    expect(r2.code, r2.stderr).toBe(0);
    expect((await moat(['diff', 'snap-pw2', '--name-only'], { home, cwd: ws })).stdout).toBe('between.txt\n');
    // Other settings: the pre-walk (with the last run's settings) is not handed over; this run's exclude applies.
    await writeFile(join(ws, 'moat.yaml'), 'snapshots:\n  exclude: ["*.log"]\n');
    await writeFile(join(ws, 'x.log'), 'log\n');
    const r3 = await moat(['run', '-n', 'snap-pw3', '--', 'true'], { home, cwd: ws });
    expect(r3.code, r3.stderr).toBe(0);
    const list = JSON.parse((await moat(['snapshot', 'list', 'snap-pw3', '--json'], { home, cwd: ws })).stdout) as {
      snapshots: Array<{ kind: string; files: number }>;
    };
    // src/a.txt, gone.txt, .gitignore, moat.yaml: not x.log
    expect(list.snapshots.find((x) => x.kind === 'pre')?.files).toBe(4);
  });

  it('without a run, diff and rollback take the run of the workspace you are in, and paths from the current folder', async () => {
    const mine = await workspace('here');
    const other = await workspace('there');
    expect((await moat(['run', '-n', 'snap-here', '--', 'sh', '-c', 'echo mine > src/a.txt'], { home, cwd: mine })).code).toBe(0);
    // The most recent run is another workspace's: it must not be the one diffed or rolled back from here.
    expect((await moat(['run', '-n', 'snap-there', '--', 'sh', '-c', 'echo other > src/a.txt'], { home, cwd: other })).code).toBe(0);
    const sub = join(mine, 'src');
    const d = await moat(['diff', '--name-only', '--', 'a.txt'], { home, cwd: sub });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe('src/a.txt\n');
    expect(d.stderr).toContain('snap-here');
    expect((await moat(['diff', 'snap-here', '--name-only', '--', join(mine, 'src', 'a.txt')], { home, cwd: root })).stdout).toBe('src/a.txt\n');
    const outside = await moat(['diff', 'snap-here', '--', '../../there'], { home, cwd: sub });
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/\.\.\/\.\.\/there is outside the run's workspace/);
    const rb = await moat(['rollback', '-y', '--', 'a.txt'], { home, cwd: sub });
    expect(rb.code, rb.stderr).toBe(0);
    expect(await readFile(join(mine, 'src', 'a.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(await readFile(join(other, 'src', 'a.txt'), 'utf8')).toBe('other\n');
  });

  it('rollback of PATHS makes the missing folders on their way with their modes, and a folder removed since the run is not a refusal', async () => {
    const ws = await workspace('on-the-way');
    await mkdir(join(ws, 'lib', 'deep'), { recursive: true });
    await writeFile(join(ws, 'lib', 'deep', 'x.txt'), 'x\n');
    await chmod(join(ws, 'lib', 'deep'), 0o750);
    const r = await moat(['run', '-n', 'snap-way', '--', 'sh', '-c', 'rm -r lib/deep'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    // After the run, the user removes the folder it left empty: that folder is not one of the paths restored.
    await rm(join(ws, 'lib'), { recursive: true });
    const dry = await moat(['--dry-run', 'rollback', 'snap-way', '--json', '--', 'lib/deep/x.txt'], { home, cwd: ws });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({
      plan: [
        { op: 'mkdir', path: 'lib', onTheWay: true },
        { op: 'mkdir', path: 'lib/deep', onTheWay: true },
        { op: 'write', path: 'lib/deep/x.txt' },
      ],
    });
    const rb = await moat(['rollback', 'snap-way', '-y', '--', 'lib/deep/x.txt'], { home, cwd: ws });
    expect(rb.code, rb.stderr).toBe(0);
    expect(await readFile(join(ws, 'lib', 'deep', 'x.txt'), 'utf8')).toBe('x\n');
    expect((await stat(join(ws, 'lib', 'deep'))).mode & 0o7777).toBe(0o750);
  });

  it('files over snapshots.max_file_size are named: before the run, in the line after it, and by diff', async () => {
    const ws = await workspace('large', 'snapshots:\n  max_file_size: 1m\n');
    await writeFile(join(ws, 'before.bin'), Buffer.alloc(2 << 20, 1));
    const r = await moat(['run', '-n', 'snap-large', '--', 'sh', '-c', 'head -c 3000000 /dev/zero > made.bin; echo y > small.txt'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Pre-run snapshot: the snapshot records 1 file\(s\) by size and time only, without their content: before\.bin \(too large\)/);
    expect(r.stderr).toMatch(/moat: the run changed 2 files \(\+1 −0\); 1 kept by size only, without content: made\.bin \(too large\) — moat diff snap-large /);
    const d = await moat(['diff', 'snap-large', '--', 'made.bin'], { home, cwd: ws });
    expect(d.stdout).toContain('file recorded without its content (over snapshots.max_file_size): size 3000000');
  });

  it('snapshots: {disabled: true} takes none', async () => {
    const ws = await workspace('off', 'snapshots:\n  disabled: true\n');
    const r = await moat(['run', '-n', 'snap-off', '--', 'sh', '-c', 'echo x > f'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/the run changed/);
    const d = await moat(['diff', 'snap-off'], { home, cwd: ws });
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(/has no pre-run snapshot/);
  });
});
