import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';
import {
  claudeSessions, codexSessions, newestOfWorkspace, resolveResume, sessionRows, transcriptDir, transcriptMount,
} from '../../../src/agents/sessions.js';
import type { RunMetadata } from '../../../src/run/types.js';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const S3 = '33333333-3333-4333-8333-333333333333';

function run(p: Partial<RunMetadata> & { id: string; createdAt: string }): RunMetadata {
  return { name: p.id.slice(4), workspace: '/ws/a', command: ['/bin/sh', '-c', 'x', 'moat-claude', 'claude'], image: 'i', grants: [],
    interactive: false, keep: false, state: 'stopped', home: '/h', agent: 'claude', ...p };
}

describe('agent sessions: transcripts on the host', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'moat-sessions-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  const at = async (file: string, iso: string): Promise<void> => { const t = new Date(iso); await utimes(file, t, t); };

  it('where transcripts live: the moat home by default, the user\'s own folder with sync_logs; the mount is 0700', async () => {
    const home = new MoatHome(join(dir, 'home'));
    expect(transcriptDir('claude', home, undefined, '/u')).toBe(join(dir, 'home', 'claude', 'projects'));
    expect(transcriptDir('codex', home, false, '/u')).toBe(join(dir, 'home', 'codex', 'sessions'));
    expect(transcriptDir('claude', home, true, '/u')).toBe('/u/.claude/projects');
    expect(transcriptDir('codex', home, true, '/u')).toBe('/u/.codex/sessions');
    const m = await transcriptMount('claude', transcriptDir('claude', home, undefined));
    expect(m).toEqual({ source: join(dir, 'home', 'claude', 'projects'), target: '/home/moat/.claude/projects', readOnly: false });
    const { stat } = await import('node:fs/promises');
    expect((await stat(m.source)).mode & 0o777).toBe(0o700);
  });

  it('claude: session ids from <id>.jsonl under -workspace, newest first, start from the first timestamp', async () => {
    const p = join(dir, '-workspace');
    await mkdir(p, { recursive: true });
    await writeFile(join(p, `${S1}.jsonl`), `{"type":"summary"}\n{"timestamp":"2026-01-01T10:00:00.000Z","sessionId":"${S1}"}\n`);
    await writeFile(join(p, `${S2}.jsonl`), `{"timestamp":"2026-01-02T10:00:00.000Z"}\n`);
    await writeFile(join(p, 'not-a-session.txt'), 'x');
    await mkdir(join(dir, '-other'), { recursive: true });
    await writeFile(join(dir, '-other', `${S3}.jsonl`), '{}\n');
    await at(join(p, `${S1}.jsonl`), '2026-01-01T10:05:00Z');
    await at(join(p, `${S2}.jsonl`), '2026-01-02T10:05:00Z');
    const s = await claudeSessions(dir);
    expect(s.map((x) => x.sessionId)).toEqual([S2, S1]);
    expect(new Date(s[1]?.startedAt ?? 0).toISOString()).toBe('2026-01-01T10:00:00.000Z');
    expect(await claudeSessions(join(dir, 'missing'))).toEqual([]);
  });

  it('codex: rollout files under YYYY/MM/DD, the session id from the name', async () => {
    const d = join(dir, '2026', '01', '02');
    await mkdir(d, { recursive: true });
    const f = join(d, `rollout-2026-01-02T10-00-00-${S3}.jsonl`);
    await writeFile(f, 'not json\n');
    await writeFile(join(d, 'rollout-garbage.jsonl'), '');
    await at(f, '2026-01-02T10:01:00Z');
    const s = await codexSessions(dir);
    expect(s).toHaveLength(1);
    expect(s[0]?.sessionId).toBe(S3);
    expect(new Date(s[0]?.startedAt ?? 0).toISOString()).toBe('2026-01-02T10:00:00.000Z');
  });

  describe('runs and their conversations', () => {
    const sessions = [
      { sessionId: S2, file: 'b', startedAt: Date.parse('2026-01-02T10:00:10Z'), lastActivity: Date.parse('2026-01-02T10:00:50Z') },
      { sessionId: S1, file: 'a', startedAt: Date.parse('2026-01-01T10:00:10Z'), lastActivity: Date.parse('2026-01-01T10:00:50Z') },
    ];
    const runs = [
      run({ id: 'run_bbbbbbbbbbbb', createdAt: '2026-01-02T10:00:00Z', startedAt: '2026-01-02T10:00:01Z', stoppedAt: '2026-01-02T10:01:00Z', workspace: '/ws/b' }),
      run({ id: 'run_aaaaaaaaaaaa', createdAt: '2026-01-01T10:00:00Z', startedAt: '2026-01-01T10:00:01Z', stoppedAt: '2026-01-01T10:01:00Z', exitCode: 0 }),
      run({ id: 'run_cccccccccccc', createdAt: '2026-01-03T10:00:00Z', stoppedAt: '2026-01-03T10:01:00Z' }),
      run({ id: 'run_dddddddddddd', createdAt: '2026-01-01T10:00:00Z', agent: 'codex' }),
      run({ id: 'run_eeeeeeeeeeee', createdAt: '2026-01-01T10:00:00Z', agent: undefined, command: ['bash'] }),
    ];

    it('rows: this workspace\'s runs of the agent, newest activity first, with session ids', () => {
      const rows = sessionRows('claude', runs, sessions, '/ws/a');
      expect(rows.map((r) => [r.id, r.sessionId, r.lastActivity])).toEqual([
        ['run_cccccccccccc', undefined, '2026-01-03T10:01:00Z'],
        ['run_aaaaaaaaaaaa', S1, '2026-01-01T10:00:50.000Z'],
      ]);
      expect(sessionRows('claude', runs, sessions, undefined).map((r) => r.id)).toEqual(['run_cccccccccccc', 'run_bbbbbbbbbbbb', 'run_aaaaaaaaaaaa']);
      expect(sessionRows('codex', runs, sessions, '/ws/a').map((r) => r.id)).toEqual(['run_dddddddddddd']);
    });

    it('an older run without the agent field is recognised by its command', () => {
      const legacy = run({ id: 'run_ffffffffffff', createdAt: '2026-01-01T10:00:00Z', stoppedAt: '2026-01-01T10:01:00Z', agent: undefined });
      expect(sessionRows('claude', [legacy], sessions, '/ws/a')[0]?.sessionId).toBe(S1);
      expect(sessionRows('codex', [legacy], sessions, '/ws/a')).toEqual([]);
    });

    it('newest of a workspace: only its own runs\' conversations', () => {
      expect(newestOfWorkspace('claude', runs, sessions, '/ws/a')?.sessionId).toBe(S1);
      expect(newestOfWorkspace('claude', runs, sessions, '/ws/b')?.sessionId).toBe(S2);
      expect(newestOfWorkspace('claude', runs, sessions, '/ws/none')).toBeUndefined();
    });

    const byRef = (ref: string): Promise<RunMetadata> => {
      const r = runs.find((x) => x.id === ref || x.name === ref);
      return r ? Promise.resolve(r) : Promise.reject(new MoatError(`No run matches "${ref}".`));
    };

    it('--resume: a session id (or a unique prefix) as it is, a run as its newest conversation', async () => {
      expect(await resolveResume('claude', S1, sessions, byRef, 'Claude Code')).toBe(S1);
      expect(await resolveResume('claude', S2.toUpperCase(), sessions, byRef, 'Claude Code')).toBe(S2);
      expect(await resolveResume('claude', '22222222-2222', sessions, byRef, 'Claude Code')).toBe(S2);
      expect(await resolveResume('claude', 'run_aaaaaaaaaaaa', sessions, byRef, 'Claude Code')).toBe(S1);
      expect(await resolveResume('claude', 'bbbbbbbbbbbb', sessions, byRef, 'Claude Code')).toBe(S2);
    });

    it('--resume errors: unknown session, unknown run, a run without a transcript, another agent\'s run', async () => {
      await expect(resolveResume('claude', S3, sessions, byRef, 'Claude Code')).rejects.toThrow(/no Claude Code conversation/);
      await expect(resolveResume('claude', 'nope', sessions, byRef, 'Claude Code')).rejects.toThrow(/neither a Claude Code session id nor a run/);
      await expect(resolveResume('claude', 'run_cccccccccccc', sessions, byRef, 'Claude Code')).rejects.toThrow(/left no Claude Code transcript/);
      await expect(resolveResume('claude', 'run_dddddddddddd', sessions, byRef, 'Claude Code')).rejects.toThrow(/was not a Claude Code run/);
    });
  });
});
