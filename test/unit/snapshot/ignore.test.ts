import { describe, expect, it } from 'vitest';
import { isIgnored, parseIgnoreFile } from '../../../src/snapshot/ignore.js';

describe('gitignore matcher', () => {
  const root = parseIgnoreFile('', ['# comment', 'node_modules/', '*.log', '!keep.log', '/build', 'docs/**/*.tmp', 'a?c', '[xy].txt'].join('\n'));
  it.each([
    ['node_modules', true, true],
    ['node_modules', false, false], // a file of that name: folder-only rule
    ['src/node_modules', true, true],
    ['x.log', false, true],
    ['deep/x.log', false, true],
    ['keep.log', false, false],
    ['build', true, true],
    ['src/build', true, false], // anchored
    ['docs/a/b/c.tmp', false, true],
    ['docs/c.tmp', false, true],
    ['abc', false, true],
    ['x.txt', false, true],
    ['z.txt', false, false],
  ])('%s (dir %s) ignored: %s', (path, dir, want) => {
    expect(isIgnored([root], path, dir)).toBe(want);
  });

  it('a nested file overrides its parent, relative to its own folder', () => {
    const nested = parseIgnoreFile('sub', '!*.log\n/only-here\n');
    expect(isIgnored([root, nested], 'sub/x.log', false)).toBe(false);
    expect(isIgnored([root, nested], 'sub/only-here', false)).toBe(true);
    expect(isIgnored([root, nested], 'other/only-here', false)).toBe(false);
  });
});
