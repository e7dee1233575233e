/**
 * A snapshot's manifest: one entry per path of the workspace (sorted), stored as a JSON object in the
 * content store, so its hash names it (and is what the audit log records).
 */
import { MoatError } from '../errors.js';
import { HASH_RE, type ObjectStore } from './objects.js';

export type EntryType = 'file' | 'dir' | 'link' | 'other';

/** Why a file is recorded without its content. */
export type NotStored = 'too-large' | 'over-budget' | 'unreadable';

export interface Entry {
  /** Relative to the workspace, '/'-separated, no '.', '..' or empty component. */
  path: string;
  type: EntryType;
  /** Permission bits (07777). */
  mode: number;
  size: number;
  /** mtime in ms (fractional). */
  mtime: number;
  /** sha256 of the content (files), absent when the file was not read (see `why`). */
  hash?: string;
  /** The link's target, as stored (symbolic links are recorded, never followed). */
  target?: string;
  /**
   * Why a file's content is not in the store: over snapshots.max_file_size, over the snapshot's byte budget,
   * or it could not be opened as the file the walk looked at (swapped meanwhile, or not readable).
   */
  why?: NotStored;
  /** inode:ctime: with size and mtime, what says a file (or a folder's list of names) is unchanged without reading it. */
  key?: string;
  /**
   * Folders only: the ignore rules that applied inside the folder when it was listed (`Listing.list`);
   * absent when its listing cannot be reused (written by an older moat, or names were left out of it).
   */
  list?: string;
}

/**
 * What lets the next walk reuse a folder's listing (the names under it are the recorded entries) instead of
 * reading it again: the folder's inode and ctime (`key`) and mtime as seen before it was listed, and `list`,
 * whether it held a .gitignore and a hash of every ignore rule that applied inside it. Optional (manifests
 * written before it have none: every folder is listed).
 */
export interface Listing {
  key?: string;
  mtime: number;
  list?: string;
}

export interface Manifest {
  version: 1;
  workspace: string;
  createdAt: string;
  /** When the walk began (ms): entries changed after it are not trusted by the next snapshot's stat cache. */
  startedAt: number;
  entries: Entry[];
  /** Paths left out for a reason other than an ignore rule (first 100), and how many in all. */
  skipped: Array<{ path: string; why: string }>;
  skippedCount: number;
  /** The workspace folder's own listing state (its entries are the paths without a '/'). */
  root?: Listing;
}

/** An empty, '.' or '..' component, or a leading or trailing '/'. */
const BAD_COMPONENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** The longest path a manifest holds (the walk leaves longer ones out, and says so). */
export const MAX_PATH = 4096;

export function pathProblem(p: string): string | undefined {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATH) return 'empty or too long';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (!BAD_COMPONENT.test(p)) return undefined; // the common case, without splitting
  for (const c of p.split('/')) {
    if (c === '' || c === '.' || c === '..') return `has a "${c}" component`;
  }
  return undefined;
}

export async function writeManifest(store: ObjectStore, m: Manifest): Promise<string> {
  return (await store.putBuffer(Buffer.from(JSON.stringify(m)))).hash;
}

const TYPES = new Set<EntryType>(['file', 'dir', 'link', 'other']);

/** Read a manifest back, checking every path (a manifest is never trusted to name a place outside its tree). */
export async function readManifest(store: ObjectStore, hash: string): Promise<Manifest> {
  const m = JSON.parse((await store.read(hash)).toString('utf8')) as Manifest;
  if (m?.version !== 1 || !Array.isArray(m.entries))
    throw new MoatError(`The snapshot manifest ${hash.slice(0, 12)} is not one moat wrote.`, { code: 'E_REFUSED' });
  for (const e of m.entries) {
    const problem = pathProblem(e.path);
    if (problem || !TYPES.has(e.type) || (e.hash !== undefined && !HASH_RE.test(e.hash))) {
      throw new MoatError(`The snapshot manifest ${hash.slice(0, 12)} names an invalid entry (${problem ?? 'bad type or hash'}).`, { code: 'E_REFUSED' });
    }
  }
  return m;
}

export function byPath(m: Manifest | undefined): Map<string, Entry> {
  return new Map((m?.entries ?? []).map((e) => [e.path, e]));
}

/** The names recorded directly under each folder ('' for the workspace root), in the manifest's (sorted) order. */
export function childrenByDir(m: Manifest | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of m?.entries ?? []) {
    const cut = e.path.lastIndexOf('/');
    const parent = cut < 0 ? '' : e.path.slice(0, cut);
    const name = cut < 0 ? e.path : e.path.slice(cut + 1);
    const names = out.get(parent);
    if (names) names.push(name);
    else out.set(parent, [name]);
  }
  return out;
}

export function totals(m: Manifest): { files: number; dirs: number; links: number; bytes: number } {
  let files = 0,
    dirs = 0,
    links = 0,
    bytes = 0;
  for (const e of m.entries) {
    if (e.type === 'file') {
      files++;
      bytes += e.size;
    } else if (e.type === 'dir') dirs++;
    else if (e.type === 'link') links++;
  }
  return { files, dirs, links, bytes };
}
