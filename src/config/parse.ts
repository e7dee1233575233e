/**
 * YAML text -> validated value, or a MoatError whose every line reads `FILE:LINE:COL: field: what is wrong`.
 *
 * yaml's parseDocument keeps the node tree with source ranges; LineCounter turns offsets into line:col.
 * zod reports paths, so each issue's path is walked back through the node tree to find its position.
 * zod's `.strict()` reports unknown keys at the parent's path; we point at each unknown key instead,
 * with a "did you mean" suggestion from the known keys of that object.
 */
import { closest } from '../suggest.js';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { MoatError } from '../errors.js';

export interface ConfigProblem {
  line: number;
  col: number;
  /** Field path such as `container.cpus` or `mounts[1]`; empty for syntax errors. */
  path: string;
  message: string;
}

type Segment = PropertyKey;
type Issue = z.core.$ZodIssue;

/** Parses and validates `text`; throws a MoatError listing every problem with its position. */
export function parseConfigText<S extends z.ZodType>(text: string, schema: S, displayName: string): z.infer<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined): { line: number; col: number } => lineCounter.linePos(offset ?? 0);

  if (doc.errors.length > 0) {
    // One problem per position: yaml often reports a follow-on error at the same spot.
    const seen = new Set<string>();
    const problems = doc.errors
      .map((e) => ({ ...pos(e.pos[0]), path: '', message: `YAML syntax error: ${firstLine(e.message)}` }))
      .filter((p) => !seen.has(`${p.line}:${p.col}`) && seen.add(`${p.line}:${p.col}`));
    throw configError(displayName, problems);
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw configError(displayName, [{ line: 1, col: 1, path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }]);
  }

  const result = schema.safeParse(data);
  if (result.success) return result.data;

  const problems = flattenIssues(result.error.issues, []).flatMap((issue) => describeIssue(issue, { doc, data, schema, pos }));
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  throw configError(displayName, problems);
}

/** Where the value at `path` (`['container', 'cpus']`) is written in `text`, or undefined when it is not. */
export function positionOf(text: string, path: readonly string[]): { line: number; col: number } | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) return undefined;
  const where = locate(doc, path);
  const node = where.found ? (where.value ?? where.key) : null;
  return node?.range ? lineCounter.linePos(node.range[0]) : undefined;
}

/** Builds the one error thrown for a bad config file. */
function configError(displayName: string, problems: ConfigProblem[]): MoatError {
  const lines = problems.map((p) => `  ${displayName}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`);
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new MoatError(`${displayName} is invalid (${count}):\n${lines.join('\n')}`, {
    code: 'E_CONFIG',
    hint: `Fix ${displayName} at the positions above. Editors validate it with the modeline "# yaml-language-server: $schema=<path or URL>/moat.schema.json".`,
  });
}

interface Context {
  doc: Document;
  data: unknown;
  schema: z.ZodType;
  pos: (offset: number | undefined) => { line: number; col: number };
}

/** Unions report every branch's failure; keep the one branch that matched the value's shape, if any. */
function flattenIssues(issues: readonly Issue[], prefix: Segment[]): Issue[] {
  return issues.flatMap((issue): Issue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const shapeMatched = issue.errors.filter((branch) => !(branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0));
      if (shapeMatched.length === 1 && shapeMatched[0]) return flattenIssues(shapeMatched[0], path);
    }
    return [{ ...issue, path }];
  });
}

