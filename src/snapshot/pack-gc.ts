/**
 * Collecting packs: a pack (older than the grace time) whose objects no live manifest names is removed
 * (index first, so no reader is pointed at a missing pack for long); one that holds some live objects is
 * rewritten once at least half its bytes or half its entries are unreferenced (before that its dead objects
 * stay, counted as left: a prune that drops one old snapshot does not copy every mostly-live pack of the
 * home again; destroy and clean compact, rewriting every such pack), with only the live objects (checked
 * against their hashes: a damaged copy is not carried over), the new pack and index in place before the
 * old index and pack go (a reader that loses the old pack finds the new one: objects.ts). Temp files of
 * packs being written, packs without an index and indexes without a pack are removed once old enough; an
 * index that cannot be read is left alone with its pack.
 */
import { createHash } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PACK_RE, PACK_TMP, PackSet, PackWriter, readIndex } from './packs.js';

export interface PackGcResult {
  objects: number;
  bytes: number;
  /** Unreferenced objects left in packs that are still mostly live (freed once half of such a pack is). */
  left: { objects: number; bytes: number };
}

/** A pack that still holds live objects is rewritten only once this share of its bytes or of its entries is unreferenced. */
export const REWRITE_DEAD_SHARE = 0.5;

/**
 * `compact`: every pack that holds an unreferenced object is rewritten (destroy and clean: what they remove
 * is gone from disk), not only those at least half unreferenced (prune).
 */
export async function collectPacks(dir: string, live: ReadonlySet<string>, before: number, dryRun: boolean, compact = false): Promise<PackGcResult> {
  const out: PackGcResult = { objects: 0, bytes: 0, left: { objects: 0, bytes: 0 } };
  const names = await readdir(dir).catch(() => [] as string[]);
  const has = new Set(names);
  const old = async (f: string): Promise<boolean> => {
    const st = await stat(join(dir, f)).catch(() => undefined);
    return st !== undefined && st.mtimeMs <= before;
  };
  for (const f of names) {
    if (f.startsWith(PACK_TMP)) {
      if (!dryRun && (await old(f))) await rm(join(dir, f), { force: true });
      continue;
    }
    const pack = f.replace(/\.(pack|idx)$/, '');
    if (!PACK_RE.test(pack)) continue;
    if (f.endsWith('.pack')) {
      // A pack without its index (a snapshot stopped between the two renames): nothing can name its objects.
      if (!has.has(`${pack}.idx`) && !dryRun && (await old(f))) await rm(join(dir, f), { force: true });
      continue;
    }
    if (!(await old(`${pack}.pack`)) || !(await old(f))) {
      if (!has.has(`${pack}.pack`) && !dryRun && (await old(f))) await rm(join(dir, f), { force: true });
      continue;
    }
    const entries = readIndex(dir, pack);
    if (entries === 'no-pack') continue;
    if (!entries) continue; // unreadable: what it holds is unknown, so nothing of it goes
    const kept = new Map([...entries].filter(([h]) => live.has(h)));
    if (kept.size === entries.size) continue;
    let dead = 0;
    let deadBytes = 0;
    let allBytes = 0;
    for (const [h, e] of entries) {
      allBytes += e.length;
      if (kept.has(h)) continue;
      dead++;
      deadBytes += e.length;
    }
    // Counted in bytes and in entries (each entry costs index and memory in every reader, however small).
    if (!compact && kept.size > 0 && deadBytes < allBytes * REWRITE_DEAD_SHARE && dead < entries.size * REWRITE_DEAD_SHARE) {
      out.left.objects += dead;
      out.left.bytes += deadBytes;
      continue;
    }
    out.objects += dead;
    out.bytes += deadBytes;
    if (dryRun) continue;
    if (kept.size > 0) {
      const reader = new PackSet(dir);
      const w = new PackWriter(dir);
      try {
        for (const [h, e] of kept) {
          const data = reader.read({ pack, ...e });
          if (data && data.length === e.length && createHash('sha256').update(data).digest('hex') === h) w.append(h, data);
        }
        w.seal();
      } catch (err) {
        w.discard();
        throw err;
      }
    }
    // A walk that began relying on it since it was found old made it young: it stays (its live objects are
    // in the new pack too; a later collection takes it once it is old again).
    if (!(await old(`${pack}.pack`))) continue;
    await rm(join(dir, f), { force: true });
    await rm(join(dir, `${pack}.pack`), { force: true });
  }
  return out;
}
