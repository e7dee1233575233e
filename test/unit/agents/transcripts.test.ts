import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoatHome } from '../../../src/home/paths.js';
import {
  canonicalWorkspace,
  claudeProjectName,
  legacyTranscriptDir,
  moatTranscriptDirs,
  sharedFolderNotice,
  transcriptFolder,
  transcriptMount,
  workspaceKey,
} from '../../../src/agents/transcripts.js';

/** Paths Claude Code 2.1.331 itself named, in its image (`cd DIR && claude -p hi`, then `ls ~/.claude/projects`). */
const LONG = `/tmp/x y/${Array.from({ length: 30 }, () => 'projects').join('/')}`;
const CLAUDE_NAMED: Array<[string, string]> = [
  ['/workspace', '-workspace'],
  ['/tmp/a.b_c/é😀', '-tmp-a-b-c----'],
  ['/tmp/a.b_c/e\u0301😀', '-tmp-a-b-c----'], // NFD is composed first, as Claude Code does
  [LONG, `${`-tmp-x-y-${Array.from({ length: 30 }, () => 'projects').join('-')}`.slice(0, 200)}-5jojbq`],
];

describe('transcript folders: one per workspace', () => {
  let dir: string;
  let home: MoatHome;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-transcripts-'));
    home = new MoatHome(join(dir, 'home'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CLAUDE_NAMED)("Claude Code's own folder name for %s", (path, name) => {
    expect(claudeProjectName(path)).toBe(name);
  });

  it("the moat key: Claude's name plus a hash of the exact path, so lossy names never collide", () => {
    const paths = ['/a-b', '/a/b', '/a_b', '/a.b', '/a b', '/A/b', '/a/B', '/ä/b', '/ö/b', '/a/b-0'];
    const keys = paths.map(workspaceKey);
    expect(new Set(keys.map((k) => k.toLowerCase())).size).toBe(paths.length); // case-insensitive disks too
    expect(claudeProjectName('/a-b')).toBe(claudeProjectName('/a/b'));
    expect(workspaceKey('/home/me/proj')).toMatch(/^-home-me-proj-[0-9a-f]{12}$/);
    expect(workspaceKey('/home/me/proj')).toBe(workspaceKey('/home/me/proj'));
    expect(workspaceKey('/x/e\u0301')).toBe(workspaceKey('/x/é'));
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9-]+$/); // one path segment, never "..", never "/"
  });

  it('long paths: two that share their first 200 characters get two folders, each a valid name', () => {
    const a = workspaceKey(`${LONG}/a`);
    const b = workspaceKey(`${LONG}/b`);
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(255);
    expect(workspaceKey(`/${'x'.repeat(4000)}`).length).toBeLessThanOrEqual(255);
  });

  it("per agent and sync_logs: the moat home's per-workspace folder, Claude's own project folder, Codex's shared one", () => {
    const ws = '/home/me/my_proj';
    const key = workspaceKey(ws);
    expect(transcriptFolder('claude', ws, home, undefined, { userHome: '/u' })).toEqual({
      agent: 'claude',
      dir: join(home.root, 'claude', 'projects', key),
      shared: false,
      synced: false,
    });
    expect(transcriptFolder('codex', ws, home, false, { userHome: '/u' })).toEqual({
      agent: 'codex',
      dir: join(home.root, 'codex', 'workspaces', key, 'sessions'),
      shared: false,
      synced: false,
    });
    expect(transcriptFolder('claude', ws, home, true, { userHome: '/u' })).toEqual({
      agent: 'claude',
      dir: '/u/.claude/projects/-home-me-my-proj',
      shared: false,
      synced: true,
    });
    expect(transcriptFolder('claude', ws, home, true, { userHome: '/u', env: { CLAUDE_CONFIG_DIR: '/cfg/claude' } }).dir).toBe(
      '/cfg/claude/projects/-home-me-my-proj',
    );
    expect(transcriptFolder('codex', ws, home, true, { userHome: '/u' })).toEqual({ agent: 'codex', dir: '/u/.codex/sessions', shared: true, synced: true });
    expect(transcriptFolder('codex', ws, home, true, { userHome: '/u', env: { CODEX_HOME: '/c' } }).dir).toBe('/c/sessions');
    // Two workspaces whose Claude names collide still get two moat folders.
    expect(transcriptFolder('claude', '/a-b', home, false).dir).not.toBe(transcriptFolder('claude', '/a/b', home, false).dir);
  });

  it("the mount: only the workspace's folder, at the agent's folder for /workspace, created 0700", async () => {
    const f = transcriptFolder('claude', '/w/a', home, false);
    expect(await transcriptMount(f)).toEqual({ source: f.dir, target: '/home/moat/.claude/projects/-workspace', readOnly: false });
    expect((await stat(f.dir)).mode & 0o777).toBe(0o700);
    const c = transcriptFolder('codex', '/w/a', home, false);
    expect((await transcriptMount(c)).target).toBe('/home/moat/.codex/sessions');
  });

  it("the mount's source is the folder's real path (a linked moat home or ~/.claude resolved), as every checked source is", async () => {
    await mkdir(join(dir, 'real-home'));
    await symlink(join(dir, 'real-home'), join(dir, 'linked-home'));
    const f = transcriptFolder('claude', '/w/a', new MoatHome(join(dir, 'linked-home')), false);
    const m = await transcriptMount(f);
    expect(m.source.startsWith(join(dir, 'real-home'))).toBe(true);
    expect(m.source).not.toBe(f.dir);
    // --dry-run creates nothing: the folder is named as is.
    const g = transcriptFolder('codex', '/w/z', new MoatHome(join(dir, 'nowhere')), false);
    expect((await transcriptMount(g, false)).source).toBe(g.dir);
  });

  it('a workspace reached through a symlink is the same workspace', async () => {
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    expect(await canonicalWorkspace(join(dir, 'link'))).toBe(await canonicalWorkspace(join(dir, 'real')));
    expect(await canonicalWorkspace(join(dir, 'gone', '..', 'gone'))).toBe(join(dir, 'gone'));
  });

  it('--all walks the per-workspace folders, never the old shared one', async () => {
    await transcriptMount(transcriptFolder('claude', '/w/a', home, false));
    await transcriptMount(transcriptFolder('claude', '/w/b', home, false));
    await mkdir(legacyTranscriptDir('claude', home), { recursive: true });
    expect((await moatTranscriptDirs('claude', home)).sort()).toEqual(
      [transcriptFolder('claude', '/w/a', home, false).dir, transcriptFolder('claude', '/w/b', home, false).dir].sort(),
    );
    expect(legacyTranscriptDir('codex', home)).toBe(join(home.root, 'codex', 'sessions'));
    expect(await moatTranscriptDirs('codex', home)).toEqual([]);
  });

  it('Codex with sync_logs: the notice comes once per workspace, never for a folder of its own', async () => {
    const shared = transcriptFolder('codex', '/w/a', home, true, { userHome: '/u' });
    const first = await sharedFolderNotice(shared, '/w/a', home);
    expect(first).toContain('/u/.codex/sessions');
    expect(first).toContain('sync_logs');
    expect(await sharedFolderNotice(shared, '/w/a', home)).toBeUndefined();
    expect(await sharedFolderNotice(shared, '/w/b', home)).toBeDefined();
    expect(await sharedFolderNotice(transcriptFolder('codex', '/w/c', home, false), '/w/c', home)).toBeUndefined();
  });
});
