/**
 * Did-you-mean for what users type (commands, keys, grants, providers) and for the forgotten `--` before
 * a container command, and the parsers that refuse bad flag values while the command line is read.
 */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { closest, didYouMean } from '../../../src/suggest.js';
import { forgottenDashDash, moatCommanderText, type CommandShape } from '../../../src/cli/input-errors.js';
import { decimalNumber, traceStatus, wholeNumber } from '../../../src/cli/flag-values.js';
import { cpusProblem } from '../../../src/config/rules.js';

describe('closest / didYouMean', () => {
  const commands = ['run', 'list', 'logs', 'grant', 'destroy', 'clean', 'claude', 'codex'];
  it('suggests a likely typo, ignoring case', () => {
    expect(closest('lsit', commands)).toBe('list');
    expect(closest('Grnat', commands)).toBe('grant');
    expect(closest('detsroy', commands)).toBe('destroy');
    expect(didYouMean('githb', ['github', 'anthropic', 'openai'], 'moat grant {}')).toBe('did you mean: moat grant github');
  });
  it('suggests nothing for an unrelated word or a short one wholly different', () => {
    expect(closest('xyzzy', commands)).toBeUndefined();
    expect(closest('q', commands)).toBeUndefined();
    expect(didYouMean('banana', ['github'])).toBeUndefined();
  });
});

describe('forgottenDashDash', () => {
  const run: CommandShape = {
    name: 'run',
    flag: (f) => (['-e', '--env', '-n', '--name', '--memory'].includes(f) ? 'value' : ['-d', '--detach', '-i'].includes(f) ? 'switch' : undefined),
  };
  const dirs = new Set(['.', 'proj']);
  const isDir = (p: string): boolean => dirs.has(p);
  it('moat run ls -la → moat run -- ls -la', () => {
    expect(forgottenDashDash(run, ['ls', '-la'], isDir)).toBe('did you mean: moat run -- ls -la');
  });
  it('keeps moat flags and their values before --', () => {
    expect(forgottenDashDash(run, ['-e', 'A=1', '-d', 'echo', 'hi'], isDir)).toBe('did you mean: moat run -e A=1 -d -- echo hi');
    expect(forgottenDashDash(run, ['--name=x', 'echo', 'hi'], isDir)).toBe('did you mean: moat run --name=x -- echo hi');
  });
  it('an existing directory stays the workspace', () => {
    expect(forgottenDashDash(run, ['proj', 'make', 'test'], isDir)).toBe('did you mean: moat run proj -- make test');
    expect(forgottenDashDash(run, ['proj'], isDir)).toBeUndefined();
  });
  it('quotes what the shell would split', () => {
    expect(forgottenDashDash(run, ['echo', 'a b'], isDir)).toBe("did you mean: moat run -- echo 'a b'");
  });
  it("nothing when -- is there, when no operand follows, or when an unknown flag comes first (a typo of moat's own)", () => {
    expect(forgottenDashDash(run, ['--', 'ls'], isDir)).toBeUndefined();
    expect(forgottenDashDash(run, ['-d'], isDir)).toBeUndefined();
    expect(forgottenDashDash(run, ['--nme', 'x'], isDir)).toBeUndefined();
  });
});

describe('moatCommanderText', () => {
  it("one prefix, and commander's suggestion as a moat command line", () => {
    expect(moatCommanderText("error: unknown command 'lsit'\n(Did you mean list?)\n", [])).toBe("moat: unknown command 'lsit'\n  did you mean: moat list\n");
    expect(moatCommanderText("error: unknown command 'lst'\n(Did you mean one of list, ls?)\n", [])).toBe(
      "moat: unknown command 'lst'\n  did you mean: one of moat list, moat ls\n",
    );
    expect(moatCommanderText("error: unknown command 'shw'\n(Did you mean show?)\n", ['trust'])).toBe(
      "moat: unknown command 'shw'\n  did you mean: moat trust show\n",
    );
    expect(moatCommanderText("error: unknown option '--nme'\n(Did you mean --name?)\n", ['run'])).toBe(
      "moat: unknown option '--nme'\n  did you mean: --name\n",
    );
  });
});

describe('flag value parsers', () => {
  const refuses = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      return (err as Error).message;
    }
    throw new Error('expected a refusal');
  };
  it('wholeNumber: digits only, in range', () => {
    expect(wholeNumber(0)('25')).toBe(25);
    expect(refuses(() => wholeNumber(0)('abc'))).toBe('Expected a whole number of 0 or more.');
    for (const v of ['-1', '1.5', '1e3', '0x10', '', '10abc']) expect(() => wholeNumber(0)(v), v).toThrow(InvalidArgumentError);
    expect(refuses(() => wholeNumber(16, 100)('8'))).toBe('Expected a whole number from 16 to 100.');
  });
  it("decimalNumber: --cpus with the schema's rule", () => {
    const cpus = decimalNumber(cpusProblem);
    expect(cpus('1.5')).toBe(1.5);
    expect(cpus('.5')).toBe(0.5);
    expect(refuses(() => cpus('abc'))).toBe('Expected a number, e.g. 1.5.');
    expect(refuses(() => cpus('0'))).toBe('Expected a number of CPUs of at least 0.01, e.g. 2 or 0.5.');
    expect(() => cpus('Infinity')).toThrow(InvalidArgumentError);
  });
  it('traceStatus: a code, a class or blocked', () => {
    expect(traceStatus('200')).toBe('200');
    expect(traceStatus('4XX')).toBe('4xx');
    expect(traceStatus('blocked')).toBe('blocked');
    expect(refuses(() => traceStatus('bogus'))).toBe('Expected a status code (200), a class of codes (4xx) or "blocked".');
    expect(() => traceStatus('9xx')).toThrow(InvalidArgumentError);
  });
});
