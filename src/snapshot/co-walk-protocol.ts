/**
 * What the snapshot walk (co-walk.ts) and its second walker (walk-worker.ts) tell each other. A folder is
 * handed over open: its descriptor (the sender opened it through its parent's descriptor without following
 * a link, and checked it against what lstat saw: walk-dir.ts) belongs to the receiver from then on, which
 * closes it. The ignore rules above it travel as their files' texts.
 */
import { MoatError, SystemLikeError, isErrorCode } from '../errors.js';
import { parseIgnoreFile, type IgnoreFile } from './ignore.js';
import type { SnapshotLimits } from './limits.js';
import type { Entry } from './manifest.js';
import type { Folder, ListingFix } from './walk.js';
import { folderStat, WalkDir, type FolderStat } from './walk-dir.js';

/** What the second walker starts with. */
export interface CoWalkData {
  shared: SharedArrayBuffer;
  workspace: string;
  storeRoot: string;
  limits: SnapshotLimits;
  exclude?: string[];
  excludeAbs?: string[];
  /** The previous snapshot's manifest (read from the store by the second walker itself). */
  previousHash?: string;
  /** .gitignore texts taken from a manifest instead of the disk: folder → object hash. */
  ignoreFiles?: Array<[string, string]>;
  /** Tests: it fails on its (n+1)th folder. */
  failAfter?: number;
}

export interface HandedFolder {
  fd: number;
  path: string;
  rel: string;
  stack: Array<{ base: string; text: string }>;
  rules: string;
  depth: number;
  st: FolderStat;
}

/** What the second walker recorded, sent once at the end. */
export interface CoWalkResult {
  entries: Entry[];
  skipped: Array<{ path: string; why: string }>;
  skippedCount: number;
  listed: number;
  untrusted: boolean;
  read: number;
  added: number;
  fixes: ListingFix[];
  /** Folders it was handed. */
  folders: number;
}

export interface SentError {
  message: string;
  code?: string;
  hint?: string;
  moat: boolean;
}

export type ToCoWalker = { kind: 'folder'; folder: HandedFolder } | { kind: 'close' } | { kind: 'abort' };

export type FromCoWalker =
  | { kind: 'ready' }
  | { kind: 'folder'; folder: HandedFolder }
  | { kind: 'done' }
  | { kind: 'failed'; error: SentError }
  | { kind: 'result'; result: CoWalkResult }
  | { kind: 'ended' };

/**
 * Ignore files' texts above a folder handed over are at most this long in all: a workspace that nests
 * large .gitignore files deep keeps its folders on the thread that met them, rather than having the texts
 * copied and parsed again for each folder handed over.
 */
const HAND_TEXT_MAX = 64 << 10;

export function handable(f: Folder): boolean {
  let n = 0;
  for (const i of f.stack) n += i.text?.length ?? 0;
  return n <= HAND_TEXT_MAX;
}

/** A folder opened by this thread, to hand over (its descriptor goes with it). */
export function handedFolder(dir: WalkDir, f: Folder): HandedFolder {
  return {
    fd: dir.fd,
    path: dir.path,
    rel: f.rel,
    stack: f.stack.map((i) => ({ base: i.base, text: i.text ?? '' })),
    rules: f.rules,
    depth: f.depth,
    st: folderStat(f.st),
  };
}

/**
 * A folder handed over, as this thread walks it. Ignore stacks are parsed once per rules hash (the hash
 * names the stack's texts and folders).
 */
export function receivedFolder(h: HandedFolder, parsed: Map<string, IgnoreFile[]>): { dir: WalkDir; folder: Folder } {
  let stack = parsed.get(h.rules);
  if (!stack) {
    stack = h.stack.map((i) => parseIgnoreFile(i.base, i.text));
    parsed.set(h.rules, stack);
  }
  return { dir: WalkDir.adopt(h.fd, h.path, h.st), folder: { rel: h.rel, stack, rules: h.rules, depth: h.depth, st: h.st } };
}

export function sendError(err: unknown): SentError {
  if (err instanceof MoatError) return { message: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}), moat: true };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}), moat: false };
}

/** The error as the walk's own thread would have thrown it (a MoatError with its code and hint, or a system error's code). */
export function receivedError(e: SentError): Error {
  if (e.moat && isErrorCode(e.code)) return new MoatError(e.message, { code: e.code, ...(e.hint ? { hint: e.hint } : {}) });
  return e.code ? new SystemLikeError(e.message, e.code) : new Error(e.message);
}
