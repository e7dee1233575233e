/**
 * A small, careful TOML writer for the configuration moat stages (strings, numbers, booleans, arrays of
 * scalars, nested tables). Strings are basic strings with every control character escaped, so no value
 * from moat.yaml can break out of its line or its quotes.
 */

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue | undefined;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

export function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\r':
        out += '\\r';
        break;
      default:
        out += c < 0x20 || c === 0x7f ? `\\u${c.toString(16).padStart(4, '0').toUpperCase()}` : ch;
    }
  }
  return `${out}"`;
}

export function tomlKey(k: string): string {
  return BARE_KEY.test(k) ? k : tomlString(k);
}

function isTable(v: TomlValue): v is TomlTable {
  return typeof v === 'object' && !Array.isArray(v);
}

function inlineValue(v: TomlValue, path: string): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`TOML cannot hold ${String(v)} (at ${path})`);
    // An integer past 2^53 is written as a float: TOML integers stop at 2^63 and readers may refuse one
    // they cannot hold exactly (toFixed gives `1e+21` from 1e21 on, also a TOML float).
    return Number.isInteger(v) && !Number.isSafeInteger(v) ? v.toFixed(1) : String(v);
  }
  if (Array.isArray(v)) return `[${v.map((x, i) => inlineValue(x, `${path}[${i}]`)).join(', ')}]`;
  // Tables inside arrays are written inline.
  const parts = Object.entries(v).filter((e): e is [string, TomlValue] => e[1] !== undefined);
  return `{ ${parts.map(([k, x]) => `${tomlKey(k)} = ${inlineValue(x, `${path}.${k}`)}`).join(', ')} }`;
}

/** Encode a table as a TOML document: scalars first, then each sub-table under its `[dotted.header]`. */
export function encodeToml(doc: TomlTable): string {
  const lines: string[] = [];
  const emit = (table: TomlTable, header: string[]): void => {
    const entries = Object.entries(table).filter((e): e is [string, TomlValue] => e[1] !== undefined);
    const scalars = entries.filter(([, v]) => !isTable(v));
    const tables = entries.filter((e): e is [string, TomlTable] => isTable(e[1]));
    if (header.length > 0 && (scalars.length > 0 || tables.length === 0)) {
      if (lines.length > 0) lines.push('');
      lines.push(`[${header.map(tomlKey).join('.')}]`);
    }
    for (const [k, v] of scalars) lines.push(`${tomlKey(k)} = ${inlineValue(v, [...header, k].join('.'))}`);
    for (const [k, v] of tables) emit(v, [...header, k]);
  };
  emit(doc, []);
  return `${lines.join('\n')}\n`;
}
