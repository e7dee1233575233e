import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliContext } from '../../../src/cli/context.js';
import { runSnapshotPair, standIn, statWidth, statWords } from '../../../src/cli/diff.js';
import { MoatHome } from '../../../src/home/paths.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { updateRunSnapshots } from '../../../src/snapshot/refs.js';
import type { RunMetadata } from '../../../src/store/types.js';
import { emptyTarget, restoredSummary } from '../../../src/cli/rollback.js';
import type { SnapshotRecord } from '../../../src/snapshot/refs.js';
import { insideWorkspace, pickWorkspaceRun, workspacePaths } from '../../../src/cli/snapshot-scope.js';
import type { Entry, Manifest } from '../../../src/snapshot/manifest.js';
import { planRestore } from '../../../src/snapshot/restore.js';
import { pathFilter } from '../../../src/snapshot/diff.js';

const file = (path: string, extra: Partial<Entry> = {}): Entry => ({ path, type: 'file', mode: 0o644, size: 3, mtime: 1, hash: 'a'.repeat(64), ...extra });
const link = (path: string, target: string): Entry => ({ path, type: 'link', mode: 0o777, size: target.length, mtime: 1, target });

describe('insideWorkspace', () => {
  it('is the workspace or a folder inside it, not a sibling that shares its prefix', () => {
    expect(insideWorkspace('/w/ws', '/w/ws')).toBe(true);
    expect(insideWorkspace('/w/ws/lib/a', '/w/ws')).toBe(true);
    expect(insideWorkspace('/w/ws2', '/w/ws')).toBe(false);
    expect(insideWorkspace('/w', '/w/ws')).toBe(false);
    expect(insideWorkspace('/w/ws/..x', '/w/ws')).toBe(true);
  });
});

