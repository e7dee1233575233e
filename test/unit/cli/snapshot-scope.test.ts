import { describe, expect, it } from 'vitest';
import { statWords } from '../../../src/cli/diff.js';
import { insideWorkspace, workspacePaths } from '../../../src/cli/snapshot-scope.js';
import type { Entry, Manifest } from '../../../src/snapshot/manifest.js';
import { planRestore } from '../../../src/snapshot/restore.js';

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

describe('workspacePaths', () => {
  it('reads a relative path from the current folder inside the workspace, as git does', () => {
    expect(workspacePaths(['express.js', './router/', '..'], '/w/ws', '/w/ws/lib')).toEqual(['lib/express.js', 'lib/router', '.']);
  });

  it('takes an absolute path inside the workspace', () => {
    expect(workspacePaths(['/w/ws/index.js', '/w/ws'], '/w/ws', '/elsewhere')).toEqual(['index.js', '.']);
  });

  it('reads a relative path from the top of the workspace when the shell is outside it', () => {
    expect(workspacePaths(['src/a.ts'], '/w/ws', '/home/me')).toEqual(['src/a.ts']);
  });

  it('refuses a path outside the workspace, naming it, instead of matching nothing', () => {
    expect(() => workspacePaths(['../../etc/passwd'], '/w/ws', '/w/ws/lib')).toThrow(/\.\.\/\.\.\/etc\/passwd is outside the run's workspace \/w\/ws/);
    expect(() => workspacePaths(['/w/ws2/a'], '/w/ws', '/w/ws')).toThrow(/outside/);
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
