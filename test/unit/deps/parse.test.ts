import { describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { expand, impliedByGrants, parseSpec, suggest } from '../../../src/deps/parse.js';

function errorOf(fn: () => unknown): MoatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MoatError);
    return err as MoatError;
  }
  throw new Error('expected a MoatError');
}

const names = (specs: string[]): string[] => expand(specs).map((d) => (d.version ? `${d.name}@${d.version}` : d.name));

describe('parseSpec', () => {
  it('parses names with and without versions', () => {
    expect(parseSpec('node@20')).toMatchObject({ name: 'node', version: '20' });
    expect(parseSpec('git')).toMatchObject({ name: 'git', version: undefined });
    expect(() => parseSpec(' git ')).toThrow(/space, line break or control character/);
    expect(parseSpec('claude-code@2.1.0')).toMatchObject({ name: 'claude-code', version: '2.1.0' });
    expect(parseSpec('go@1.24')).toMatchObject({ name: 'go', version: '1.24' });
  });

  it('rejects versions outside the allowed list or pattern', () => {
    expect(errorOf(() => parseSpec('node@19')).message).toMatch(/unsupported version "19" for node/);
    expect(errorOf(() => parseSpec('node@19')).hint).toMatch(/18, 20, 22, 24/);
    expect(errorOf(() => parseSpec('bun@1.2')).message).toMatch(/unsupported version/);
    expect(errorOf(() => parseSpec('node@')).message).toMatch(/unsupported version ""/);
  });

  it('rejects a version on an entry without versions, and on bundles', () => {
    expect(errorOf(() => parseSpec('git@2.39')).message).toMatch(/git has no versions/);
    expect(errorOf(() => parseSpec('git@2.39')).hint).toMatch(/apt:<package>=<version>/);
    expect(errorOf(() => parseSpec('node-dev@20')).message).toMatch(/bundle node-dev has no version/);
  });

  it('suggests close names for unknown ones', () => {
    const e = errorOf(() => parseSpec('ripgrap'));
    expect(e.message).toBe('unknown dependency "ripgrap"; did you mean "ripgrep"?');
    expect(e.hint).toBe('moat deps list shows the built-in names ("apt:ripgrap" or "npm:ripgrap" for a Debian or npm package).');
    expect(errorOf(() => parseSpec('pyton@3')).message).toMatch(/did you mean "python"/);
    expect(errorOf(() => parseSpec('nodejs')).message).toMatch(/did you mean "node"/);
    expect(suggest('rg')).toEqual(['ripgrep']);
    expect(suggest('zzzzzzzzzz')).toEqual([]);
  });

  it('rejects unknown prefixes', () => {
    expect(errorOf(() => parseSpec('brew:jq')).message).toMatch(/unknown dependency form "brew:jq"/);
  });
});

describe('dynamic forms', () => {
  it('accepts npm names, scopes, versions, ranges and tags', () => {
    expect(parseSpec('npm:typescript@5.9')).toMatchObject({ name: 'npm:typescript', version: '5.9' });
    expect(parseSpec('npm:@scope/pkg')).toMatchObject({ name: 'npm:@scope/pkg', version: undefined });
    expect(parseSpec('npm:@scope/pkg@^1.2.3')).toMatchObject({ name: 'npm:@scope/pkg', version: '^1.2.3' });
    expect(parseSpec('npm:eslint@next').version).toBe('next');
    expect(parseSpec('npm:a@1.0.0-rc.1+build.5').version).toBe('1.0.0-rc.1+build.5');
  });

  it('accepts apt names and Debian versions', () => {
    expect(parseSpec('apt:postgresql-client')).toMatchObject({ name: 'apt:postgresql-client', version: undefined });
    expect(parseSpec('apt:libstdc++6=12.2.0-14')).toMatchObject({ name: 'apt:libstdc++6', version: '12.2.0-14' });
    expect(parseSpec('apt:redis-tools=5:7.0.15-1~deb12u1').version).toBe('5:7.0.15-1~deb12u1');
  });

  it('accepts pip names and PEP 440 versions', () => {
    expect(parseSpec('pip:requests==2.32.3')).toMatchObject({ name: 'pip:requests', version: '2.32.3' });
    expect(parseSpec('pip:zope.interface')).toMatchObject({ name: 'pip:zope.interface' });
    expect(parseSpec('pip:black==24.1.0rc1').version).toBe('24.1.0rc1');
  });

  const meta = [';', '&', '|', '$', '`', '(', ')', '<', '>', '"', "'", '\\', ' ', '\t', '\n', '*', '?', '[', ']', '{', '}', '!', '#', '%', ','];
  const forms: [string, (m: string) => string[]][] = [
    ['npm', (m) => [`npm:type${m}script`, `npm:typescript@5${m}9`, `npm:@sc${m}ope/x`, `npm:x@${m}`]],
    ['apt', (m) => [`apt:post${m}gres`, `apt:jq=1${m}.6`, `apt:jq@${m}1`]],
    ['pip', (m) => [`pip:req${m}uests`, `pip:requests==2${m}32`]],
    ['built-in', (m) => [`node@2${m}2`, `go@1.${m}24`, `claude-code@2.1${m}.0`, `bun@1.2.3${m}1`, `node${m}@22`]],
  ];
  for (const [form, make] of forms) {
    it(`rejects every shell metacharacter in ${form} forms`, () => {
      for (const m of meta) for (const spec of make(m)) expect(() => parseSpec(spec), JSON.stringify(spec)).toThrow(MoatError);
    });
  }

  it('rejects injections and malformed names', () => {
    for (const spec of [
      'npm:x@1;rm -rf /',
      'npm:$(id)',
      'apt:a',
      'apt:Upper',
      'apt:-x',
      'pip:requests>=2',
      'pip:requests=2',
      'pip:-e',
      'pip:pkg[extra]',
      'npm:',
      'npm:@scope',
      'npm:UPPER',
      'npm:.hidden',
      'npm:x@>=1',
      `npm:${'a'.repeat(215)}`,
    ]) {
      expect(() => parseSpec(spec), spec).toThrow(MoatError);
    }
    expect(errorOf(() => parseSpec('npm:x@1;id')).message).toMatch(/invalid npm package version/);
  });
});

