import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AGENTS } from '../../../src/agents/index.js';
import {
  allWorkspaceCandidates,
  legacyNote,
  newestConversation,
  resolveResume,
  workspaceTranscripts,
  type WorkspaceTranscripts,
} from '../../../src/agents/session-scope.js';
import { sessionRows } from '../../../src/agents/sessions.js';
import { canonicalWorkspace, legacyTranscriptDir, transcriptFolder } from '../../../src/agents/transcripts.js';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { RunMetadata } from '../../../src/store/types.js';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const S3 = '33333333-3333-4333-8333-333333333333';
const S4 = '44444444-4444-4444-8444-444444444444';

/** The MoatError a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<MoatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MoatError) return err;
    throw err;
  }
  throw new Error('expected a MoatError');
}

describe("sessions per workspace: listing and resolution stay in the workspace's folder", () => {
  let dir: string;
  let home: MoatHome;
  let wsA: string;
  let wsB: string;
  let runs: RunMetadata[];
  const byRef = (ref: string): Promise<RunMetadata> => {
    const r = runs.find((x) => x.id === ref || x.name === ref);
    return r ? Promise.resolve(r) : Promise.reject(new MoatError(`No run matches "${ref}".`, { code: 'E_NOT_FOUND' }));
  };
  const claude = (ws: string): Promise<WorkspaceTranscripts> => workspaceTranscripts(AGENTS.claude, ws, home);
  const transcript = async (folder: string, id: string, iso: string): Promise<string> => {
    await mkdir(folder, { recursive: true });
    const f = join(folder, `${id}.jsonl`);
    await writeFile(f, `{"timestamp":"${iso}","sessionId":"${id}"}\n`);
    const t = new Date(Date.parse(iso) + 30_000);
    await utimes(f, t, t);
    return f;
  };
  const run = (id: string, workspace: string, startedAt: string, argv: string[] = ['-p', 'x']): RunMetadata => ({
    id,
    name: `name-${id.slice(4, 8)}`,
    workspace,
    command: ['/bin/sh', '-c', 'x', 'moat-claude', 'claude', ...argv],
    image: 'i',
    grants: [],
    interactive: false,
    keep: false,
    state: 'stopped',
    home: home.root,
    agent: 'claude',
    createdAt: startedAt,
    startedAt,
    stoppedAt: new Date(Date.parse(startedAt) + 60_000).toISOString(),
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-scope-'));
    home = new MoatHome(join(dir, 'home'));
    wsA = join(dir, 'work', 'a-b');
    wsB = join(dir, 'work', 'a', 'b'); // Claude Code would give both one folder name
    await mkdir(wsA, { recursive: true });
    await mkdir(wsB, { recursive: true });
    const folderA = transcriptFolder('claude', await canonicalWorkspace(wsA), home, false).dir;
    await transcript(folderA, S1, '2026-01-01T10:00:10Z');
    await transcript(folderA, S2, '2026-01-02T10:00:10Z');
    await transcript(legacyTranscriptDir('claude', home), S3, '2025-12-01T10:00:10Z');
    runs = [
      run('run_aaaaaaaaaaaa', wsA, '2026-01-01T10:00:00Z', ['--session-id', S1, '-p', 'x']),
      run('run_a2a2a2a2a2a2', wsA, '2026-01-02T10:00:00Z'),
      run('run_bbbbbbbbbbbb', wsB, '2026-01-03T10:00:00Z'),
      run('run_0ld0ld0ld0ld', wsB, '2025-12-01T10:00:00Z'),
    ];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('each workspace reads only its own folder', async () => {
    expect((await claude(wsA)).sessions.map((s) => s.sessionId)).toEqual([S2, S1]);
    expect((await claude(wsB)).sessions).toEqual([]);
  });

  it("sessions: this workspace's runs only; --all every workspace's folder and the old shared one, marked", async () => {
    const b = await claude(wsB);
    expect(sessionRows('claude', runs, () => b.sessions, wsB).map((r) => r.sessionId)).toEqual([undefined, undefined]);
    const all = sessionRows('claude', runs, await allWorkspaceCandidates('claude', runs, home), undefined);
    expect(all.map((r) => [r.id, r.sessionId, r.legacy])).toEqual([
      ['run_bbbbbbbbbbbb', undefined, undefined],
      ['run_a2a2a2a2a2a2', S2, undefined],
      ['run_aaaaaaaaaaaa', S1, undefined],
      ['run_0ld0ld0ld0ld', S3, true],
    ]);
    expect(await legacyNote('claude', home)).toMatch(
      /^1 conversation is in .*-workspace, from before moat kept workspaces apart: moat claude sessions --all lists it\.$/,
    );
    expect(await legacyNote('claude', home, new Set(all.flatMap((r) => r.sessionIds)))).toBeUndefined();
    expect(await legacyNote('claude', home, new Set())).toContain(`1 conversation of no listed run is in`);
    expect(await legacyNote('codex', home)).toBeUndefined();
  });

  it("--continue: the newest of this workspace's folder, or an error naming the workspace", async () => {
    expect(await newestConversation(await claude(wsA), runs, home)).toBe(S2);
    await expect(newestConversation(await claude(wsB), runs, home)).rejects.toThrow(`There is no Claude Code conversation in ${wsB} to continue`);
  });

  it("--resume: an id or run of this workspace; the run's recorded id wins over time", async () => {
    const a = await claude(wsA);
    expect(await resolveResume(a, S1, runs, byRef, home)).toBe(S1);
    expect(await resolveResume(a, '22222222', runs, byRef, home)).toBe(S2);
    expect(await resolveResume(a, 'run_aaaaaaaaaaaa', runs, byRef, home)).toBe(S1);
    expect(await resolveResume(a, 'name-a2a2', runs, byRef, home)).toBe(S2);
  });

  it("--resume of another workspace's conversation or run: one sentence saying where, and the command there", async () => {
    const b = await claude(wsB);
    const err = await failure(resolveResume(b, S1, runs, byRef, home));
    expect(err.message).toBe(`The Claude Code conversation ${S1} belongs to ${wsA}, and each workspace keeps its own conversations: resume it from there.`);
    expect(err.hint).toBe(`cd ${wsA} && moat claude --resume ${S1}`);
    await expect(resolveResume(b, '11111111', runs, byRef, home)).rejects.toThrow(`belongs to ${wsA}`);
    const byRun = await failure(resolveResume(b, 'run_aaaaaaaaaaaa', runs, byRef, home));
    expect(byRun.message).toContain(`belongs to ${wsA}`);
    expect(byRun.hint).toBe(`cd ${wsA} && moat claude --resume name-aaaa`);
    await expect(resolveResume(b, S4, runs, byRef, home)).rejects.toThrow(`There is no Claude Code conversation ${S4} in ${wsB}`);
    await expect(resolveResume(b, 'nope', runs, byRef, home)).rejects.toThrow(/neither a Claude Code session id nor a run/);
  });

  it('a conversation of the old shared folder: the error gives the copy command, which makes it resumable here', async () => {
    const b = await claude(wsB);
    const err = await failure(resolveResume(b, S3, runs, byRef, home));
    expect(err.message).toContain('the folder every workspace shared');
    await expect(resolveResume(b, 'run_0ld0ld0ld0ld', runs, byRef, home)).rejects.toThrow('the folder every workspace shared');
    const copy = (err.hint ?? '').split(' && moat ')[0] ?? '';
    expect(copy).toMatch(/^mkdir -p .* && cp -r /);
    await promisify(execFile)('/bin/sh', ['-c', copy]);
    expect(await resolveResume(await claude(wsB), S3, runs, byRef, home)).toBe(S3);
  });

  it("Codex: a folder per workspace; with sync_logs the shared folder is narrowed to this workspace's runs by time", async () => {
    const rollout = async (root: string, id: string, iso: string): Promise<void> => {
      const d = join(root, '2026', '01', '02');
      await mkdir(d, { recursive: true });
      const f = join(d, `rollout-${iso.slice(0, 19).replace(/:/g, '-')}-${id}.jsonl`);
      await writeFile(f, '{}\n');
      const t = new Date(Date.parse(iso) + 10_000);
      await utimes(f, t, t);
    };
    const codexRun = (id: string, ws: string, at: string): RunMetadata => ({
      ...run(id, ws, at),
      agent: 'codex',
      command: ['/bin/sh', '-c', 'x', 'moat-codex', 'codex', 'exec', 'x'],
    });
    const userHome = join(dir, 'user');
    await writeFile(join(wsA, 'moat.yaml'), 'codex:\n  sync_logs: true\n');
    await rollout(join(userHome, '.codex', 'sessions'), S1, '2026-01-02T10:00:10Z'); // A's run
    await rollout(join(userHome, '.codex', 'sessions'), S2, '2026-01-02T12:00:10Z'); // the user's own, later
    const codexRuns = [codexRun('run_cccccccccccc', wsA, '2026-01-02T10:00:00Z')];
    const a = await workspaceTranscripts(AGENTS.codex, wsA, home, { userHome });
    expect(a.folder.shared).toBe(true);
    expect(await newestConversation(a, codexRuns, home)).toBe(S1);
    const b = await workspaceTranscripts(AGENTS.codex, wsB, home, { userHome });
    expect(b.folder.dir).toContain(join('codex', 'workspaces'));
    await expect(newestConversation(b, codexRuns, home)).rejects.toThrow('There is no Codex conversation');
  });
});
