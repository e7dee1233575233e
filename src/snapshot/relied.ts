/**
 * What one snapshot's store relied on instead of storing a content again (objects.ts): the packs it made
 * young and the loose objects it found. Making them young keeps a collection running meanwhile from
 * removing them (a collection spares what is younger than its grace time); checking they are all still
 * there before the manifest is written catches what a person removed by hand meanwhile.
 */
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../errors.js';

export class Relied {
  /** Packs made young by this store: the walk relies on what they hold. */
  private readonly young = new Set<string>();
  /** Packs that could not be made young (gone, or not this user's to touch): not relied on by this store. */
  private readonly unusable = new Set<string>();
  /** Loose objects relied on instead of storing their content again. */
  private readonly loose = new Set<string>();

  constructor(
    private readonly packsDir: string,
    private readonly objectPath: (hash: string) => string,
    /** A pack was gone when it was to be made young: the pack set checks itself (it forgets that pack). */
    private readonly packGone: () => void,
  ) {}

  /**
   * Make a pack the walk relies on (a content it did not store again) young, once per store: false when it
   * cannot be (then the walk stores what it holds again).
   */
  pack(pack: string): boolean {
    if (this.young.has(pack)) return true;
    if (this.unusable.has(pack)) return false;
    try {
      const now = new Date();
      utimesSync(join(this.packsDir, `${pack}.pack`), now, now);
    } catch (err) {
      // Not relied on: the walk stores what it holds again (a pack another user owns, a read-only store).
      this.unusable.add(pack);
      // Gone since the set was checked (collected, or the store removed): the set is checked again, once for
      // this pack (it forgets what a missing pack held), so the walk still finds what the other packs hold.
      if (errnoCode(err) === 'ENOENT') this.packGone();
      return false;
    }
    this.young.add(pack);
    return true;
  }

  /** A loose object relied on (already made young by the caller). */
  object(hash: string): void {
    this.loose.add(hash);
  }

  /**
   * Throws when something relied on is no longer there (a pack or a loose object removed by hand, or the
   * store removed whole, during the walk): a manifest written now would name contents no store holds. A
   * collection never removes them (they were made young).
   */
  check(): void {
    const lost = this.lost();
    if (lost)
      throw new MoatError(`The snapshot store changed while the snapshot was taken (${lost}, which it relies on, was removed).`, {
        code: 'E_REFUSED',
        hint: 'Take the snapshot again (moat snapshot); do not remove files under ~/.moat/snapshots by hand.',
      });
  }

  private lost(): string | undefined {
    for (const pack of this.young) if (!existsSync(join(this.packsDir, `${pack}.pack`))) return `pack ${pack}`;
    for (const hash of this.loose) if (!existsSync(this.objectPath(hash))) return `object ${hash.slice(0, 12)}`;
    return undefined;
  }
}
