import { hash } from 'node:crypto';

/**
 * RFC 6962 (section 2.1) Merkle tree hashes, with hashes as lowercase hex strings (hashing to hex is
 * about twice as fast as to a Buffer in Node 20, and it is the format we store).
 *
 *   leaf hash  = SHA-256(0x00 || leaf input)
 *   node hash  = SHA-256(0x01 || left || right)
 *
 * Audit leaf input: the 32 raw bytes of the entry hash (which is SHA-256 of the entry's canonical bytes),
 * see leafOfEntry(). The tree head of n leaves is MTH(D[n]) exactly as RFC 6962 defines it.
 */

const scratch = Buffer.alloc(65);
const leafInput = scratch.subarray(0, 33);

/** Leaf hash for raw leaf data (RFC 6962 test vectors use this form). */
export function leafHash(data: Uint8Array): string {
  const buf = Buffer.allocUnsafe(data.length + 1);
  buf[0] = 0;
  buf.set(data, 1);
  return hash('sha256', buf, 'hex');
}

/** Leaf hash of an audit entry: SHA-256(0x00 || entryHash bytes). */
export function leafOfEntry(entryHashHex: string): string {
  scratch[0] = 0;
  scratch.write(entryHashHex, 1, 32, 'hex');
  return hash('sha256', leafInput, 'hex');
}

export function nodeHash(left: string, right: string): string {
  scratch[0] = 1;
  scratch.write(left, 1, 32, 'hex');
  scratch.write(right, 33, 32, 'hex');
  return hash('sha256', scratch, 'hex');
}

/** SHA-256 of the empty string: the RFC 6962 head of an empty tree. */
export const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Incremental tree head: keeps the roots of the perfect subtrees that make up the first n leaves (one per
 * set bit of n, largest first), so append is amortised O(1) hashes and O(log n) state, and root() folds
 * them right to left in O(log n) — equal to RFC 6962 MTH because that tree is left-filled.
 */
export class MerkleAccumulator {
  private stack: string[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  appendLeaf(leaf: string): void {
    let h = leaf;
    let m = this.n;
    while (m & 1) {
      h = nodeHash(this.stack.pop()!, h);
      m = Math.floor(m / 2);
    }
    this.stack.push(h);
    this.n += 1;
  }

  root(): string {
    const s = this.stack;
    if (s.length === 0) return EMPTY_ROOT;
    let r = s[s.length - 1]!;
    for (let i = s.length - 2; i >= 0; i--) r = nodeHash(s[i]!, r);
    return r;
  }

  /** Serialisable state, to resume without re-reading (not used for trust: resume re-verifies). */
  state(): { size: number; stack: string[] } {
    return { size: this.n, stack: [...this.stack] };
  }
}

function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over a slice of leaf hashes. */
export function treeHead(leaves: readonly string[], from = 0, to = leaves.length): string {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  const k = largestPow2Below(n);
  return nodeHash(treeHead(leaves, from, from + k), treeHead(leaves, from + k, to));
}

/** RFC 6962 PATH(m, D[n]): the audit path of leaf `index` in the tree of the given leaves, leaf side first. */
export function auditPath(leaves: readonly string[], index: number, from = 0, to = leaves.length): string[] {
  const n = to - from;
  if (index < 0 || index >= n) throw new RangeError(`leaf index ${index} outside tree of size ${n}`);
  if (n === 1) return [];
  const k = largestPow2Below(n);
  if (index < k) return [...auditPath(leaves, index, from, from + k), treeHead(leaves, from + k, to)];
  return [...auditPath(leaves, index - k, from + k, to), treeHead(leaves, from, from + k)];
}

/** Root implied by a leaf hash and its audit path (RFC 9162 section 2.1.3.2); undefined if the path is malformed. */
export function rootFromPath(leaf: string, index: number, treeSize: number, path: readonly string[]): string | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) return undefined;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(leaf: string, index: number, treeSize: number, path: readonly string[], root: string): boolean {
  return rootFromPath(leaf, index, treeSize, path) === root;
}
