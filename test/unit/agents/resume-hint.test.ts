import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENTS } from '../../../src/agents/index.js';
import { resumeCommand, resumeHint } from '../../../src/agents/resume-hint.js';
import { recordedSessionIds } from '../../../src/agents/sessions.js';
import { codexCommand } from '../../../src/agents/codex/index.js';
import { claudeCommand } from '../../../src/agents/claude/index.js';
import { canonicalWorkspace, transcriptFolder } from '../../../src/agents/transcripts.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { RunMetadata } from '../../../src/store/types.js';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';

describe('the resume hint after an agent run', () => {
  let dir: string;
  let home: MoatHome;
  let ws: string;
  const transcript = async (folder: string, id: string, iso: string): Promise<void> => {
    await mkdir(folder, { recursive: true });
    const f = join(folder, `${id}.jsonl`);
    await writeFile(f, `{"timestamp":"${iso}","sessionId":"${id}"}\n`);
    const t = new Date(Date.parse(iso) + 30_000);
    await utimes(f, t, t);
  };
  const run = (id: string, startedAt: string, argv: string[]): RunMetadata => ({
    id,
    name: `name-${id.slice(4, 8)}`,
    workspace: ws,
    command: ['/bin/sh', '-c', 'x', 'moat-claude', 'claude', ...argv],
    image: 'i',
    grants: [],
    interactive: true,
    keep: false,
    state: 'stopped',
    home: home.root,
    agent: 'claude',
    createdAt: startedAt,
    startedAt,
    stoppedAt: new Date(Date.parse(startedAt) + 60_000).toISOString(),
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-hint-'));
    home = new MoatHome(join(dir, 'home'));
    ws = join(dir, 'my project');
    await mkdir(ws, { recursive: true });
    const folder = transcriptFolder('claude', await canonicalWorkspace(ws), home, false).dir;
    await transcript(folder, S1, '2026-01-01T10:00:10Z');
    await transcript(folder, S2, '2026-01-02T10:00:10Z');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names the run's own conversation, as a command that runs where it is typed", async () => {
    const first = run('run_aaaaaaaaaaaa', '2026-01-01T10:00:00Z', ['--session-id', S1]);
    const second = run('run_bbbbbbbbbbbb', '2026-01-02T10:00:00Z', ['--session-id', S2]);
    expect(await resumeHint(AGENTS.claude, first, [first, second], home, { cwd: ws })).toBe(`To continue this conversation: moat claude --resume ${S1}`);
    expect(await resumeHint(AGENTS.claude, second, [first, second], home, { cwd: dir })).toBe(
      `To continue this conversation: cd '${ws}' && moat claude --resume ${S2}`,
    );
  });
  it('says nothing for a run that left no conversation', async () => {
    const none = run('run_cccccccccccc', '2026-03-01T10:00:00Z', []);
    expect(await resumeHint(AGENTS.claude, none, [none], home, { cwd: ws })).toBeUndefined();
  });
  it('is what moat accepts: the agent commands moat builds from it resume that very id', () => {
    expect(resumeCommand(AGENTS.claude, S1, ws, true)).toBe(`moat claude --resume ${S1}`);
    expect(resumeCommand(AGENTS.codex, S1, ws, true)).toBe(`moat codex resume ${S1}`);
    // `moat claude --resume ID` and `moat codex resume ID` pass the id on (agents.ts resumeArgs): the
    // container command then names it, which is how the run's record finds it again.
    const claudeArgv = claudeCommand({ yolo: true, args: [], resume: ['--resume', S1] });
    const codexArgv = codexCommand({ yolo: true, args: [], resume: [S1] });
    const asRun = (argv: string[]): RunMetadata => ({
      ...run('run_dddddddddddd', '2026-01-01T10:00:00Z', []),
      command: ['/bin/sh', '-c', 'x', 'moat-x', ...argv],
    });
    expect(recordedSessionIds(asRun(claudeArgv))).toEqual([S1]);
    expect(recordedSessionIds(asRun(codexArgv))).toEqual([S1]);
  });
});
