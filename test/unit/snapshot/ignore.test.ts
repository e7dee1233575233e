import { describe, expect, it } from 'vitest';
import { MatchBudget } from '../../../src/snapshot/glob.js';
import { MoatError } from '../../../src/errors.js';
import { isIgnored, parseIgnoreFile, parseRule } from '../../../src/snapshot/ignore.js';

const budget = (): MatchBudget => new MatchBudget();

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
    expect(isIgnored([root], path, dir, budget())).toBe(want);
  });

  it('a nested file overrides its parent, relative to its own folder', () => {
    const nested = parseIgnoreFile('sub', '!*.log\n/only-here\n');
    expect(isIgnored([root, nested], 'sub/x.log', false, budget())).toBe(false);
    expect(isIgnored([root, nested], 'sub/only-here', false, budget())).toBe(true);
    expect(isIgnored([root, nested], 'other/only-here', false, budget())).toBe(false);
  });

  it.each([
    ['**/foo', 'foo', true],
    ['**/foo', 'a/b/foo', true],
    ['foo/**', 'foo/a/b', true],
    ['foo/**', 'foo', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['a/*', 'a/b/c', false],
    ['a**b/c', 'axyb/c', true],
    ['a**b/c', 'ax/yb/c', false],
    ['x/[!a]', 'x/b', true],
    ['x/[!a]', 'x/a', false],
    ['x/[^a]', 'x//', false],
    ['x/[a-c]z', 'x/bz', true],
    ['x/[a-c]z', 'x/dz', false],
    ['x/\\*', 'x/*', true],
    ['x/\\*', 'x/y', false],
    ['x/[ab', 'x/[ab', true],
    ['x/?', 'x//', false],
  ])('%s against %s: %s', (pattern, path, want) => {
    expect(isIgnored([parseIgnoreFile('', pattern)], path, false, budget())).toBe(want);
  });

  it('a backwards range is a malformed line, ignored as git does', () => {
    expect(parseRule('[z-a]')).toBeUndefined();
  });

  it('ATTACK: a pattern that makes a regular expression backtrack for days costs at most the name times the pattern', () => {
    const name = 'a'.repeat(255);
    const hostile = parseIgnoreFile('', '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n');
    const b = budget();
    const before = b.left;
    expect(isIgnored([hostile], name, false, b)).toBe(false);
    // 37 steps in the pattern, 255 characters: a bound on the work, whatever the machine's speed.
    expect(before - b.left).toBeLessThanOrEqual(255 * 38);
    expect(isIgnored([hostile], `${name}b`, false, budget())).toBe(true);
  });

  it("ATTACK: rules and names without end exhaust the walk's budget: a refusal with the fix, not a hang", () => {
    const many = parseIgnoreFile('', Array.from({ length: 2000 }, (_, i) => `*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*${i}`).join('\n'));
    const b = new MatchBudget(5_000_000);
    let err: unknown;
    try {
      for (let i = 0; i < 1000; i++) isIgnored([many], 'a'.repeat(200 + (i % 50)), false, b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).hint).toContain('snapshots.exclude');
  });
});
