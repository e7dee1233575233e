/**
 * What changed in moat.yaml's guarded settings, in a form a person can review: a summary of one line per
 * changed setting with counts (the dangerous kinds first, long lists folded) for the approval question,
 * and the full list for `moat trust show`. Every value is shown escaped (no control or bidi characters
 * from the file reach the terminal) and cut to a bounded width, so no entry can hide another.
 */
import { canonical, changedSettings, DEFAULT_SETTINGS, type GuardedSettings } from './trust-settings.js';
import { specSource } from './mount-sources.js';

export interface SettingChange {
  key: string;
  /** Entries added and removed (lists and mappings), described for a reader. */
  added: string[];
  removed: string[];
  /** A single value that changed (scalars), described. */
  before?: string;
  after?: string;
  /** Mounts whose text is unchanged but whose real source moved. */
  redirected: Array<{ spec: string; from: string; to: string }>;
}

export interface RenderOptions {
  /** Shown as "~" in host paths. */
  homeDir: string;
  /** Entries named per line in the summary before folding (default 3). */
  maxItems?: number;
}

const MAX_ITEM = 100;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value from the file made safe to print: control, format (bidi) and line characters escaped, length bounded. */
export function displayText(s: string, max = MAX_ITEM): string {
  const escaped = s.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

function tilde(p: string, homeDir: string): string {
  return homeDir && (p === homeDir || p.startsWith(`${homeDir}/`)) ? `~${p.slice(homeDir.length)}` : p;
}

interface MountLike { spec: string; source: string; target: string; readOnly: boolean; outside?: boolean }
const asMount = (v: unknown): MountLike | undefined =>
  isRecord(v) && typeof v.spec === 'string' && typeof v.source === 'string' && typeof v.target === 'string'
    ? { spec: v.spec, source: v.source, target: v.target, readOnly: v.readOnly === true, ...(v.outside === true ? { outside: true } : {}) }
    : undefined;

function describeMount(m: MountLike, homeDir: string): string {
  const src = displayText(tilde(m.source, homeDir));
  const note = m.outside ? `; ${displayText(specSource(m.spec), 40)} is in the workspace but resolves outside it` : '';
  return `${src} → ${displayText(m.target, 60)}, ${m.readOnly ? 'read-only' : 'writable'}${note}`;
}

function describeItem(key: string, v: unknown, homeDir: string): string {
  if (key === 'mounts') {
    const m = asMount(v);
    if (m) return describeMount(m, homeDir);
  }
  if (typeof v === 'string') return displayText(v);
  if (key === 'network.rules' && isRecord(v)) {
    return Object.entries(v).map(([host, rules]) => `${displayText(host)} (${Array.isArray(rules) ? rules.length : 0} rules: ${displayText(canonical(rules), 60)})`).join(', ');
  }
  return displayText(canonical(v));
}

function describeScalar(v: unknown): string {
  if (v === null || v === undefined) return '(not set)';
  return typeof v === 'string' ? displayText(v) : displayText(canonical(v));
}

interface Entry { raw: unknown; text: string }

/** Lists compare by entry, mappings by key: value; anything else (undefined) is one value. */
function entries(key: string, v: unknown, homeDir: string): Map<string, Entry> | undefined {
  if (Array.isArray(v)) return new Map(v.map((x) => [canonical(x), { raw: x, text: describeItem(key, x, homeDir) }]));
  if (!isRecord(v)) return undefined;
  const text = (k: string, x: unknown): string => (key === 'claude.plugins'
    ? `${displayText(k)} (${x === true ? 'enabled' : x === false ? 'disabled' : displayText(canonical(x))})`
    : `${displayText(k, 40)}: ${displayText(canonical(x))}`);
  return new Map(Object.entries(v).map(([k, x]) => [canonical({ [k]: x }), { raw: x, text: text(k, x) }]));
}

/** The changes from `before` (undefined: nothing approved yet, i.e. the defaults) to `after`. */
export function diffSettings(before: GuardedSettings | undefined, after: GuardedSettings, opts: RenderOptions): SettingChange[] {
  const base = before ?? DEFAULT_SETTINGS;
  return changedSettings(base, after).map((key): SettingChange => {
    const a = entries(key, base[key], opts.homeDir);
    const b = entries(key, after[key], opts.homeDir);
    if (!a || !b) return { key, added: [], removed: [], before: describeScalar(base[key]), after: describeScalar(after[key]), redirected: [] };
    const redirected: SettingChange['redirected'] = [];
    const addedKeys = [...b.keys()].filter((k) => !a.has(k));
    const removedKeys = [...a.keys()].filter((k) => !b.has(k));
    if (key === 'mounts') {
      // The same text now reaching another real path: a link planted on the way, shown as such.
      for (const k of [...addedKeys]) {
        const now = asMount(b.get(k)?.raw);
        const was = removedKeys.find((r) => now !== undefined && asMount(a.get(r)?.raw)?.spec === now.spec);
        const wasMount = was === undefined ? undefined : asMount(a.get(was)?.raw);
        if (!now || was === undefined || !wasMount) continue;
        redirected.push({ spec: now.spec, from: wasMount.source, to: now.source });
        addedKeys.splice(addedKeys.indexOf(k), 1);
        removedKeys.splice(removedKeys.indexOf(was), 1);
      }
    }
    const texts = (m: Map<string, Entry>, keys: string[]): string[] => keys.map((k) => m.get(k)?.text ?? '');
    return { key, added: texts(b, addedKeys), removed: texts(a, removedKeys), redirected };
  });
}

const UNITS: Record<string, [string, string]> = { 'network.rules': ['host', 'hosts'], 'network.deny': ['host', 'hosts'] };

function counted(key: string, sign: '+' | '-', n: number): string {
  const unit = UNITS[key];
  return `${sign}${n}${unit ? ` ${n === 1 ? unit[0] : unit[1]}` : ''}`;
}

function folded(items: readonly string[], max: number): { text: string; folded: boolean } {
  const shown = items.slice(0, max);
  const more = items.length - shown.length;
  return { text: `${shown.join('; ')}${more > 0 ? `; … ${more} more` : ''}`, folded: more > 0 };
}

/** One line per changed setting (more for redirected mounts), dangerous first; `folded` says whether anything was left out. */
export function summaryLines(changes: readonly SettingChange[], opts: RenderOptions): { lines: string[]; folded: boolean } {
  const max = opts.maxItems ?? 3;
  let anyFolded = false;
  const lines: string[] = [];
  for (const c of changes) {
    const redirects = c.redirected.slice(0, max);
    for (const r of redirects) {
      lines.push(`${c.key}: ${displayText(specSource(r.spec), 40)} now resolves to ${displayText(tilde(r.to, opts.homeDir))} (approved: ${displayText(tilde(r.from, opts.homeDir))})`);
    }
    if (c.redirected.length > redirects.length) {
      anyFolded = true;
      lines.push(`${c.key}: … ${c.redirected.length - redirects.length} more sources resolve elsewhere`);
    }
    if (c.before !== undefined || c.after !== undefined) {
      lines.push(`${c.key}: ${c.before ?? ''} → ${c.after ?? ''}`);
      continue;
    }
    const parts: string[] = [];
    if (c.added.length > 0) {
      const f = folded(c.added, max);
      anyFolded ||= f.folded;
      parts.push(`${counted(c.key, '+', c.added.length)} (${f.text})`);
    }
    if (c.removed.length > 0) {
      const f = folded(c.removed, max);
      anyFolded ||= f.folded;
      parts.push(`${counted(c.key, '-', c.removed.length)} (${f.text})`);
    }
    if (parts.length > 0) lines.push(`${c.key}: ${parts.join(', ')}`);
  }
  return { lines, folded: anyFolded };
}

/** Every change, every entry: what `moat trust show` prints. */
export function fullLines(changes: readonly SettingChange[], opts: RenderOptions): string[] {
  const lines: string[] = [];
  for (const c of changes) {
    lines.push(`${c.key}:`);
    for (const r of c.redirected) lines.push(`  ~ ${displayText(r.spec)}: ${displayText(tilde(r.from, opts.homeDir))} → ${displayText(tilde(r.to, opts.homeDir))}`);
    if (c.before !== undefined || c.after !== undefined) lines.push(`  ${c.before ?? ''} → ${c.after ?? ''}`);
    for (const a of c.added) lines.push(`  + ${a}`);
    for (const r of c.removed) lines.push(`  - ${r}`);
  }
  return lines;
}