function describeIssue(issue: Issue, ctx: Context): ConfigProblem[] {
  const where = locate(ctx.doc, issue.path);
  const at = (node: Node | null | undefined) => ctx.pos(node?.range?.[0]);

  if (issue.code === 'unrecognized_keys') {
    const known = objectKeysAt(ctx.schema, issue.path);
    return issue.keys.map((key) => {
      const keyWhere = locate(ctx.doc, [...issue.path, key]);
      const suggestion = suggest(key, known);
      const message = `unknown key "${key}"${suggestion ? `, did you mean "${suggestion}"?` : ''}`;
      return { ...at(keyWhere.key ?? where.deepest), path: formatPath([...issue.path, key]), message };
    });
  }
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0]?.message ?? issue.message;
    return [{ ...at(where.key ?? where.deepest), path: formatPath(issue.path), message: inner }];
  }
  if (issue.code === 'invalid_type' && issue.expected === 'never') {
    // A key that must not be set at all (notSupportedYet in schema.ts): point at the key.
    return [{ ...at(where.key ?? where.deepest), path: formatPath(issue.path), message: issue.message }];
  }
  if (issue.code === 'invalid_type') {
    const value = valueAt(ctx.data, issue.path);
    if (!where.found && value === undefined) {
      const last = issue.path[issue.path.length - 1];
      return [{ ...at(where.deepest), path: formatPath(issue.path.slice(0, -1)), message: `missing required field "${String(last)}"` }];
    }
    let message = `expected ${typeName(issue.expected)}, got ${describeValue(value)}`;
    if (issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
      message += ` (quote it: "${String(value)}")`;
    }
    return [{ ...at(where.value ?? where.key ?? where.deepest), path: formatPath(issue.path), message }];
  }
  return [{ ...at(where.value ?? where.key ?? where.deepest), path: formatPath(issue.path), message: lowerFirst(issue.message) }];
}

interface Located {
  /** True when every path segment exists in the document. */
  found: boolean;
  key: Node | null;
  value: Node | null;
  /** The deepest node reached: the target itself, or the nearest existing ancestor. */
  deepest: Node | null;
}

/** Walks a zod path through the YAML node tree. */
function locate(doc: Document, path: readonly Segment[]): Located {
  let current: unknown = doc.contents;
  let key: Node | null = null;
  let deepest: Node | null = (doc.contents as Node | null) ?? null;
  for (const seg of path) {
    if (isAlias(current)) current = current.resolve(doc);
    if (isMap(current)) {
      const pair = current.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return { found: false, key: null, value: null, deepest };
      key = isScalar(pair.key) ? pair.key : null;
      current = pair.value;
    } else if (isSeq(current)) {
      key = null;
      current = current.items[Number(seg)];
      if (current === undefined) return { found: false, key: null, value: null, deepest };
    } else {
      return { found: false, key: null, value: null, deepest };
    }
    const node = (current as Node | null) ?? key;
    if (node) deepest = node;
  }
  return { found: true, key, value: (current as Node | null) ?? null, deepest };
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** The keys a `.strict()` object at `path` accepts, found by walking the zod schema. */
function objectKeysAt(schema: z.ZodType, path: readonly Segment[]): string[] {
  let cur: z.core.$ZodType | undefined = schema;
  for (const seg of path) {
    cur = cur === undefined ? undefined : childSchema(cur, seg);
  }
  const obj = cur === undefined ? undefined : unwrap(cur);
  return obj instanceof z.ZodObject ? Object.keys(obj.shape) : [];
}

function unwrap(t: z.core.$ZodType): z.core.$ZodType {
  let cur = t;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable || cur instanceof z.ZodDefault) cur = cur.unwrap();
  return cur;
}

function childSchema(t: z.core.$ZodType, seg: Segment): z.core.$ZodType | undefined {
  const cur = unwrap(t);
  if (cur instanceof z.ZodObject) return (cur.shape as Record<string, z.core.$ZodType>)[String(seg)];
  if (cur instanceof z.ZodRecord) return cur.valueType;
  if (cur instanceof z.ZodArray) return cur.element;
  if (cur instanceof z.ZodUnion) {
    for (const option of cur.options as readonly z.core.$ZodType[]) {
      const child = childSchema(option, seg);
      if (child) return child;
    }
  }
  return undefined;
}

/** The closest known key, if it is close enough to be a likely typo. */
export const suggest = closest;

/** `container.cpus`, `mounts[1]`, `ports["8080"]`. */
function formatPath(path: readonly Segment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(String(seg))) out += out ? `.${String(seg)}` : String(seg);
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out || '(root)';
}

function typeName(expected: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    boolean: 'true or false',
    record: 'a mapping',
  };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
