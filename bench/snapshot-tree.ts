/**
 * A realistic workspace for bench:snapshot: BENCH_FILES files (default 10,000) totalling BENCH_MB (default
 * 500) MB: many small source files (200 B–24 KB), some MB-sized assets, a few large files (a video, a
 * database, a tarball), and a .git-like folder (loose objects in 256 fan-out folders, a pack, refs), with a
 * .gitignore at the root and one nested. Contents are distinct per file (nothing deduplicates by chance).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A small deterministic generator (mulberry32), so every run builds the same shape. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TreeFile {
  path: string;
  size: number;
}

/** The plan: paths and sizes, summing to `totalBytes` over `count` files. */
export function planTree(count: number, totalBytes: number): TreeFile[] {
  const r = rng(13);
  const large = Math.max(1, Math.round(count / 2500)); // 4 at 10,000
  const medium = Math.round(count * 0.05); // 500: 0.2–2 MB assets, packs, fixtures
  const git = Math.round(count * 0.15); // 1,500 loose objects and refs
  const small = count - large - medium - git;
  const out: TreeFile[] = [];
  for (let i = 0; i < small; i++) {
    const pkg = `packages/pkg${i % 40}`;
    const sub = ['src', 'src/lib', 'src/components', 'test', 'docs'][i % 5] as string;
    const ext = ['ts', 'tsx', 'json', 'md', 'css'][Math.floor(r() * 5)] as string;
    out.push({ path: `${pkg}/${sub}/m${Math.floor(i / 200)}/file${i}.${ext}`, size: 200 + Math.floor(r() * r() * 24_000) });
  }
  for (let i = 0; i < git; i++) {
    if (i < 20) out.push({ path: `.git/refs/heads/branch${i}`, size: 41 });
    else {
      const h = Math.floor(r() * 0xffffffff)
        .toString(16)
        .padStart(8, '0');
      out.push({ path: `.git/objects/${h.slice(0, 2)}/${h.slice(2)}${i.toString(16).padStart(30, '0')}`, size: 100 + Math.floor(r() * 4_000) });
    }
  }
  const fixed = out.reduce((n, f) => n + f.size, 0);
  // The rest: medium files share 55% of what is left, large ones 45%.
  const left = Math.max(0, totalBytes - fixed);
  const mediumBytes = Math.floor(left * 0.55);
  const weights = Array.from({ length: medium }, () => 0.3 + r());
  const wsum = weights.reduce((a, b) => a + b, 0);
  let assigned = 0;
  weights.forEach((w, i) => {
    const size = Math.floor((mediumBytes * w) / wsum);
    assigned += size;
    const where = i < 20 ? `.git/objects/pack/pack-${i}.pack` : `assets/${['img', 'fonts', 'fixtures', 'vendor'][i % 4]}/blob${i}.bin`;
    out.push({ path: where, size });
  });
  const largeBytes = left - assigned;
  for (let i = 0; i < large; i++) {
    const size = i === large - 1 ? largeBytes - Math.floor(largeBytes / large) * (large - 1) : Math.floor(largeBytes / large);
    out.push({ path: `data/large${i}.${['mp4', 'sqlite', 'tar', 'bin'][i % 4]}`, size });
  }
  return out;
}

const GITIGNORE = 'node_modules/\n*.log\ndist/\n.cache/\n!keep.log\n';

/** Write the tree under `root`; returns the number of bytes written. */
export async function buildTree(root: string, plan: TreeFile[]): Promise<number> {
  const made = new Set<string>();
  const pool = randomBytes(64 << 20);
  let off = 0;
  let total = 0;
  await writeFile(join(root, '.gitignore'), GITIGNORE, { flag: 'w' }).catch(async () => {
    await mkdir(root, { recursive: true });
    await writeFile(join(root, '.gitignore'), GITIGNORE);
  });
  for (const f of plan) {
    const p = join(root, f.path);
    const d = dirname(p);
    if (!made.has(d)) {
      await mkdir(d, { recursive: true });
      made.add(d);
    }
    // Distinct bytes per file: a fresh window of the random pool, its first bytes the file's index.
    let data: Buffer;
    if (f.size > pool.length) {
      data = Buffer.allocUnsafe(f.size);
      for (let o = 0; o < f.size; o += pool.length) pool.copy(data, o, 0, Math.min(pool.length, f.size - o));
    } else {
      if (off + f.size > pool.length) off = 0;
      data = Buffer.from(pool.subarray(off, off + f.size));
      off += Math.max(1, f.size);
    }
    data.write(f.path.slice(0, Math.min(f.size, 64)), 0);
    await writeFile(p, data);
    total += f.size;
  }
  await writeFile(join(root, 'packages/pkg0/.gitignore'), 'generated/\n');
  return total;
}
