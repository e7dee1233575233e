/**
 * The pre-run snapshot taken by the daemon for the CLI (`POST /snapshots`): warm code, and the last
 * manifest of each workspace kept in memory (the post-run snapshot leaves it there), so an unchanged
 * workspace costs a walk compared against memory, on the daemon's side of the machine's cores. The CLI
 * sends the workspace and its settings; the answer is what the CLI records on the run (a summary, never
 * the manifest). The CLI takes the snapshot itself when the daemon cannot (absent, older, unreachable).
 */
import type { IncomingMessage } from 'node:http';
import { isAbsolute, normalize } from 'node:path';
import { isMoatError, type ErrorDocument } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import type { SnapshotLimits, SnapshotSettings } from '../snapshot/limits.js';
import { inTurn } from './walk-turns.js';
import { ManifestCache, snapshotWorkspace, summaryOf, type SnapshotSummary } from '../snapshot/service.js';
import { Prewalks } from './prewalk.js';
import { readBody } from './request-body.js';

/** The manifests this daemon keeps (its post-run snapshots use them too). */
export const daemonManifests = new ManifestCache();

let prewalks: { home: string; walks: Prewalks } | undefined;
/** This daemon's pre-walks (prewalk.ts): walks started by bin/moat's hint, handed to the CLI's request that follows. */
export function prewalksOf(home: MoatHome): Prewalks {
  if (prewalks?.home !== home.root) {
    const walks = new Prewalks((workspace, settings, started) =>
      inTurn(workspace, async () => {
        started();
        return summaryOf(await snapshotWorkspace(home, workspace, settings, { cache: daemonManifests }));
      }),
    );
    prewalks = { home: home.root, walks };
  }
  return prewalks.walks;
}

/** A request body larger than this is refused unread (settings are a few hundred bytes). */
const MAX_BODY = 256 * 1024;
const MAX_EXCLUDES = 1000;

export interface SnapshotRequest {
  workspace: string;
  settings: SnapshotSettings;
  /** When the asking process started (monotonic ns, decimal): a pre-walk begun since then is its snapshot. */
  since?: string;
}

/** A workspace path as a request may name it: absolute, normalized, bounded. */
function workspacePath(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 4096 && !v.includes('\0') && isAbsolute(v) && normalize(v) === v;
}

/** The request, checked field by field; undefined when it is not one. */
export function parseSnapshotRequest(text: string): SnapshotRequest | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { workspace, settings, since } = v as { workspace?: unknown; settings?: unknown; since?: unknown };
  if (!workspacePath(workspace)) return undefined;
  if (since !== undefined && (typeof since !== 'string' || !/^[0-9]{1,20}$/.test(since))) return undefined;
  if (typeof settings !== 'object' || settings === null) return undefined;
  const { exclude, limits } = settings as { exclude?: unknown; limits?: unknown };
  if (!Array.isArray(exclude) || exclude.length > MAX_EXCLUDES || !exclude.every((x) => typeof x === 'string' && x.length <= 4096)) return undefined;
  if (typeof limits !== 'object' || limits === null) return undefined;
  const l = limits as Record<string, unknown>;
  const keys: Array<keyof SnapshotLimits> = ['maxFiles', 'maxFileSize', 'maxBytes', 'maxDepth'];
  if (!keys.every((k) => Number.isSafeInteger(l[k]) && (l[k] as number) > 0)) return undefined;
  return {
    workspace,
    settings: {
      exclude: exclude as string[],
      limits: { maxFiles: l.maxFiles, maxFileSize: l.maxFileSize, maxBytes: l.maxBytes, maxDepth: l.maxDepth } as SnapshotLimits,
    },
    ...(since !== undefined ? { since } : {}),
  };
}

/** Answer `POST /snapshots`: 200 with a summary, 400 for a malformed request, 422 when the snapshot failed. */
export async function snapshotRequest(req: IncomingMessage, home: MoatHome): Promise<{ status: number; body: SnapshotSummary | { error: ErrorDocument } }> {
  const text = await readBody(req, MAX_BODY);
  const r = text === undefined ? undefined : parseSnapshotRequest(text);
  if (!r) return { status: 400, body: { error: { code: 'E_USAGE', message: 'not a snapshot request', hint: null } } };
  const walks = prewalksOf(home);
  const handed = r.since === undefined ? undefined : await walks.take(r.workspace, r.settings, BigInt(r.since));
  if (handed) return { status: 200, body: handed };
  try {
    const taken = await inTurn(r.workspace, () => snapshotWorkspace(home, r.workspace, r.settings, { cache: daemonManifests }));
    walks.remember(r.workspace, r.settings);
    return { status: 200, body: summaryOf(taken) };
  } catch (err) {
    // Any failure is the snapshot's (said on the run as such), e.g. a workspace over snapshots.max_files.
    const doc: ErrorDocument = isMoatError(err)
      ? err.toDocument()
      : { code: 'E_REFUSED', message: err instanceof Error ? err.message : String(err), hint: null };
    return { status: 422, body: { error: doc } };
  }
}

/**
 * Answer `POST /prewalk` (bin/moat's hint, `{"workspace": PATH}`): 202 at once, the walk going on behind
 * (only for a workspace this daemon snapshotted for a run before); 400 for a malformed hint.
 */
export async function prewalkRequest(req: IncomingMessage, home: MoatHome): Promise<{ status: number; body: { started: boolean } | { error: ErrorDocument } }> {
  const text = await readBody(req, MAX_BODY);
  let workspace: unknown;
  try {
    workspace = text === undefined ? undefined : (JSON.parse(text) as { workspace?: unknown } | null)?.workspace;
  } catch {
    workspace = undefined;
  }
  if (!workspacePath(workspace)) return { status: 400, body: { error: { code: 'E_USAGE', message: 'not a pre-walk request', hint: null } } };
  return { status: 202, body: { started: prewalksOf(home).start(workspace) } };
}
