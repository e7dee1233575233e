import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellQuote, shellWord } from '../../src/shell.js';

/** What `sh` makes of a command line: its words, each ended by a NUL (printf '%s\0'). */
function splitBySh(line: string): string[] {
  return execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' })
    .split('\0')
    .slice(0, -1);
}

describe('shell quoting', () => {
  it('leaves plain words as they are and quotes the rest', () => {
    expect(shellWord('moat')).toBe('moat');
    expect(shellWord('--name=a,b:c/d@e%f+g.h_i-j')).toBe('--name=a,b:c/d@e%f+g.h_i-j');
    expect(shellWord('')).toBe("''");
    expect(shellWord('my dir')).toBe("'my dir'");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('plain')).toBe("'plain'");
  });

  it('round-trips every hostile word through a real sh', () => {
    const words = ['a b', "it's", '$HOME', '`id`', '$(id)', 'a;b', 'a&&b', '*', '~', '!x', '"q"', 'back\\slash', 'new\nline', "''", '', 'tab\there', '#c', 'ü'];
    expect(splitBySh(shellJoin(words))).toEqual(words);
    for (const w of words) expect(splitBySh(shellQuote(w))).toEqual([w]);
  });
});
