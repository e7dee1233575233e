/**
 * The real paths a run's container mounts (the workspace's and moat.yaml's sources, resolved in
 * run/mount-sources.ts), checked again just before a container starts with them: by the CLI before its
 * start, by the daemon before it starts a spare (daemon/spares.ts).
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { MoatError } from '../errors.js';

/**
 * Checked again just before the container starts (the engine mounts binds at start, and an image build
 * can take minutes after the approval): every source must still be its own real path.
 */
export async function assertSourcesUnchanged(sources: readonly string[]): Promise<void> {
  for (const source of sources) {
    const now = await realpath(source).catch(() => undefined);
    if (now === source) continue;
    throw new MoatError(
      `Not started: the mount source ${source} changed after it was checked (${now === undefined ? 'it is gone' : `it now leads to ${now}`}); a folder on the way may have been replaced with a symbolic link.`,
      {
        code: 'E_REFUSED',
        hint: 'Check the workspace for links a run may have planted, then run again.',
      },
    );
  }
}

/** A source's identity: the folder itself, not its path (a folder removed and made again differs). */
export interface SourceIdentity {
  path: string;
  dev: number;
  ino: number;
  /** Its birth time (statx): an inode number freed and reused at once is another folder all the same. */
  born: number;
}

/** What each real source is now: a folder swapped since the plan was made differs. */
export async function sourceIdentities(paths: readonly string[]): Promise<SourceIdentity[]> {
  return Promise.all(
    paths.map(async (path) => {
      const s = await stat(path);
      return { path, dev: s.dev, ino: s.ino, born: s.birthtimeMs };
    }),
  );
}

/** Whether `child` is `parent` or lies below it (paths compared as given). */
export function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const strictlyInside = (child: string, parent: string): boolean => relative(parent, child) !== '' && inside(child, parent);

/**
 * The sources a run could swap for a link: those below a folder some container can write (`writable`:
 * the plan's own writable sources, the workspace among them, and those of other live runs). A CLI
 * checks its sources just before its own start, so a swap there must win a race of milliseconds that
 * the user would see fail; a spare (daemon/spares.ts) mounts them at a moment a run can foresee (an
 * earlier run's end), any failed try is silent, and the run that later claims it has no way to see
 * what was mounted. Such a plan gets no spare.
 */
export function swappableSources(sources: readonly string[], writable: readonly string[]): string[] {
  return sources.filter((s) => writable.some((w) => strictlyInside(s, w)));
}