describe('pickWorkspaceRun', () => {
  it("snapshot-scope-workspace-run: without a run named, the newest run of the innermost workspace holding the current folder, never another workspace's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-scope-'));
    const cwd = process.cwd();
    try {
      const { realpath, mkdir } = await import('node:fs/promises');
      const root = await realpath(dir);
      await mkdir(join(root, 'outer', 'inner', 'src'), { recursive: true });
      await mkdir(join(root, 'other'));
      const run = (id: string, workspace: string, createdAt: string): RunMetadata => ({ id, name: id, workspace, createdAt }) as RunMetadata;
      // Newest first, as the store lists them.
      const runs = [
        run('r4', join(root, 'other'), '4'),
        run('r3', join(root, 'outer'), '3'),
        run('r2', join(root, 'outer', 'inner'), '2'),
        run('r1', join(root, 'outer', 'inner'), '1'),
      ];
      const ctx = {
        store: { list: async () => runs },
        reconcile: async (m: RunMetadata) => m,
        info: () => undefined,
        pickRun: async () => runs[0],
      } as unknown as CliContext;
      process.chdir(join(root, 'outer', 'inner', 'src'));
      expect((await pickWorkspaceRun(ctx, undefined, 'show')).id).toBe('r2');
      process.chdir(join(root, 'outer'));
      expect((await pickWorkspaceRun(ctx, undefined, 'show')).id).toBe('r3');
      process.chdir(root);
      expect((await pickWorkspaceRun(ctx, undefined, 'show')).id).toBe('r4');
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('workspacePaths', () => {
  const plain = (paths: string[], ws: string, cwd: string): string[] => workspacePaths(paths, ws, cwd).map((x) => x.path);

  it('reads a relative path from the current folder inside the workspace, as git does', () => {
    expect(plain(['express.js', './router/', '..'], '/w/ws', '/w/ws/lib')).toEqual(['lib/express.js', 'lib/router', '.']);
  });

  it('takes an absolute path inside the workspace', () => {
    expect(plain(['/w/ws/index.js', '/w/ws'], '/w/ws', '/elsewhere')).toEqual(['index.js', '.']);
  });

  it('reads a relative path from the top of the workspace when the shell is outside it', () => {
    expect(workspacePaths(['src/a.ts'], '/w/ws', '/home/me')).toEqual([{ path: 'src/a.ts' }]);
  });

  it('reads a glob without a slash at any depth under the current folder, one with a slash from it', () => {
    expect(workspacePaths(['*.ts'], '/w/ws', '/w/ws')).toEqual([{ path: '*.ts', glob: '**/*.ts' }]);
    expect(workspacePaths(['*.ts', 'src/*.ts', '../*.md', 'build*/', '/w/ws/lib/?.js'], '/w/ws', '/w/ws/lib').map((x) => x.glob)).toEqual([
      'lib/**/*.ts',
      'lib/src/*.ts',
      '*.md',
      'lib/**/build*',
      'lib/?.js',
    ]);
    expect(() => workspacePaths(['../../*'], '/w/ws', '/w/ws/lib')).toThrow(/outside/);
  });

  it('hostile-pathspec-folder-glob: glob characters in the folder names it was given from are names, never patterns', () => {
    expect(workspacePaths(['*.ts', 'y.txt'], '/w/ws', '/w/ws/app/[slug]')).toEqual([
      { path: 'app/[slug]/*.ts', glob: 'app/\\[slug]/**/*.ts' },
      { path: 'app/[slug]/y.txt' },
    ]);
    expect(workspacePaths(['*'], '/w/a[1]', '/w/a[1]')).toEqual([{ path: '*', glob: '**/*' }]);
  });

  it('refuses a path outside the workspace, naming it, instead of matching nothing', () => {
    expect(() => workspacePaths(['../../etc/passwd'], '/w/ws', '/w/ws/lib')).toThrow(/\.\.\/\.\.\/etc\/passwd is outside the run's workspace \/w\/ws/);
    expect(() => workspacePaths(['/w/ws2/a'], '/w/ws', '/w/ws')).toThrow(/outside/);
  });
});

describe('pathFilter', () => {
  const paths = ['a.ts', 'src/b.ts', 'src/lib/c.ts', 'src/lib/d.js', 'docs/a[1].md', 'docs/x.md', 'srcs/e.ts'];
  const manifest = (ps: string[]): Manifest => ({ version: 1, entries: ps.map((p) => file(p)) }) as unknown as Manifest;
  const keep = (given: string[], cwd = '/w/ws', present = paths): string[] => paths.filter(pathFilter(workspacePaths(given, '/w/ws', cwd), manifest(present)));

  it('takes a path and everything under it, never a sibling that only starts alike', () => {
    expect(keep(['src'])).toEqual(['src/b.ts', 'src/lib/c.ts', 'src/lib/d.js']);
    expect(keep(['src/b.ts'])).toEqual(['src/b.ts']);
    expect(keep(['.', 'src'])).toEqual(paths);
  });

  it('matches globs as gitignore does: * within a folder, ** across, and what a matched folder holds', () => {
    expect(keep(['*.ts'])).toEqual(['a.ts', 'src/b.ts', 'src/lib/c.ts', 'srcs/e.ts']);
    expect(keep(['*.ts'], '/w/ws/src')).toEqual(['src/b.ts', 'src/lib/c.ts']);
    expect(keep(['src/*.ts'])).toEqual(['src/b.ts']);
    expect(keep(['src/l?b'])).toEqual(['src/lib/c.ts', 'src/lib/d.js']);
    expect(keep(['*/lib/*.js', 'docs/[x]*'])).toEqual(['src/lib/d.js', 'docs/x.md']);
  });

  it('hostile-pathspec-literal-first: a name with glob characters that exists is that file only, from any folder', () => {
    expect(keep(['docs/a[1].md'])).toEqual(['docs/a[1].md']);
    expect(keep(['a[1].md'], '/w/ws/docs')).toEqual(['docs/a[1].md']);
    // Present in none of the snapshots, it is read as the glob it looks like.
    expect(
      keep(
        ['docs/[ax]*.md'],
        '/w/ws',
        paths.filter((p) => p !== 'docs/[ax]*.md'),
      ),
    ).toEqual(['docs/a[1].md', 'docs/x.md']);
  });

  it('hostile-pathfilter-glob-redos: a pattern of many stars against long names ends at once', () => {
    const long = `${'a'.repeat(5_000)}/${'a'.repeat(5_000)}`;
    // A backtracking matcher would not return within the test's timeout (vitest's 5 s).
    expect([long].filter(pathFilter([{ path: 'x', glob: '*a*a*a*a*a*a*a*a*a*a*a*a*b' }]))).toEqual([]);
  });
});

describe('diff --stat words', () => {
  it('says a file replaced by a link is a type change, not "binary"', () => {
    expect(statWords({ path: 'H.md', kind: 'type', before: file('H.md'), after: link('H.md', 'R.md') })).toBe('file → link');
  });

  it('says a link whose target changed is a link', () => {
    expect(statWords({ path: 'l', kind: 'modified', before: link('l', 'a'), after: link('l', 'b') })).toBe('link');
    expect(statWords({ path: 'l', kind: 'added', after: link('l', 'a') })).toBe('link');
  });

  it('names why a file has no line counts when its content was not stored', () => {
    const big = file('big.bin', { hash: undefined, why: 'too-large', size: 3e6 });
    expect(statWords({ path: 'big.bin', kind: 'added', after: big })).toBe('not stored (over snapshots.max_file_size)');
  });

  it('says a stored file over the line-diff limit is that, not "binary"', () => {
    const big = (h: string): Entry => file('lib/typescript.js', { size: 9_000_000, hash: h.repeat(64) });
    expect(statWords({ path: 'lib/typescript.js', kind: 'modified', before: big('a'), after: big('b') })).toBe('over 1 MiB, not diffed by line');
  });

  it('leaves a text or binary file to its line counts', () => {
    expect(statWords({ path: 'a', kind: 'modified', before: file('a'), after: file('a', { hash: 'b'.repeat(64) }) })).toBeUndefined();
  });
});

describe('rollback plan of a file recorded without content', () => {
  it('names the one reason it was not stored', () => {
    const m = (entries: Entry[]): Manifest => ({ version: 1, workspace: '/w', createdAt: '', startedAt: 0, entries, skipped: [], skippedCount: 0 });
    const plan = planRestore(m([file('big.bin', { hash: undefined, why: 'too-large', size: 9 })]), m([file('big.bin', { size: 10 })]), () => true);
    expect(plan).toEqual([{ op: 'skip', path: 'big.bin', why: 'its content was not stored: over snapshots.max_file_size' }]);
  });
});

describe('diff of a run with no post-run snapshot yet', () => {
  const rec = (id: string, kind: SnapshotRecord['kind'], createdAt: string): SnapshotRecord => ({
    id,
    kind,
    manifest: id,
    createdAt,
    files: 1,
    bytes: 1,
    added: 0,
    unstored: 0,
  });
  const pre = rec('pre', 'pre', '2026-01-01T00:00:01.000Z');

  it('is shown against the newest snapshot taken by hand since it started, as its hint offers', () => {
    const manual = [rec('m1', 'manual', '2026-01-01T00:00:02.000Z'), rec('m2', 'manual', '2026-01-01T00:00:03.000Z')];
    expect(standIn([pre, ...manual, rec('s', 'safety', '2026-01-01T00:00:04.000Z')], pre)?.id).toBe('m2');
  });

  it('has nothing to be shown against without one', () => {
    expect(standIn([rec('old', 'manual', '2026-01-01T00:00:00.000Z'), pre], pre)).toBeUndefined();
  });
});

describe('the in-place rollback summary', () => {
  it('counts mode changes the plan listed, not only writes and removals', () => {
    expect(restoredSummary({ written: 8, deleted: 6, modes: 1 })).toBe('Restored 8, set the mode of 1 and removed 6 paths');
    expect(restoredSummary({ written: 1, deleted: 0, modes: 0 })).toBe('Restored 1 and removed 0 paths');
  });
});

describe('diff or rollback of a run whose snapshots were pruned', () => {
  it('says prune forgot them, not that snapshots were off', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-pruned-'));
    try {
      const home = new MoatHome(join(dir, 'home'));
      await updateRunSnapshots(home, 'run_0123456789ab', () => ({
        settings: { exclude: [], limits: DEFAULT_LIMITS },
        records: [],
        pruned: '2026-01-01T00:00:00.000Z',
      }));
      const ctx = { home } as unknown as CliContext;
      const meta = { id: 'run_0123456789ab', name: 'old-run' } as RunMetadata;
      await expect(runSnapshotPair(ctx, meta)).rejects.toThrow(/old-run's snapshots were forgotten by moat snapshot prune/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('rollback --to DIR', () => {
  it("rollback-to-proc: a folder /proc will not hold is refused in words (Node's recursive mkdir loops forever there)", async () => {
    await expect(emptyTarget('/proc/1/moat-x/y')).rejects.toThrow(/Could not make the folder \/proc\/1\/moat-x \(ENOENT\)/);
  });

  it('a dry run makes no folder; a file named as the folder is refused in words, not EEXIST or ENOTDIR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-to-'));
    try {
      expect(await emptyTarget(join(dir, 'new', 'deeper'), true)).toBe(join(dir, 'new', 'deeper'));
      expect(await readdir(dir)).toEqual([]);
      await writeFile(join(dir, 'f'), 'x');
      for (const dry of [true, false]) await expect(emptyTarget(join(dir, 'f'), dry)).rejects.toThrow(/f is not a folder; --to writes/);
      await expect(emptyTarget(dir, true)).rejects.toThrow(/is not empty/);
      expect(await emptyTarget(join(dir, 'made'))).toBe(join(dir, 'made'));
      expect(await readdir(join(dir, 'made'))).toEqual([]);
      expect(await emptyTarget(join(dir, 'a', 'b', 'c'))).toBe(join(dir, 'a', 'b', 'c'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('diff --stat columns', () => {
  it('pads paths to the longest (in characters, capped) so the bars line up', () => {
    expect(statWidth(['a.txt', 'deep/er/long-name.txt'])).toBe(21);
    expect(statWidth(['é.txt'])).toBe(5);
    expect(statWidth(['x'.repeat(200)])).toBe(60);
    expect(statWidth([])).toBe(0);
  });
});
