import { describe, expect, it } from 'vitest';
import { renderTable } from '../../../src/term/table.js';
import { sanitizeForTerminal } from '../../../src/term/sanitize.js';

describe('renderTable', () => {
  it('upper-case headers, columns two spaces apart, no borders, no trailing blanks', () => {
    expect(
      renderTable(
        ['NAME', 'STATE', 'AGE'],
        [
          ['brave-otter', 'running', '3 min ago'],
          ['x', 'stopped (0)', ''],
        ],
      ),
    ).toBe('NAME         STATE        AGE\n' + 'brave-otter  running      3 min ago\n' + 'x            stopped (0)\n');
  });

  it("cuts a long cell with … at the column's maximum and aligns right where asked", () => {
    const out = renderTable(
      [
        { header: 'COMMAND', max: 8 },
        { header: 'N', align: 'right' },
      ],
      [
        ['abcdefghijk', '7'],
        ['ab', '123'],
      ],
    );
    expect(out).toBe('COMMAND     N\nabcdefg…    7\nab        123\n');
  });

  it('colour is added after measuring, so it never shifts a column', () => {
    const red = (s: string): string => `\u001b[31m${s}\u001b[39m`;
    const out = renderTable(
      ['A', 'B'],
      [
        [{ text: 'ok', paint: red }, 'x'],
        ['long-one', 'y'],
      ],
    );
    expect(out.split('\n')[1]).toBe(`${red('ok')}        x`);
    expect(out.split('\n')[2]).toBe('long-one  y');
  });

  it('cell text goes through `safe`: a name with escape sequences cannot drive the terminal or break a row', () => {
    const out = renderTable(['NAME'], [['a\u001b]0;pwn\u0007b\nc']], { safe: sanitizeForTerminal });
    expect(out).toBe('NAME\na^[]0;pwn^Gb c\n');
    expect(out).not.toContain('\u001b');
  });

  it('a table without rows is its header', () => {
    expect(renderTable(['NAME', 'ID'], [])).toBe('NAME  ID\n');
  });
});
