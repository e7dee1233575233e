/**
 * What changed in moat.yaml's guarded settings, in a form a person can review: a line diff in the file's
 * own YAML-ish form (`- old line` / `+ new line`, under the setting's name), the dangerous kinds first.
 * The approval question shows a few entries per setting (long lists folded); `moat trust show` shows every
 * one. Every value is shown escaped (no control or bidi characters from the file reach the terminal) and
 * cut to a bounded width, so no entry can hide another.
 */
import { canonical, changedSettings, DEFAULT_SETTINGS, type GuardedSettings, type MountEntry } from './trust-settings.js';
import { specSource } from './mount-sources.js';
import { tildePath } from '../term/home-path.js';

/** One entry of a list or mapping as YAML-ish lines (a list item starts with "- "). */
export type Block = string[];

export interface SettingChange {
  key: string;
  /** Entries added and removed (lists and mappings). */
  added: Block[];
  removed: Block[];
  /** A single value that changed (scalars), YAML-ish; undefined: not set. */
  scalar?: { before?: string; after?: string };
  /** Mounts whose text is unchanged but whose real source moved, with their lines before and after. */
  redirected: Array<{ spec: string; from: string; to: string; before: Block; after: Block }>;
}

export interface RenderOptions {
  /** Shown as "~" in host paths. */
  homeDir: string;
  /** Entries shown per setting and side in the summary before folding (default 3). */
  maxItems?: number;
}

