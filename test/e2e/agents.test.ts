/**
 * `moat claude` and `moat codex` end to end: the real Claude Code and Codex CLIs from the npm registry,
 * in moat's container, against fake Anthropic and OpenAI APIs (HTTPS, their own test CA) reached through
 * the gateway's test-only upstream override. Each turn includes a tool call that writes a file.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import {
  MOAT_BIN,
  Tmux,
  cleanupHome,
  errorProblems,
  grantToken,
  listRuns,
  moat,
  moatEnv,
  parseDetached,
  shq,
  sleep,
  tempDir,
  upstreamOverrideEnv,
  waitFor,
} from './helpers.js';

const execFileP = promisify(execFile);

const ANTHROPIC_KEY = 'sk-ant-api03-E2EREALKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-AA';
const CLAUDE_TOKEN = 'sk-ant-oat01-E2EREALTOKEN-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-AA';
const OPENAI_KEY = 'sk-proj-E2EREALKEY-cccccccccccccccccccccccccccccccccccccccccccccc';
const SECRETS = [ANTHROPIC_KEY, CLAUDE_TOKEN, OPENAI_KEY];

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

async function containerEnv(id: string): Promise<string[]> {
  const { stdout } = await execFileP('docker', ['inspect', '--format', '{{json .Config.Env}}', id]);
  return JSON.parse(stdout) as string[];
}

/** A workspace's folder name under the moat home (docs/agents.md): Claude Code's name for it plus a hash of the path. */
async function workspaceFolder(ws: string): Promise<string> {
  const p = (await realpath(ws)).normalize('NFC');
  return `${p.replace(/[^a-zA-Z0-9]/g, '-')}-${createHash('sha256').update(p).digest('hex').slice(0, 12)}`;
}

interface Mounted {
  Source: string;
  Destination: string;
}

async function containerMounts(id: string): Promise<Mounted[]> {
  const { stdout } = await execFileP('docker', ['inspect', '--format', '{{json .Mounts}}', id]);
  return JSON.parse(stdout) as Mounted[];
}

interface TraceLine {
  method: string;
  url: string;
  host: string;
  status: number;
  grant?: string;
  upgrade?: string;
}

