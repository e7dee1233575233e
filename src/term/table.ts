/**
 * The one table style of every listing (`moat list`, `grant list`, `deps list`, sessions, …): upper-case
 * headers, columns two spaces apart, no borders, no trailing blanks, long cells cut with "…". Cell text is
 * passed through `safe` (text a run or a file chose never drives the terminal); colour is added after the
 * width is measured, so it never shifts a column.
 */
export interface Column {
  header: string;
  /** Longest cell, in characters, before it is cut with "…". */
  max?: number;
  align?: 'left' | 'right';
}

/** A cell: its text, and optionally a colour applied to the padded-free text (picocolors, for instance). */
export type Cell = string | { text: string; paint?: (s: string) => string };

export interface TableOptions {
  /** Makes a cell safe to print (forOut); the identity by default. */
  safe?: (s: string) => string;
}

const width = (s: string): number => [...s].length;

function cut(s: string, max: number | undefined): string {
  if (max === undefined || width(s) <= max) return s;
  return `${[...s].slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** The table as text, one line per row after the header, ending with a newline. */
export function renderTable(columns: ReadonlyArray<string | Column>, rows: ReadonlyArray<ReadonlyArray<Cell>>, opts: TableOptions = {}): string {
  const safe = opts.safe ?? ((s: string) => s);
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const body = rows.map((row) =>
    cols.map((c, i) => {
      const cell = row[i] ?? '';
      const raw = typeof cell === 'string' ? cell : cell.text;
      const text = cut(safe(raw.replace(/\s*\n\s*/g, ' ')), c.max);
      return { text, paint: typeof cell === 'string' ? undefined : cell.paint };
    }),
  );
  const widths = cols.map((c, i) => Math.max(width(c.header), ...body.map((r) => width(r[i]?.text ?? ''))));
  const line = (cells: Array<{ text: string; paint?: ((s: string) => string) | undefined }>): string =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - width(cell.text));
        const shown = cell.paint ? cell.paint(cell.text) : cell.text;
        return cols[i]?.align === 'right' ? pad + shown : shown + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => ({ text: c.header }))), ...body.map(line)].map((l) => `${l}\n`).join('');
}