const MAX_ITEM = 100;
/** Lines of one entry shown in the summary (a host with many rules). */
const MAX_BLOCK_LINES = 4;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value from the file made safe to print: control, format (bidi) and line characters escaped, length bounded. */
export function displayText(s: string, max = MAX_ITEM): string {
  const escaped = s.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

const tilde = (p: string, homeDir: string): string => tildePath(p, homeDir);

const asMount = (v: unknown): MountEntry | undefined =>
  isRecord(v) && typeof v.spec === 'string' && typeof v.source === 'string' && typeof v.target === 'string'
    ? { spec: v.spec, source: v.source, target: v.target, readOnly: v.readOnly === true, ...(v.outside === true ? { outside: true } : {}) }
    : undefined;

function describeMount(m: MountEntry, homeDir: string): string {
  const src = displayText(tilde(m.source, homeDir));
  const note = m.outside ? `; ${displayText(specSource(m.spec), 40)} is in the workspace but resolves outside it` : '';
  return `${src} → ${displayText(m.target, 60)}, ${m.readOnly ? 'read-only' : 'writable'}${note}`;
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v === '' ? "''" : displayText(v);
  return displayText(canonical(v));
}

const isLeaf = (v: unknown): boolean => !(Array.isArray(v) && v.length > 0) && !(isRecord(v) && Object.keys(v).length > 0);

/** A value as YAML-ish lines: `- item` for list entries, `key: value` / `key:` + indented lines for mappings. */
export function yamlLines(v: unknown): string[] {
  if (Array.isArray(v)) return v.length === 0 ? ['[]'] : v.flatMap(listItem);
  if (isRecord(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return ['{}'];
    return keys.flatMap((k) => {
      const x = v[k];
      const inner = yamlLines(x);
      return isLeaf(x) ? [`${displayText(k, 40)}: ${inner[0] ?? ''}`] : [`${displayText(k, 40)}:`, ...inner.map((l) => `  ${l}`)];
    });
  }
  return [scalarText(v)];
}

function listItem(x: unknown): string[] {
  const [first = '', ...more] = yamlLines(x);
  return [`- ${first}`, ...more.map((l) => `  ${l}`)];
}

function blockOf(key: string, x: unknown, homeDir: string): Block {
  const m = key === 'mounts' ? asMount(x) : undefined;
  return m ? [`- ${describeMount(m, homeDir)}`] : listItem(x);
}

/** Lists compare by entry, mappings by key: value; anything else (undefined) is one value. */
function entries(key: string, v: unknown, homeDir: string): Map<string, { raw: unknown; block: Block }> | undefined {
  if (Array.isArray(v)) return new Map(v.map((x) => [canonical(x), { raw: x, block: blockOf(key, x, homeDir) }]));
  if (!isRecord(v)) return undefined;
  return new Map(Object.entries(v).map(([k, x]) => [canonical({ [k]: x }), { raw: x, block: yamlLines({ [k]: x }) }]));
}

/** The changes from `before` (undefined: nothing approved yet, i.e. the defaults) to `after`. */
export function diffSettings(before: GuardedSettings | undefined, after: GuardedSettings, opts: RenderOptions): SettingChange[] {
  const base = before ?? DEFAULT_SETTINGS;
  return changedSettings(base, after).map((key): SettingChange => {
    const a = entries(key, base[key], opts.homeDir);
    const b = entries(key, after[key], opts.homeDir);
    if (!a || !b) {
      const text = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : yamlLines(v).join(' '));
      const was = text(base[key]);
      const now = text(after[key]);
      return {
        key,
        added: [],
        removed: [],
        scalar: { ...(was !== undefined ? { before: was } : {}), ...(now !== undefined ? { after: now } : {}) },
        redirected: [],
      };
    }
    const redirected: SettingChange['redirected'] = [];
    const addedKeys = [...b.keys()].filter((k) => !a.has(k));
    const removedKeys = [...a.keys()].filter((k) => !b.has(k));
    if (key === 'mounts') {
      // The same text now reaching another real path: a link planted on the way, shown as a pair.
      for (const k of [...addedKeys]) {
        const now = asMount(b.get(k)?.raw);
        const was = removedKeys.find((r) => now !== undefined && asMount(a.get(r)?.raw)?.spec === now.spec);
        const wasMount = was === undefined ? undefined : asMount(a.get(was)?.raw);
        if (!now || was === undefined || !wasMount) continue;
        redirected.push({ spec: now.spec, from: wasMount.source, to: now.source, before: a.get(was)?.block ?? [], after: b.get(k)?.block ?? [] });
        addedKeys.splice(addedKeys.indexOf(k), 1);
        removedKeys.splice(removedKeys.indexOf(was), 1);
      }
    }
    const blocks = (m: Map<string, { block: Block }>, keys: string[]): Block[] => keys.map((k) => m.get(k)?.block ?? []);
    return { key, added: blocks(b, addedKeys), removed: blocks(a, removedKeys), redirected };
  });
}

/** A block's lines with the diff sign; `maxLines` cuts a long entry with a "…" line. */
function signed(sign: '+' | '-', block: Block, maxLines = Infinity): string[] {
  const shown = block.length > maxLines ? [...block.slice(0, maxLines - 1), `  … ${block.length - maxLines + 1} more lines`] : block;
  return shown.map((l) => `${sign}   ${l}`);
}

interface Limits {
  items: number;
  lines: number;
}

function render(changes: readonly SettingChange[], limits: Limits | undefined): { lines: string[]; folded: boolean } {
  let folded = false;
  const lines: string[] = [];
  const side = (sign: '+' | '-', blocks: readonly Block[]): void => {
    const shown = limits ? blocks.slice(0, limits.items) : blocks;
    for (const b of shown) {
      if (limits && b.length > limits.lines) folded = true;
      lines.push(...signed(sign, b, limits?.lines));
    }
    if (blocks.length > shown.length) {
      folded = true;
      lines.push(`${sign}   … ${blocks.length - shown.length} more`);
    }
  };
  for (const c of changes) {
    if (c.scalar) {
      if (c.scalar.before !== undefined) lines.push(`- ${c.key}: ${c.scalar.before}`);
      if (c.scalar.after !== undefined) lines.push(`+ ${c.key}: ${c.scalar.after}`);
      continue;
    }
    lines.push(`  ${c.key}:`);
    const pairs = limits ? c.redirected.slice(0, limits.items) : c.redirected;
    for (const r of pairs) lines.push(...signed('-', r.before), ...signed('+', r.after));
    if (c.redirected.length > pairs.length) {
      folded = true;
      lines.push(`~   … ${c.redirected.length - pairs.length} more sources resolve elsewhere`);
    }
    side('-', c.removed);
    side('+', c.added);
  }
  return { lines, folded };
}

/**
 * The approval question's diff: each changed setting with a few entries per side (long lists and long
 * entries folded), dangerous settings first; `folded` says whether anything was left out.
 */
export function summaryLines(changes: readonly SettingChange[], opts: RenderOptions): { lines: string[]; folded: boolean } {
  return render(changes, { items: opts.maxItems ?? 3, lines: MAX_BLOCK_LINES });
}

/** Every change, every entry: what `moat trust show` prints. */
export function fullLines(changes: readonly SettingChange[], _opts: RenderOptions): string[] {
  return render(changes, undefined).lines;
}
