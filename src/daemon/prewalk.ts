/**
 * Pre-walks: `bin/moat run|claude|codex` tells the daemon which workspace it is about to snapshot before the
 * CLI's own code has loaded (bin/prewalk-hint: the CLI needs ~200 ms to get there). The daemon then walks
 * that workspace at once, with the settings of the last snapshot it took of it, and hands the result to the
 * CLI's `POST /snapshots` when that asks for the same workspace with the same settings and the walk started
 * after the CLI process did: a snapshot taken between the CLI's start and the container's start is a valid
 * pre-run snapshot. Anything else (another workspace, other settings, a walk older than the CLI, a failed
 * walk) is not handed over: the request walks as before. Only workspaces this daemon has snapshotted for a
 * run are walked on a hint, each at most once at a time plus one waiting its turn.
 */
import type { SnapshotSettings } from '../snapshot/limits.js';
import type { SnapshotSummary } from '../snapshot/service.js';

/** The settings as one comparable string (field order fixed, whatever order they came in). */
export function settingsKey(s: SnapshotSettings): string {
  const l = s.limits;
  return JSON.stringify([s.exclude, l.maxFiles, l.maxFileSize, l.maxBytes, l.maxDepth]);
}

/** Takes a snapshot of `workspace` in its turn, calling `started` the moment its walk begins. */
export type PrewalkRunner = (workspace: string, settings: SnapshotSettings, started: () => void) => Promise<SnapshotSummary>;

interface Known {
  settings: SnapshotSettings;
  key: string;
}

interface Walk {
  key: string;
  /** When the walk began (monotonic ns, the machine's clock every process shares); undefined while it waits its turn. */
  startedNs?: bigint;
  /** Undefined when the walk failed (the request then walks itself, and says why if it fails again). */
  result: Promise<SnapshotSummary | undefined>;
}

/** At most this many workspaces' settings are kept (the least recently snapshotted forgotten first). */
const MAX_KNOWN = 64;
/** Settings longer than this (thousands of excludes) are not kept: such a workspace is never pre-walked. */
const MAX_KEY = 64 * 1024;

export class Prewalks {
  private readonly known = new Map<string, Known>();
  private readonly walks = new Map<string, Walk>();

  constructor(
    private readonly run: PrewalkRunner,
    private readonly now: () => bigint = () => process.hrtime.bigint(),
  ) {}

  /** A snapshot of `workspace` was taken for a run with these settings: a hint for it walks with them. */
  remember(workspace: string, settings: SnapshotSettings): void {
    const key = settingsKey(settings);
    this.known.delete(workspace);
    if (key.length > MAX_KEY) return;
    this.known.set(workspace, { settings, key });
    for (const k of this.known.keys()) {
      if (this.known.size <= MAX_KNOWN) break;
      this.known.delete(k);
      this.walks.delete(k);
    }
  }

  /** A hint: walk `workspace` now if it is known. False when it is not, or a walk of it already waits its turn. */
  start(workspace: string): boolean {
    const k = this.known.get(workspace);
    if (!k) return false;
    const cur = this.walks.get(workspace);
    // One waiting its turn starts after this hint arrived: it serves whoever sent it.
    if (cur && cur.startedNs === undefined && cur.key === k.key) return false;
    const walk: Walk = { key: k.key, result: Promise.resolve(undefined) };
    walk.result = this.run(workspace, k.settings, () => {
      walk.startedNs = this.now();
    }).then(
      (s) => s,
      () => undefined,
    );
    this.walks.set(workspace, walk);
    return true;
  }

  /**
   * The pre-walk that can serve a request for `workspace` with `settings` from a process started at
   * `sinceNs` (monotonic ns): same workspace, same settings, begun at or after `sinceNs` (or not begun yet).
   * Undefined when there is none; the promise gives undefined when that walk failed.
   */
  take(workspace: string, settings: SnapshotSettings, sinceNs: bigint): Promise<SnapshotSummary | undefined> | undefined {
    const w = this.walks.get(workspace);
    if (!w || w.key !== settingsKey(settings)) return undefined;
    if (w.startedNs !== undefined && w.startedNs < sinceNs) return undefined;
    return w.result;
  }
}