describe('expand', () => {
  it('adds requirements recursively, applies defaults and sorts', () => {
    expect(names(['typescript', 'git'])).toEqual(['git', 'node@22', 'typescript']);
    expect(names(['rust'])).toEqual(['build-essential', 'rust@stable']);
    expect(names(['npm:left-pad@1.3.0'])).toEqual(['node@22', 'npm:left-pad@1.3.0']);
    expect(names(['pip:requests'])).toEqual(['pip:requests', 'python']);
  });

  it('expands bundles into their members and drops the bundle', () => {
    expect(names(['python-dev'])).toEqual(['build-essential', 'git', 'python', 'uv']);
  });

  it('lets an explicit version win over a requirement without one, in any order', () => {
    expect(names(['typescript', 'node@20'])).toEqual(['node@20', 'typescript']);
    expect(names(['node@20', 'typescript'])).toEqual(['node@20', 'typescript']);
    const deps = expand(['typescript', 'node@20']);
    expect(deps.find((d) => d.name === 'node')?.explicit).toBe(true);
    expect(expand(['typescript']).find((d) => d.name === 'node')?.explicit).toBe(false);
  });

  it('dedupes repeated entries', () => {
    expect(names(['git', 'git', 'node@22', 'node@22', 'gh'])).toEqual(['gh', 'git', 'node@22']);
  });

  it('refuses two versions of one dependency', () => {
    const e = errorOf(() => expand(['node@20', 'node@22']));
    expect(e.message).toBe('conflicting versions of node: 20 (from "node@20") and 22 (from "node@22")');
    expect(errorOf(() => expand(['npm:x@1', 'npm:x@2'])).message).toMatch(/conflicting versions of npm:x/);
  });

  it('refuses one package asked for twice in different forms', () => {
    expect(errorOf(() => expand(['typescript', 'npm:typescript@5.9'])).message).toMatch(
      /npm package typescript is asked for twice: typescript@5.9 \(by npm:typescript\) and typescript \(by typescript\)/,
    );
    expect(errorOf(() => expand(['curl', 'apt:curl=7.88.1-10'])).message).toMatch(/apt package curl is asked for twice/);
    expect(names(['typescript', 'npm:typescript'])).toEqual(['node@22', 'npm:typescript', 'typescript']);
  });

  it('returns nothing for nothing', () => {
    expect(expand([])).toEqual([]);
  });
});

describe('impliedByGrants', () => {
  it('maps github to git and gh, ignoring scopes and unrelated grants', () => {
    expect(impliedByGrants(['github'])).toEqual(['gh', 'git']);
    expect(impliedByGrants(['anthropic', 'github:org/repo', 'github'])).toEqual(['gh', 'git']);
    expect(impliedByGrants(['openai'])).toEqual([]);
    expect(impliedByGrants(['ssh:github.com', 'ssh:git.example.test'])).toEqual(['git']);
  });
});
