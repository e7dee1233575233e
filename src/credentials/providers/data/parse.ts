import { LineCounter, isMap, isScalar, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { MoatError } from '../../../errors.js';
import { providerFileSchema, type ProviderFile } from './schema.js';

/**
 * A provider file's text → a checked ProviderFile, or one MoatError listing every problem as
 * `providers/NAME.yaml:LINE:COL: field: what is wrong` with the fix.
 */

export interface FileProblem {
  line: number;
  col: number;
  path: string;
  message: string;
}

type Issue = z.core.$ZodIssue;

function nodeAt(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = doc.contents ?? undefined;
  for (const seg of path) {
    if (!node || typeof node !== 'object' || !('items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      node = pair.value;
      last = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (typeof seg === 'number') {
      node = items[seg];
      if (node) last = node as Node;
    } else break;
  }
  return last;
}

/** The key node of an unknown key (zod reports it at the parent). */
function keyNode(doc: Document, path: readonly PropertyKey[], key: string): Node | undefined {
  const parent = path.length === 0 ? doc.contents : nodeAt(doc, path);
  if (!isMap(parent)) return undefined;
  return parent.items.find((p) => isScalar(p.key) && String(p.key.value) === key)?.key as Node | undefined;
}

function flatten(issues: readonly Issue[], prefix: PropertyKey[] = []): Issue[] {
  return issues.flatMap((issue): Issue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Keep the branch the value was written for (the one whose own keys it uses), else the first.
      const scored = issue.errors.map((b) => ({
        b,
        n: b.filter((i) => i.code !== 'unrecognized_keys').length + 10 * b.filter((i) => i.code === 'unrecognized_keys').length,
      }));
      scored.sort((a, b) => a.n - b.n);
      return flatten(scored[0]!.b, path);
    }
    return [{ ...issue, path }];
  });
}

const pathText = (path: readonly PropertyKey[]): string =>
  path.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i === 0 ? '' : '.'}${String(s)}`)).join('');

export function providerFileError(display: string, problems: FileProblem[]): MoatError {
  const lines = problems.map((p) => `  ${display}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`);
  return new MoatError(`${display} is invalid (${problems.length === 1 ? '1 problem' : `${problems.length} problems`}):\n${lines.join('\n')}`, {
    code: 'E_CONFIG',
    hint: `Fix ${display} at the positions above (moat grant providers lists every provider and its state).`,
  });
}

export function parseProviderText(text: string, display: string): ProviderFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined): { line: number; col: number } => lc.linePos(offset ?? 0);
  if (doc.errors.length > 0) {
    throw providerFileError(
      display,
      doc.errors.slice(0, 5).map((e) => ({ ...pos(e.pos[0]), path: '', message: `YAML syntax error: ${e.message.split('\n')[0] ?? ''}` })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10 }) ?? {};
  } catch (err) {
    throw providerFileError(display, [{ line: 1, col: 1, path: '', message: `YAML error: ${(err as Error).message}` }]);
  }
  const result = providerFileSchema.safeParse(data);
  if (result.success) return result.data;
  const problems: FileProblem[] = flatten(result.error.issues).flatMap((issue): FileProblem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({
        ...pos(keyNode(doc, issue.path, k)?.range?.[0]),
        path: pathText([...issue.path, k]),
        message: `unknown key "${k}" (known: description, hosts, inject, placeholder, env, validate, prompt, label and their fields)`,
      }));
    }
    const node = nodeAt(doc, issue.path);
    return [{ ...pos(node?.range?.[0]), path: pathText(issue.path), message: issue.message }];
  });
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  throw providerFileError(display, problems);
}
