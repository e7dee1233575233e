/**
 * A run's snapshots, seen from the CLI: the pre-run one is taken while the image and the daemon get ready
 * (so an unchanged workspace adds next to nothing to the start), recorded on the run before it starts;
 * the post-run one is the daemon's (supervisor.ts), and an attached run ends with a line saying what changed.
 */
import { parseSize } from '../config/rules.js';
import type { MoatConfig } from '../config/schema.js';
import type { MoatHome } from '../home/paths.js';
import { DEFAULT_LIMITS, type SnapshotSettings } from '../snapshot/limits.js';
import { readManifest } from '../snapshot/manifest.js';
import { readRunSnapshots } from '../snapshot/refs.js';
import { addRecord, objectStore, recordFailure, recordOf, snapshotWorkspace, unstoredNames, unstoredNote, type SnapshotSummary } from '../snapshot/service.js';
import { daemonSnapshot } from '../daemon/client.js';
import { isMoatError } from '../errors.js';
import type { TakeResult } from '../snapshot/take.js';
import { changeStats, diffManifests } from '../snapshot/diff.js';

/** moat.yaml's `snapshots:` as settings; undefined when snapshots are off. */
export function snapshotSettings(c: MoatConfig['snapshots']): SnapshotSettings | undefined {
  if (c?.disabled) return undefined;
  return {
    exclude: c?.exclude ?? [],
    limits: {
      ...DEFAULT_LIMITS,
      ...(c?.max_files ? { maxFiles: c.max_files } : {}),
      ...(c?.max_file_size ? { maxFileSize: parseSize(c.max_file_size) ?? DEFAULT_LIMITS.maxFileSize } : {}),
      ...(c?.max_bytes ? { maxBytes: parseSize(c.max_bytes) ?? DEFAULT_LIMITS.maxBytes } : {}),
    },
  };
}

/** When this process started, on the monotonic clock every process on the machine shares (ns). */
export function processStartNs(): bigint {
  return process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
}

export type PendingSnapshot = Promise<TakeResult | SnapshotSummary | Error>;

/**
 * Start the pre-run snapshot (never rejects: a failure is the value). When `daemon` says this build's
 * daemon is up, the daemon takes it (warm, the workspace's last manifest in memory, on its own core);
 * when it cannot be asked (absent, older, gone meanwhile), the CLI takes it itself.
 */
export function startPreSnapshot(
  home: MoatHome,
  workspace: string,
  settings: SnapshotSettings | undefined,
  daemon: Promise<boolean> = Promise.resolve(false),
  since: bigint = processStartNs(),
): PendingSnapshot | undefined {
  if (!settings) return undefined;
  const take = async (): Promise<TakeResult | SnapshotSummary> => {
    if (await daemon.catch(() => false)) {
      try {
        // A walk the daemon began since `since` (bin/moat's hint, when nothing was asked) is a valid pre-run snapshot.
        return await daemonSnapshot<SnapshotSummary>(home, { workspace, settings, since: String(since) });
      } catch (err) {
        if (isMoatError(err)) throw err; // the snapshot failed there: it would here too
      }
    }
    return snapshotWorkspace(home, workspace, settings);
  };
  return take().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
}

/** What a run says when its pre-run snapshot holds the start up for a while (a first one of a large workspace). */
export const SLOW_SNAPSHOT_NOTE =
  'Taking the pre-run snapshot of the workspace before the run starts (the first one reads every file; later ones read only what changed). ' +
  'Folders it need not keep go in snapshots.exclude in moat.yaml; snapshots: {disabled: true} takes none.';

/** Say `note` once if `pending` is still unsettled after `afterMs`; the value of `pending`, whenever it comes. */
export async function noteIfSlow<T>(pending: Promise<T>, afterMs: number, note: () => void): Promise<T> {
  const timer = setTimeout(note, afterMs);
  try {
    return await pending;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Record the pre-run snapshot on the run (before its container starts); a failure is said and recorded, the
 * run goes on. `slow`: said once when the snapshot is not there after a second (the start waits for it).
 */
export async function recordPreSnapshot(
  home: MoatHome,
  runId: string,
  settings: SnapshotSettings | undefined,
  pending: PendingSnapshot | undefined,
  warn: (m: string) => void,
  slow?: { say: (m: string) => void; afterMs?: number },
): Promise<void> {
  if (!settings || !pending) return;
  const r = slow ? await noteIfSlow(pending, slow.afterMs ?? 1000, () => slow.say(SLOW_SNAPSHOT_NOTE)) : await pending;
  if (r instanceof Error) {
    warn(`No pre-run snapshot: ${r.message} moat diff and moat rollback will have nothing for this run.`);
    await recordFailure(home, runId, settings, 'pre', r.message);
    return;
  }
  const note = unstoredNote(r);
  if (note) warn(`Pre-run snapshot: ${note}`);
  await addRecord(home, runId, settings, recordOf('pre', r));
}

/**
 * The line an attached run ends with, once the daemon has recorded the post-run snapshot (bounded wait):
 * `the run changed 12 files (+340 −25) — moat diff NAME / moat rollback NAME`; none when it changed nothing.
 */
export async function changeLine(home: MoatHome, runId: string, name: string, timeoutMs = 60_000): Promise<string | undefined> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (;;) {
    const r = await readRunSnapshots(home, runId);
    if (!r) return undefined;
    const pre = r.records.find((x) => x.kind === 'pre');
    const post = r.records.find((x) => x.kind === 'post');
    if (!pre) return undefined;
    if (r.failed?.kind === 'post') return `no post-run snapshot: ${r.failed.message}`;
    if (post) {
      if (post.manifest === pre.manifest) return undefined; // the same manifest: nothing changed, nothing to read
      const store = objectStore(home);
      const read = await Promise.all([readManifest(store, pre.manifest), readManifest(store, post.manifest)]).catch((err: unknown) => err as Error);
      // Never silence: a run must not hide what it changed by making its snapshots unreadable.
      if (read instanceof Error) return `the run's snapshots could not be compared (${read.message}); moat snapshot list ${name} shows them`;
      const changes = diffManifests(read[0], read[1]);
      if (changes.length === 0) return undefined; // nothing to review: no line
      const s = await changeStats(store, changes);
      // Files the run left that the post-run snapshot holds by size only (too large, over the budget): named.
      const unstored = changes.flatMap((c) => (c.after?.why ? [{ path: c.path, why: c.after.why }] : []));
      const without = unstored.length > 0 ? `; ${unstored.length} kept by size only, without content: ${unstoredNames(unstored)}` : '';
      return `the run changed ${s.files} file${s.files === 1 ? '' : 's'} (+${s.added} −${s.removed})${without} — moat diff ${name} / moat rollback ${name}`;
    }
    if (Date.now() > deadline) return `the post-run snapshot is not ready yet; moat diff ${name} shows the changes once it is`;
    // Usually there within a few hundred ms of the exit (an unchanged workspace's walk): looked for often
    // at first (a small file read), then less.
    await new Promise((res) => setTimeout(res, Date.now() - started < 2_000 ? 20 : 250));
  }
}