describe('agents: the real Claude Code and Codex against fake APIs', () => {
  let home: string;
  let ws: string;
  let wsB: string;
  let warm: string;
  let fakeA: FakeAnthropic;
  let fakeO: FakeOpenAI;
  let env: NodeJS.ProcessEnv;

  const run = (args: string[], timeoutMs = 180_000) => moat(args, { home, cwd: ws, env, timeoutMs });
  const grant = (name: string, secret: string): Promise<void> => grantToken(name, secret, { home, cwd: ws, env });
  /** The container of a kept run: its environment (Env and the staged file) holds only placeholders. */
  const assertNoSecretInContainer = async (runId: string): Promise<string[]> => {
    const meta = JSON.parse(await readFile(join(home, 'runs', runId, 'metadata.json'), 'utf8')) as { containerId: string };
    // The container's own Env (the privileged start's blanks) and the environment its command gets, which
    // moat-init reads from the staged file after dropping privileges.
    const staged = (await readFile(join(home, 'runs', runId, 'stage', 'env'), 'utf8')).split('\n').filter(Boolean);
    const cenv = [...(await containerEnv(meta.containerId)), ...staged];
    for (const s of SECRETS) expect(cenv.join('\n')).not.toContain(s);
    for (const f of filesUnder(join(home, 'runs', runId))) {
      const text = await readFile(f, 'utf8');
      for (const s of SECRETS) expect(text, f).not.toContain(s);
    }
    return cenv;
  };
  const trace = async (runId: string): Promise<TraceLine[]> => {
    const r = await moat(['trace', runId, '--json'], { home, cwd: ws, env });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceLine);
  };
  const lastRunId = async (): Promise<string> => {
    const runs = await listRuns(home, ws);
    const newest = runs.sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)))[0];
    if (!newest) throw new Error('no run recorded');
    return newest.id;
  };

  beforeAll(async () => {
    home = await tempDir('agents-home');
    ws = await tempDir('agents-ws');
    wsB = await tempDir('agents-ws-b');
    warm = await tempDir('agents-warm');
    fakeA = await startFakeAnthropic({ reply: 'Hi from fake Claude!', writeFile: { path: '/workspace/from-claude.txt', content: 'written by claude' } });
    fakeO = await startFakeOpenAI({ reply: 'Hi from fake Codex!', writeFile: { path: '/workspace/from-codex.txt', content: 'written by codex' } });
    env = await upstreamOverrideEnv(home, { 'api.anthropic.com': fakeA.port, 'api.openai.com': fakeO.port, 'chatgpt.com': fakeO.port }, [
      fakeA.caPem,
      fakeO.caPem,
    ]);
    // Build each agent image once (the same dependency set gives the same content-addressed image).
    for (const dep of ['claude-code', 'codex']) {
      const dir = join(warm, dep);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'moat.yaml'), `dependencies: [${dep}, git, ripgrep]\n`);
      const started = Date.now();
      const r = await moat(['run', '--approve-config', dir, '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
      if (r.code !== 0) throw new Error(`building the ${dep} image failed (${String(r.code)}):\n${r.stderr}`);
      process.stderr.write(`[agents e2e] ${dep} image ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  }, 900_000);

  afterAll(async () => {
    await fakeA?.close();
    await fakeO?.close();
    await cleanupHome(home, ws, [warm, wsB]);
  });

  it('without a stored credential: a clear message listing the moat grant commands', async () => {
    const runsBefore = (await listRuns(home, ws)).length;
    const r = await run(['claude', '-p', 'say hi']);
    expect(errorProblems(r, 5)).toEqual([]);
    expect(r.stderr).toContain('Claude Code needs a credential');
    expect(r.stderr).toContain('moat grant claude');
    expect(r.stderr).toContain('moat grant anthropic');
    const c = await run(['codex', '-p', 'say hi']);
    expect(errorProblems(c, 5)).toEqual([]);
    expect(c.stderr).toContain('moat grant openai');
    expect(await listRuns(home, ws)).toHaveLength(runsBefore); // nothing was created
  });

  it('an unknown flag says where agent flags go', async () => {
    const r = await run(['codex', '--model-x', 'o4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--model-x'");
    expect(r.stderr).toContain('Options for Codex itself go after --');
  });

  it('moat claude -p with an API key: the turn completes, the tool writes a file, the key never enters the container', async () => {
    await grant('anthropic', ANTHROPIC_KEY);
    const before = fakeA.requests.length;
    const r = await run(['claude', '--keep', '-p', 'say hi']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Hi from fake Claude!');
    // The tool call wrote a file in the workspace, owned by the workspace owner.
    const file = join(ws, 'from-claude.txt');
    expect((await readFile(file, 'utf8')).trim()).toBe('written by claude');
    expect(statSync(file).uid).toBe(statSync(ws).uid);
    expect(fakeA.toolUses).toBeGreaterThanOrEqual(1);
    // The fake received the real key on every request; the container only a placeholder.
    const reqs = fakeA.requests.slice(before);
    expect(reqs.some((q) => q.method === 'POST' && q.path.startsWith('/v1/messages'))).toBe(true);
    for (const q of reqs) expect(q.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    const id = await lastRunId();
    const cenv = await assertNoSecretInContainer(id);
    const placeholder = cenv.find((e) => e.startsWith('ANTHROPIC_API_KEY='));
    expect(placeholder).toMatch(/^ANTHROPIC_API_KEY=sk-ant-api03-/);
    // The run's trace shows the requests, with the grant that was applied.
    const t = await trace(id);
    expect(
      t.some((l) => l.host === 'api.anthropic.com' && l.method === 'POST' && l.url.includes('/v1/messages') && l.status === 200 && l.grant === 'anthropic'),
    ).toBe(true);
  });

  it("the transcript outlives the container: in the workspace's own folder under $MOAT_HOME/claude/projects, named by the run", async () => {
    const id = await lastRunId();
    const meta = JSON.parse(await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8')) as { agent?: string; command: string[]; containerId: string };
    expect(meta.agent).toBe('claude');
    // moat chose the new conversation's id, so the run's record names it.
    const minted = meta.command[meta.command.indexOf('--session-id') + 1];
    expect(minted).toMatch(/^[0-9a-f-]{36}$/);
    const folder = join(home, 'claude', 'projects', await workspaceFolder(ws));
    const transcripts = filesUnder(folder).filter((f) => f.endsWith('.jsonl'));
    expect(transcripts.map((f) => f.split('/').pop())).toContain(`${minted ?? ''}.jsonl`);
    expect(existsSync(join(home, 'claude', 'projects', '-workspace'))).toBe(false); // the old shared folder is gone
    // Only that folder is mounted, at Claude Code's folder for /workspace.
    const mounts = (await containerMounts(meta.containerId)).filter((m) => m.Destination.startsWith('/home/moat/.claude'));
    expect(mounts.map((m) => [m.Source, m.Destination])).toEqual([[folder, '/home/moat/.claude/projects/-workspace']]);
    const r = await run(['claude', 'sessions', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { sessions: Array<{ id: string; sessionId?: string; state: string }> }).sessions;
    expect(rows.find((x) => x.id === id)?.sessionId).toBe(minted);
    // A fresh container picks the conversation up again: the earlier prompt goes to the API with the new one.
    const before = fakeA.messages.length;
    const c = await run(['claude', '--continue', '-p', 'say hi again']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('Hi from fake Claude!');
    const sent = fakeA.messages.slice(before).map((q) => JSON.stringify(q.body.messages ?? []));
    expect(
      sent.some((m) => m.includes('say hi again') && m.includes('"say hi"')),
      sent.join('\n').slice(0, 3000),
    ).toBe(true);
    const resumed = await run(['claude', '--resume', id, '-p', 'and once more']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const continued = (await listRuns(home, ws)).filter((x) => x.command.includes('--resume'));
    expect(continued.length).toBeGreaterThanOrEqual(2);
    for (const c2 of continued) expect((c2.command as string[]).includes(minted ?? '-'), JSON.stringify(c2.command)).toBe(true);
  });

  it('another workspace sees none of it: its own empty folder mounted, nothing to continue, sessions empty but --all lists the first', async () => {
    const inB = (args: string[]) => moat(args, { home, cwd: wsB, env, timeoutMs: 180_000 });
    const byAge = (rs: Awaited<ReturnType<typeof listRuns>>) => rs.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
    const idA = byAge((await listRuns(home, ws)).filter((x) => x.command.includes('--session-id')))[0]?.id ?? '';
    const rowsA = (JSON.parse((await run(['claude', 'sessions', '--json'])).stdout) as { sessions: Array<{ id: string; sessionId?: string }> }).sessions;
    const sessionA = rowsA.find((x) => x.id === idA)?.sessionId ?? '';
    expect(sessionA).toMatch(/^[0-9a-f-]{36}$/);
    // (b) Nothing to continue in B, though A has a conversation; nothing is created.
    const runsBefore = (await listRuns(home, ws)).length;
    const c = await inB(['claude', '--continue', '-p', 'hello?']);
    expect(errorProblems(c, 3)).toEqual([]);
    expect(c.stderr).toContain(`There is no Claude Code conversation in ${wsB.replace(/\/$/, '')} to continue`);
    // A's conversation by id or by run: an error saying where to resume it.
    const byId = await inB(['claude', '--resume', sessionA, '-p', 'hello?']);
    expect(errorProblems(byId, 3)).toEqual([]);
    expect(byId.stderr).toContain(`belongs to ${ws.replace(/\/$/, '')}`);
    expect(byId.stderr).toContain(`moat claude --resume ${sessionA}`);
    const byRun = await inB(['claude', '--resume', idA, '-p', 'hello?']);
    expect(byRun.stderr).toContain(`belongs to ${ws.replace(/\/$/, '')}`);
    expect((await listRuns(home, ws)).length).toBe(runsBefore);
    // (c) B's sessions are empty; --all lists A's run with its conversation.
    const s = await inB(['claude', 'sessions', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toEqual({ sessions: [] });
    const all = await inB(['claude', 'sessions', '--all', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect((JSON.parse(all.stdout) as { sessions: Array<{ id: string; sessionId?: string }> }).sessions.find((x) => x.id === idA)?.sessionId).toBe(sessionA);
    // (a) A run in B mounts B's own folder only: A's transcripts are not in its container, and B's turn lands in B's folder.
    const r = await inB(['claude', '--keep', '-p', 'say hi from b']);
    expect(r.code, r.stderr).toBe(0);
    const runB = byAge((await listRuns(home, ws)).filter((x) => x.workspace === wsB.replace(/\/$/, ''))).at(-1);
    const metaB = JSON.parse(await readFile(join(home, 'runs', runB?.id ?? '', 'metadata.json'), 'utf8')) as { containerId: string; command: string[] };
    const folderA = join(home, 'claude', 'projects', await workspaceFolder(ws));
    const folderB = join(home, 'claude', 'projects', await workspaceFolder(wsB));
    const mounts = await containerMounts(metaB.containerId);
    expect(mounts.filter((m) => m.Destination.startsWith('/home/moat/.claude')).map((m) => [m.Source, m.Destination])).toEqual([
      [folderB, '/home/moat/.claude/projects/-workspace'],
    ]);
    for (const m of mounts) expect(folderA.startsWith(m.Source) || m.Source.startsWith(folderA), m.Source).toBe(false);
    const sessionB = metaB.command[metaB.command.indexOf('--session-id') + 1] ?? '';
    expect(filesUnder(folderB).map((f) => f.split('/').pop())).toContain(`${sessionB}.jsonl`);
    expect(filesUnder(folderA).some((f) => f.includes(sessionB))).toBe(false);
    const sB = (JSON.parse((await inB(['claude', 'sessions', '--json'])).stdout) as { sessions: Array<{ sessionId?: string }> }).sessions;
    expect(sB.map((x) => x.sessionId)).toEqual([sessionB]);
  });

  it('moat claude -p with the subscription grant: Bearer token, no API key', async () => {
    await grant('claude', CLAUDE_TOKEN);
    const before = fakeA.requests.length;
    // Both grants are stored now: the subscription is preferred.
    const r = await run(['claude', '--keep', '-p', 'say hi']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Hi from fake Claude!');
    const reqs = fakeA.requests.slice(before);
    expect(reqs.some((q) => q.method === 'POST' && q.path.startsWith('/v1/messages'))).toBe(true);
    for (const q of reqs) {
      expect(q.headers.authorization).toBe(`Bearer ${CLAUDE_TOKEN}`);
      expect(q.headers['x-api-key']).toBeUndefined();
    }
    await assertNoSecretInContainer(await lastRunId());
  });

  it('moat codex -p with an API key: the turn completes, the tool writes a file, the key never enters the container', async () => {
    await grant('openai', OPENAI_KEY);
    const before = fakeO.requests.length;
    const r = await run(['codex', '--keep', '-p', 'say hi']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Hi from fake Codex!');
    const file = join(ws, 'from-codex.txt');
    expect((await readFile(file, 'utf8')).trim()).toBe('written by codex');
    expect(statSync(file).uid).toBe(statSync(ws).uid);
    expect(fakeO.functionCalls).toBeGreaterThanOrEqual(1);
    const reqs = fakeO.requests.slice(before).filter((q) => q.path.startsWith('/v1/responses'));
    expect(reqs.length).toBeGreaterThan(0);
    for (const q of reqs) expect(q.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    const id = await lastRunId();
    const cenv = await assertNoSecretInContainer(id);
    expect(cenv.find((e) => e.startsWith('OPENAI_API_KEY='))).toMatch(/^OPENAI_API_KEY=sk-/);
    const t = await trace(id);
    expect(t.some((l) => l.host === 'api.openai.com' && l.url.includes('/v1/responses') && l.grant === 'openai')).toBe(true);
    // Its rollout is on the host, and moat codex sessions names it.
    const rollouts = filesUnder(join(home, 'codex', 'workspaces', await workspaceFolder(ws), 'sessions')).filter((f) => /rollout-.*\.jsonl$/.test(f));
    expect(existsSync(join(home, 'codex', 'sessions'))).toBe(false);
    expect(rollouts.length).toBeGreaterThan(0);
    const s = await run(['codex', 'sessions', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const row = (JSON.parse(s.stdout) as { sessions: Array<{ id: string; sessionId?: string }> }).sessions.find((x) => x.id === id);
    expect(rollouts.some((f) => row?.sessionId !== undefined && f.endsWith(`${row.sessionId}.jsonl`))).toBe(true);
    // A fresh container finds the conversation by id in the workspace's folder (what moat codex resume passes).
    const turns = fakeO.turns.length;
    const again = await run(['codex', '--', 'exec', '--skip-git-repo-check', 'resume', row?.sessionId ?? '', 'say hi again']);
    expect(again.code, again.stderr).toBe(0);
    const sent = fakeO.turns.slice(turns).map((t) => JSON.stringify(t.body.input ?? []));
    expect(
      sent.some((m) => m.includes('say hi again') && m.includes('"say hi"')),
      sent.join('\n').slice(0, 2000),
    ).toBe(true);
  });

  it('-d starts the agent in the background and prints how to attach', async () => {
    const r = await run(['codex', '-d', '-p', 'say hi']);
    expect(r.code, r.stderr).toBe(0);
    const { id, name } = parseDetached(r.stdout);
    expect(r.stdout).toContain(`moat attach ${name}`);
    expect(r.stdout).toContain(ws.replace(/\/$/, ''));
    const done = await waitFor(async () => (await listRuns(home, ws)).find((x) => x.id === id && x.state === 'stopped'), 60_000, 'the detached run to stop');
    expect(done.exitCode).toBe(0);
  });

  describe('interactive TUIs under tmux', () => {
    const tmux = new Tmux(`moat-agents-${process.pid}`);
    afterAll(async () => {
      await tmux.killServer();
    });

    /** A shell command line running `moat ARGS` with the test's environment, then printing its exit code. */
    const line = (args: string[]): string => {
      const e = moatEnv(home, env);
      const vars = [
        'MOAT_HOME',
        'MOAT_DAEMON_IDLE_MS',
        'MOAT_SPARES',
        'NO_COLOR',
        'MOAT_KEYRING_BACKEND',
        'MOAT_TESTING',
        'MOAT_TEST_UPSTREAMS',
        'MOAT_TEST_UPSTREAM_CA',
        'PATH',
      ]
        .map((k) => `${k}=${shq(e[k] ?? '')}`)
        .join(' ');
      return `cd ${shq(ws)} && env ${vars} TERM=xterm-256color ${shq(process.execPath)} ${shq(MOAT_BIN)} ${args.map(shq).join(' ')}; echo MOAT_EXIT=$?; sleep 120`;
    };

    /** Rows of the pane (wrapped rows joined) that show the typed words. */
    const typedRows = async (name: string): Promise<string[]> =>
      (await tmux.capture(name))
        .split('\n')
        .map((r) => r.trimEnd())
        .filter((r) => /\bw\d\d\b/.test(r));

    const session = async (name: string, agent: 'claude' | 'codex', ready: RegExp, reply: RegExp): Promise<void> => {
      await tmux.newSession(name, line([agent, '-n', `tui-${agent}`]), 110, 34);
      await tmux.waitForText(name, ready, 60_000);
      await tmux.sendLiteral(name, 'say hi');
      await sleep(300);
      await tmux.sendKeys(name, 'Enter');
      await tmux.waitForText(name, reply, 60_000);
      // Resize: a line typed into the input (not sent) wraps at the terminal's width. After the window grows
      // from 110 to 150 columns a row wider than 110 holds it: only the TUI redrawing at the new size can
      // put it there (tmux never lengthens a row a program drew; capture -J joins only rows it wrapped).
      const words = Array.from({ length: 40 }, (_, i) => `w${String(i + 1).padStart(2, '0')}`);
      await tmux.sendLiteral(name, words.join(' '));
      await tmux.waitForText(name, /\bw40\b/, 15_000);
      const before = await typedRows(name);
      expect(before.length, before.join('\n')).toBeGreaterThan(0);
      expect(
        before.filter((r) => r.length > 110),
        before.join('\n'),
      ).toEqual([]);
      await tmux.run(['resize-window', '-t', name, '-x', '150', '-y', '34']);
      const after = await waitFor(
        async () => {
          const rows = await typedRows(name);
          const shown = rows.join(' ');
          return rows.some((r) => r.length > 110) && words.every((w) => shown.includes(w)) ? rows : undefined;
        },
        15_000,
        'the typed line redrawn wider than 110 columns after the resize',
      ).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- pane ---\n${await tmux.capture(name)}`);
      });
      expect(after.every((r) => r.length <= 150)).toBe(true);
      // Ctrl-C clears the input first, then asks again before it quits. Once the agent has quit, a press
      // reaches moat finishing its checks (it says so and goes on; a second would end it): stop pressing.
      for (let i = 0; i < 6; i += 1) {
        if (/MOAT_EXIT=|To continue this|finishing its checks/.test(await tmux.capture(name))) break;
        await tmux.sendKeys(name, 'C-c');
        await sleep(700);
      }
      const exited = await tmux.waitForText(name, /MOAT_EXIT=\d+/, 30_000);
      expect(exited).toMatch(/MOAT_EXIT=(0|130)/);
    };

    it('claude: the TUI draws with bypass permissions, answers a typed prompt, resizes and exits', async () => {
      await session('claude', 'claude', /bypass permissions on/, /Hi from fake Claude!/);
    }, 180_000);

    it('codex: the TUI draws in YOLO mode without a sign-in screen, answers, resizes and exits', async () => {
      await session('codex', 'codex', /Ask Codex to do anything|YOLO/, /Hi from fake Codex!/);
    }, 180_000);
  });
});
