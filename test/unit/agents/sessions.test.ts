import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  claudeSessions,
  codexSessions,
  matchSessionId,
  recordedSessionIds,
  sessionRows,
  sessionsOfRun,
  type SessionFile,
} from '../../../src/agents/sessions.js';
import type { RunMetadata } from '../../../src/store/types.js';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const S3 = '33333333-3333-4333-8333-333333333333';

function run(p: Partial<RunMetadata> & { id: string; createdAt: string }): RunMetadata {
  return {
    name: p.id.slice(4),
    workspace: '/ws/a',
    command: ['/bin/sh', '-c', 'x', 'moat-claude', 'claude'],
    image: 'i',
    grants: [],
    interactive: false,
    keep: false,
    state: 'stopped',
    home: '/h',
    agent: 'claude',
    ...p,
  };
}

describe('agent sessions: transcripts on the host', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-sessions-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const at = async (file: string, iso: string): Promise<void> => {
    const t = new Date(iso);
    await utimes(file, t, t);
  };

  it("claude: session ids from <id>.jsonl in the workspace's folder, newest first, start from the first timestamp", async () => {
    const p = dir;
    await writeFile(join(p, `${S1}.jsonl`), `{"type":"summary"}\n{"timestamp":"2026-01-01T10:00:00.000Z","sessionId":"${S1}"}\n`);
    await writeFile(join(p, `${S2}.jsonl`), `{"timestamp":"2026-01-02T10:00:00.000Z"}\n`);
    await writeFile(join(p, 'not-a-session.txt'), 'x');
    await mkdir(join(dir, S3), { recursive: true }); // a conversation's own folder (subagents) is not one
    await writeFile(join(dir, S3, `${S3}.jsonl`), '{}\n');
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
    const sessions: SessionFile[] = [
      { sessionId: S2, file: 'b', startedAt: Date.parse('2026-01-02T10:00:10Z'), lastActivity: Date.parse('2026-01-02T10:00:50Z') },
      { sessionId: S1, file: 'a', startedAt: Date.parse('2026-01-01T10:00:10Z'), lastActivity: Date.parse('2026-01-01T10:00:50Z') },
    ];
    const runs = [
      run({
        id: 'run_bbbbbbbbbbbb',
        createdAt: '2026-01-02T10:00:00Z',
        startedAt: '2026-01-02T10:00:01Z',
        stoppedAt: '2026-01-02T10:01:00Z',
        workspace: '/ws/b',
      }),
      run({ id: 'run_aaaaaaaaaaaa', createdAt: '2026-01-01T10:00:00Z', startedAt: '2026-01-01T10:00:01Z', stoppedAt: '2026-01-01T10:01:00Z', exitCode: 0 }),
      run({ id: 'run_cccccccccccc', createdAt: '2026-01-03T10:00:00Z', stoppedAt: '2026-01-03T10:01:00Z' }),
      run({ id: 'run_dddddddddddd', createdAt: '2026-01-01T10:00:00Z', agent: 'codex' }),
      run({ id: 'run_eeeeeeeeeeee', createdAt: '2026-01-01T10:00:00Z', agent: undefined, command: ['bash'] }),
    ];

    const all = (): typeof sessions => sessions;

    it("rows: this workspace's runs of the agent, newest activity first, with session ids", () => {
      const rows = sessionRows('claude', runs, all, '/ws/a');
      expect(rows.map((r) => [r.id, r.sessionId, r.lastActivity])).toEqual([
        ['run_cccccccccccc', undefined, '2026-01-03T10:01:00Z'],
        ['run_aaaaaaaaaaaa', S1, '2026-01-01T10:00:50.000Z'],
      ]);
      expect(sessionRows('claude', runs, all, undefined).map((r) => r.id)).toEqual(['run_cccccccccccc', 'run_bbbbbbbbbbbb', 'run_aaaaaaaaaaaa']);
      expect(sessionRows('codex', runs, all, '/ws/a').map((r) => r.id)).toEqual(['run_dddddddddddd']);
    });

    it("rows: each run's candidates are its own workspace's folder; legacy conversations are marked", () => {
      const byWs = (r: RunMetadata): typeof sessions => (r.workspace === '/ws/b' ? [{ ...sessions[0]!, legacy: true }] : []);
      const rows = sessionRows('claude', runs, byWs, undefined);
      expect(rows.find((r) => r.id === 'run_aaaaaaaaaaaa')?.sessionId).toBeUndefined();
      expect(rows.find((r) => r.id === 'run_bbbbbbbbbbbb')).toMatchObject({ sessionId: S2, legacy: true });
    });

    it('an older run without the agent field is recognised by its command', () => {
      const legacy = run({ id: 'run_ffffffffffff', createdAt: '2026-01-01T10:00:00Z', stoppedAt: '2026-01-01T10:01:00Z', agent: undefined });
      expect(sessionRows('claude', [legacy], all, '/ws/a')[0]?.sessionId).toBe(S1);
      expect(sessionRows('codex', [legacy], all, '/ws/a')).toEqual([]);
    });

    const claudeCmd = (...argv: string[]): string[] => ['/bin/sh', '-c', 'x', 'moat-claude', 'claude', '--dangerously-skip-permissions', ...argv];

    it('recorded ids: --session-id and --resume before -p, codex resume ID; never a prompt', () => {
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: claudeCmd('--session-id', S1, '-p', 'hi') }))).toEqual([S1]);
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: claudeCmd('--resume', S2.toUpperCase()) }))).toEqual([S2]);
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: claudeCmd(`--session-id=${S3}`, '--model', 'opus') }))).toEqual([S3]);
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: claudeCmd('-p', '--resume', '--resume', S1) }))).toEqual([]);
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: claudeCmd('--resume', 'my-name') }))).toEqual([]);
      expect(
        recordedSessionIds(
          run({ id: 'run_1', createdAt: 'x', agent: 'codex', command: ['/bin/sh', '-c', 'x', 'moat-codex', 'codex', '--no-daemon', 'resume', S3] }),
        ),
      ).toEqual([S3]);
      expect(
        recordedSessionIds(
          run({ id: 'run_1', createdAt: 'x', agent: 'codex', command: ['/bin/sh', '-c', 'x', 'moat-codex', 'codex', 'exec', '--skip-git-repo-check', S3] }),
        ),
      ).toEqual([]);
      expect(recordedSessionIds(run({ id: 'run_1', createdAt: 'x', command: ['claude', '--session-id', S1] }))).toEqual([]);
    });

    it("two runs of one workspace at the same time: each gets the conversation it named, not the other's", () => {
      const t = { createdAt: '2026-01-02T10:00:00Z', startedAt: '2026-01-02T10:00:00Z', stoppedAt: '2026-01-02T10:02:00Z' };
      const both = [
        { sessionId: S1, file: 'a', startedAt: Date.parse('2026-01-02T10:00:10Z'), lastActivity: Date.parse('2026-01-02T10:01:00Z') },
        { sessionId: S2, file: 'b', startedAt: Date.parse('2026-01-02T10:00:20Z'), lastActivity: Date.parse('2026-01-02T10:01:30Z') },
      ];
      const r1 = run({ id: 'run_111111111111', ...t, command: claudeCmd('--session-id', S1, '-p', 'a') });
      const r2 = run({ id: 'run_222222222222', ...t, command: claudeCmd('--session-id', S2, '-p', 'b') });
      const r3 = run({ id: 'run_333333333333', ...t, command: claudeCmd('-p', 'c') }); // an older run: time only
      const rows = sessionRows('claude', [r1, r2, r3], () => both, '/ws/a');
      expect(rows.find((r) => r.id === r1.id)?.sessionIds).toEqual([S1]);
      expect(rows.find((r) => r.id === r2.id)?.sessionIds).toEqual([S2]);
      expect(rows.find((r) => r.id === r3.id)?.sessionIds).toEqual([]);
      // Without the others' claims, time alone matches both.
      expect(sessionsOfRun(r3, both).map((s) => s.sessionId)).toEqual([S1, S2]);
    });

    it('a session id or a unique 8+ character prefix', () => {
      expect(matchSessionId(S1.toUpperCase(), sessions)).toEqual([S1]);
      expect(matchSessionId('22222222-2222', sessions)).toEqual([S2]);
      expect(matchSessionId('2222222', sessions)).toEqual([]);
      const twins = [...sessions, { ...sessions[0]!, sessionId: '22222222-9999-4222-8222-222222222222' }];
      expect(matchSessionId('22222222', twins)).toHaveLength(2);
    });
  });
});
