/**
 * Files in the workspace that programs on the HOST run or obey later: git hooks and git's own config
 * (aliases, core.hooksPath, core.fsmonitor, filters all name commands), direnv's .envrc, and VS Code's
 * tasks, and Claude Code's project settings and MCP servers (hooks and servers are commands). A run can write the whole workspace, so an agent could plant a command there that the user's own
 * tools then execute outside the sandbox. moat cannot stop that without taking the workspace away, so it
 * notices: it fingerprints these files before the run and names the ones that changed after it.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

const FILES = ['.git/config', '.envrc', '.vscode/tasks.json', '.claude/settings.json', '.claude/settings.local.json', '.mcp.json'];
const DIRS = ['.git/hooks'];
/** Bigger files are fingerprinted by size and time only. */
const MAX_READ = 1024 * 1024;

async function fingerprint(path: string): Promise<string | undefined> {
  try {
    const s = await lstat(path);
    if (s.isSymbolicLink()) return `symlink:${s.size}:${s.mtimeMs}`;
    if (!s.isFile()) return undefined;
    if (s.size > MAX_READ) return `large:${s.size}:${s.mtimeMs}:${s.mode}`;
    return `${s.mode}:${createHash('sha256')
      .update(await readFile(path))
      .digest('hex')}`;
  } catch {
    return undefined;
  }
}

/** Workspace-relative path → fingerprint, for every such file that exists. */
export async function snapshotHostExecutables(workspace: string): Promise<Map<string, string>> {
  const paths = [...FILES];
  for (const dir of DIRS) {
    try {
      for (const name of await readdir(join(workspace, dir))) if (!name.endsWith('.sample')) paths.push(`${dir}/${name}`);
    } catch {
      // no such folder
    }
  }
  const out = new Map<string, string>();
  await Promise.all(
    paths.map(async (p) => {
      const f = await fingerprint(join(workspace, p));
      if (f !== undefined) out.set(p, f);
    }),
  );
  return out;
}

/** The files added, changed or removed between two snapshots, sorted. */
export function changedHostExecutables(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}

/** The warning for changed files, or undefined when nothing changed. */
export function hostExecutablesWarning(changed: string[]): string | undefined {
  if (changed.length === 0) return undefined;
  const list = changed.length > 6 ? `${changed.slice(0, 6).join(', ')} and ${changed.length - 6} more` : changed.join(', ');
  return `The run changed ${list} in the workspace: programs on this machine (git, direnv, your editor, Claude Code) run what these files name. Review them before using those tools here.`;
}

/** Entries of a folder outside the workspace that the run can write, at most this many. */
const MAX_FOLDER_ENTRIES = 5000;

/**
 * Every entry of `dir` (symlinks not followed, at most MAX_FOLDER_ENTRIES, 8 levels) → size, time and
 * mode: for a folder of the user's own that host tools read (Claude Code's project folder with sync_logs).
 */
export async function snapshotFolder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(d)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (out.size >= MAX_FOLDER_ENTRIES) return;
      const p = join(d, n);
      try {
        const s = await lstat(p);
        out.set(relative(dir, p), `${s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : 'f'}:${s.size}:${s.mtimeMs}:${s.mode}`);
        if (s.isDirectory() && depth < 8) await walk(p, depth + 1);
      } catch {
        // gone meanwhile
      }
    }
  };
  await walk(dir, 0);
  return out;
}

/** The warning for what a run changed in such a folder, or undefined. */
export function hostFolderWarning(label: string, changed: string[]): string | undefined {
  if (changed.length === 0) return undefined;
  const list = changed.length > 6 ? `${changed.slice(0, 6).join(', ')} and ${changed.length - 6} more` : changed.join(', ');
  return `The run wrote ${list} in ${label}: your own tools on this machine read it (Claude Code loads its transcripts and memory when you resume). Review it before resuming there.`;
}
