import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  MerkleAccumulator,
  auditPath,
  leafHash,
  leafOfEntry,
  nodeHash,
  rootFromPath,
  treeHead,
  verifyInclusion,
} from '../../../src/audit/index.js';

const sha = (...parts: Buffer[]): string => createHash('sha256').update(Buffer.concat(parts)).digest('hex');
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

// RFC 6962 test inputs and tree heads, as used by certificate-transparency's merkle tree tests.
const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const roots = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('RFC 6962 Merkle tree', () => {
  it('hashes leaves and nodes with distinct prefixes (hand-computed)', () => {
    const a = createHash('sha256').update('a').digest('hex');
    expect(leafOfEntry(a)).toBe(sha(Buffer.from([0]), hex(a)));
    expect(nodeHash(a, a)).toBe(sha(Buffer.from([1]), hex(a), hex(a)));
    expect(treeHead([])).toBe(EMPTY_ROOT);
    expect(EMPTY_ROOT).toBe(sha());
  });

  it('builds 1, 2 and 3 leaf trees as RFC 6962 defines (hand-computed)', () => {
    const l = ['x', 'y', 'z'].map((s) => sha(Buffer.from([0]), Buffer.from(s)));
    expect(treeHead(l.slice(0, 1))).toBe(l[0]);
    expect(treeHead(l.slice(0, 2))).toBe(sha(Buffer.from([1]), hex(l[0]!), hex(l[1]!)));
    const left = sha(Buffer.from([1]), hex(l[0]!), hex(l[1]!));
    expect(treeHead(l)).toBe(sha(Buffer.from([1]), hex(left), hex(l[2]!)));
  });

  it('matches the RFC 6962 test vectors for 1..8 leaves, batch and incremental', () => {
    const leaves = inputs.map((d) => leafHash(d));
    const acc = new MerkleAccumulator();
    leaves.forEach((leaf, i) => {
      acc.appendLeaf(leaf);
      expect(treeHead(leaves.slice(0, i + 1))).toBe(roots[i]);
      expect(acc.root()).toBe(roots[i]);
    });
  });

  it('incremental root equals the recursive tree head for every size up to 100', () => {
    const leaves = Array.from({ length: 100 }, (_, i) => leafHash(Buffer.from(String(i))));
    const acc = new MerkleAccumulator();
    expect(acc.root()).toBe(EMPTY_ROOT);
    for (let n = 1; n <= 100; n++) {
      acc.appendLeaf(leaves[n - 1]!);
      expect(acc.root()).toBe(treeHead(leaves.slice(0, n)));
      expect(acc.state().stack.length).toBe(
        n
          .toString(2)
          .split('')
          .filter((b) => b === '1').length,
      );
    }
  });

  it('audit paths verify for every leaf of every tree up to 33 leaves, and only there', () => {
    const leaves = Array.from({ length: 33 }, (_, i) => leafHash(Buffer.from([i])));
    for (let n = 1; n <= leaves.length; n++) {
      const tree = leaves.slice(0, n);
      const root = treeHead(tree);
      for (let i = 0; i < n; i++) {
        const path = auditPath(tree, i);
        expect(verifyInclusion(tree[i]!, i, n, path, root)).toBe(true);
        if (n > 1) {
          expect(verifyInclusion(tree[(i + 1) % n]!, i, n, path, root)).toBe(false);
          expect(verifyInclusion(tree[i]!, (i + 1) % n, n, path, root)).toBe(false);
          const bad = [...path];
          bad[0] = nodeHash(bad[0]!, bad[0]!);
          expect(verifyInclusion(tree[i]!, i, n, bad, root)).toBe(false);
          expect(rootFromPath(tree[i]!, i, n, [...path, path[0]!])).toBeUndefined();
        }
      }
    }
  });

  it('the audit path for leaf 0 of 3 is [leaf1, leaf2] (hand-computed)', () => {
    const l = ['a', 'b', 'c'].map((s) => leafHash(Buffer.from(s)));
    expect(auditPath(l, 0)).toEqual([l[1], l[2]]);
    expect(auditPath(l, 2)).toEqual([nodeHash(l[0]!, l[1]!)]);
    expect(() => auditPath(l, 3)).toThrow(RangeError);
  });

  it('inclusion holds for random trees (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (n, k) => {
        const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf${i}`)));
        const i = k % n;
        const acc = new MerkleAccumulator();
        for (const leaf of leaves) acc.appendLeaf(leaf);
        return verifyInclusion(leaves[i]!, i, n, auditPath(leaves, i), acc.root());
      }),
      { numRuns: 60 },
    );
  });
});
