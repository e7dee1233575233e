/** The bounds of one snapshot (moat.yaml `snapshots:`), so a run's leftovers cannot make one unbounded. */
export interface SnapshotLimits {
  /** Most entries (files, folders, links) a snapshot records; more is an error naming the setting. */
  maxFiles: number;
  /** Files larger than this are recorded by size and time only, never read (named in the output). */
  maxFileSize: number;
  /** Most bytes one snapshot reads from files it has not seen before; files past it are recorded like large ones. */
  maxBytes: number;
  /** Folders deeper than this are recorded but not entered. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: SnapshotLimits = {
  maxFiles: 200_000,
  maxFileSize: 100 * 1024 * 1024,
  maxBytes: 4 * 1024 * 1024 * 1024,
  maxDepth: 128,
};

/** What a run records of moat.yaml's `snapshots:` (runs/<id>/snapshots.json), so the daemon takes the post-run one alike. */
export interface SnapshotSettings {
  exclude: string[];
  limits: SnapshotLimits;
}
