/**
 * Line diffs for `moat diff`: Myers' O(ND) algorithm on lines, with a bound on D (two unrelated big files
 * are shown as one replaced block instead of costing quadratic time), and unified hunks with context.
 */

export type Op = { kind: ' ' | '-' | '+'; line: string };

/** Most edit distance searched; past it the files are one replacement. */
const MAX_D = 1000;

export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function diffLines(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length,
    endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const head: Op[] = a.slice(0, start).map((line) => ({ kind: ' ', line }));
  const tail: Op[] = a.slice(endA).map((line) => ({ kind: ' ', line }));
  return [...head, ...myers(a.slice(start, endA), b.slice(start, endB)), ...tail];
}

function myers(a: string[], b: string[]): Op[] {
  const n = a.length,
    m = b.length;
  const replaced = (): Op[] => [...a.map((line) => ({ kind: '-' as const, line })), ...b.map((line) => ({ kind: '+' as const, line }))];
  if (n === 0 || m === 0) return replaced();
  const max = Math.min(n + m, MAX_D);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v[off + k - 1] as number) < (v[off + k + 1] as number)) ? (v[off + k + 1] as number) : (v[off + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b, off, d);
    }
  }
  return replaced();
}

function backtrack(trace: Int32Array[], a: string[], b: string[], off: number, dEnd: number): Op[] {
  const ops: Op[] = [];
  let x = a.length,
    y = b.length;
  for (let d = dEnd; d > 0; d--) {
    const v = trace[d] as Int32Array;
    const k = x - y;
    const prevK = k === -d || (k !== d && (v[off + k - 1] as number) < (v[off + k + 1] as number)) ? k + 1 : k - 1;
    const prevX = v[off + prevK] as number;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push({ kind: ' ', line: a[--x] as string });
      y--;
    }
    if (x === prevX) ops.push({ kind: '+', line: b[--y] as string });
    else ops.push({ kind: '-', line: a[--x] as string });
  }
  while (x > 0 && y > 0) {
    ops.push({ kind: ' ', line: a[--x] as string });
    y--;
  }
  return ops.reverse();
}

export function countOps(ops: Op[]): { added: number; removed: number } {
  let added = 0,
    removed = 0;
  for (const o of ops) {
    if (o.kind === '+') added++;
    else if (o.kind === '-') removed++;
  }
  return { added, removed };
}

/** Unified hunks (`@@ -a,b +c,d @@`) with `context` lines around each change. */
export function unifiedHunks(ops: Op[], context = 3): string[] {
  const out: string[] = [];
  const changed = ops.map((o) => o.kind !== ' ');
  let i = 0;
  let aLine = 0,
    bLine = 0;
  const pos: Array<[number, number]> = [];
  for (const o of ops) {
    pos.push([aLine, bLine]);
    if (o.kind !== '+') aLine++;
    if (o.kind !== '-') bLine++;
  }
  while (i < ops.length) {
    if (!changed[i]) {
      i++;
      continue;
    }
    const start = Math.max(0, i - context);
    let end = i;
    for (let j = i; j < ops.length; j++) {
      if (changed[j]) end = j;
      else if (j - end > context * 2) break;
    }
    const stop = Math.min(ops.length, end + context + 1);
    const slice = ops.slice(start, stop);
    const [a0, b0] = pos[start] as [number, number];
    const aCount = slice.filter((o) => o.kind !== '+').length;
    const bCount = slice.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aCount === 0 ? a0 : a0 + 1},${aCount} +${bCount === 0 ? b0 : b0 + 1},${bCount} @@`);
    for (const o of slice) out.push(`${o.kind}${o.line}`);
    i = stop;
  }
  return out;
}
