import { realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cleanupHome, moat, tempDir, type MoatResult } from './helpers.js';

/**
 * docs/json.md: every command that reads state answers `--json` with one document on one line (JSON lines
 * for streams), camelCase names, and on failure `{"error":{"code","message","hint"}}` alone on stderr with a
 * non-zero exit. One run serves every test of the file.
 */

/** The one document a command printed: exactly one line of stdout, nothing on stderr. */
function doc<T = Record<string, unknown>>(r: MoatResult): T {
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  const lines = r.stdout.split('\n');
  expect(lines.at(-1)).toBe('');
  expect(lines.length, r.stdout).toBe(2);
  return JSON.parse(lines[0] ?? '') as T;
}

/** JSON lines a streaming command printed. */
function jsonLines<T = Record<string, unknown>>(r: MoatResult): T[] {
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** A failure: non-zero exit, nothing on stdout, one error document alone on stderr. */
function errorDoc(r: MoatResult, exit = 1): { code: string; message: string; hint: string | null } {
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n');
  expect(lines.length, r.stderr).toBe(2);
  const d = JSON.parse(lines[0] ?? '') as { error: { code: string; message: string; hint: string | null } };
  expect(Object.keys(d)).toEqual(['error']);
  expect(Object.keys(d.error)).toEqual(['code', 'message', 'hint']);
  return d.error;
}

const REFUSED = `exec 3<>/dev/tcp/127.0.0.1/$MOAT_PROXY_PORT; printf 'GET http://10.255.0.1/x HTTP/1.1\\r\\nHost: 10.255.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3; head -1 <&3`;

describe('moat --json: one voice', () => {
  let home: string;
  let ws: string;
  let id: string;
  const m = (args: string[], env?: NodeJS.ProcessEnv): Promise<MoatResult> => moat(args, { home, cwd: ws, ...(env ? { env } : {}), timeoutMs: 60_000 });

  beforeAll(async () => {
    home = await tempDir('moat-e2e-json-home-');
    ws = await tempDir('moat-e2e-json-ws-');
    const r = await m(['run', '-n', 'jsonrun', '--', 'bash', '-c', `echo json-out; echo json-err >&2; ${REFUSED}`]);
    expect(r.code, r.stderr).toBe(0);
    id = doc<{ runs: { id: string; name: string }[] }>(await m(['list', '--json'])).runs.find((x) => x.name === 'jsonrun')?.id ?? '';
    expect(id).toMatch(/^run_[0-9a-f]{12}$/);
  }, 120_000);
  afterAll(async () => {
    await cleanupHome(home, ws);
  });

  it('list: {runs: [...]} with the run’s documented fields', async () => {
    const { runs } = doc<{ runs: Record<string, unknown>[] }>(await m(['list', '--json']));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      id,
      name: 'jsonrun',
      state: 'stopped',
      exitCode: 0,
      workspace: expect.any(String),
      command: expect.any(Array),
      createdAt: expect.any(String),
      image: expect.any(String),
    });
  });

  it('status and version: the engine and the daemon in the same shape', async () => {
    const st = doc<Record<string, unknown>>(await m(['status', '--json']));
    expect(Object.keys(st).sort()).toEqual(['daemon', 'engine', 'hints', 'home', 'imageBytes', 'images', 'runs', 'sandbox', 'version']);
    expect(st.sandbox).toBe(process.env.MOAT_SANDBOX); // the suite's MOAT_SANDBOX (runc, or gvisor in the matrix)
    expect(st).toMatchObject({
      home,
      engine: { reachable: true, version: expect.any(String), api: expect.any(String), os: expect.any(String), arch: expect.any(String) },
      runs: { stopped: 1 },
      images: expect.any(Number),
      imageBytes: expect.any(Number),
      hints: expect.any(Array),
    });
    expect(typeof (st.daemon as { running: unknown }).running).toBe('boolean');
    const v = doc(await m(['version', '--json']));
    expect(v).toMatchObject({ version: expect.any(String), node: process.versions.node, engine: { reachable: true, version: expect.any(String) } });
  });

  it('an unreachable engine is a field with its error code, not a failure, for status and version', async () => {
    const env = { DOCKER_HOST: `unix://${ws}/no-engine.sock` };
    const v = doc<{ engine: { reachable: boolean; error: { code: string; message: string } } }>(await m(['version', '--json'], env));
    expect(v.engine).toMatchObject({
      reachable: false,
      error: { code: 'E_ENGINE_UNREACHABLE', message: expect.stringContaining('Cannot reach the Docker engine') },
    });
    const st = doc<{ engine: { reachable: boolean; error: { code: string } } }>(await m(['status', '--json'], env));
    expect(st.engine).toMatchObject({ reachable: false, error: { code: 'E_ENGINE_UNREACHABLE' } });
  });

  it('logs: JSON lines of {type, ts, stream, line, cont}, both streams on stdout; -n keeps the last lines', async () => {
    const lines = jsonLines<{ type: string; ts: string; stream: string; line: string; cont: boolean }>(await m(['logs', id, '--json']));
    for (const l of lines) expect(Object.keys(l)).toEqual(['type', 'ts', 'stream', 'line', 'cont']);
    expect(lines.find((l) => l.line === 'json-out')).toMatchObject({ type: 'output', stream: 'stdout', cont: false });
    expect(lines.find((l) => l.line === 'json-err')).toMatchObject({ type: 'output', stream: 'stderr', cont: false });
    const last = jsonLines<{ line: string }>(await m(['logs', id, '-n', '1', '--json']));
    expect(last).toHaveLength(1);
    const followed = jsonLines<{ line: string }>(await m(['logs', id, '-f', '--json']));
    expect(followed.map((l) => l.line)).toEqual(lines.map((l) => l.line));
  });

  it('trace: JSON lines, one per request, the refused one included', async () => {
    const lines = jsonLines<{ type: string; host: string; status: number; blocked?: boolean; method: string; url: string; ts: string }>(
      await m(['trace', id, '--json']),
    );
    const refused = lines.find((l) => l.type === 'request' && l.host === '10.255.0.1');
    expect(refused).toMatchObject({ blocked: true, method: 'GET', status: expect.any(Number), ts: expect.any(String), url: 'http://10.255.0.1/x' });
  });

  it('audit: the report as one document; --events --json the raw entries; --events alone a timeline', async () => {
    const report = doc<Record<string, unknown>>(await m(['audit', id, '--json']));
    expect(report).toMatchObject({
      kind: 'run',
      ok: true,
      runId: id,
      entries: expect.any(Number),
      checks: expect.any(Array),
      countsByType: expect.any(Object),
    });
    const ev = doc<{ runId: string; entries: { seq: number; ts: string; type: string; data: Record<string, unknown>; hash: string }[] }>(
      await m(['audit', id, '--events', '--json']),
    );
    expect(ev.runId).toBe(id);
    expect(ev.entries[0]).toMatchObject({ seq: 1, type: 'lifecycle', data: { event: 'created', name: 'jsonrun' }, hash: expect.any(String) });
    const text = await m(['audit', id, '--events']);
    expect(text.code, text.stderr).toBe(0);
    const rows = text.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^── \d{4}-\d{2}-\d{2} \(UTC\)$/);
    expect(rows[1]).toMatch(/^ {5}1 {2}\d{2}:\d{2}:\d{2}\.\d{3} {2}lifecycle {3}created jsonrun in \S+: bash -c /);
    expect(rows.some((r) => / console {5}stdout: json-out$/.test(r))).toBe(true);
    expect(rows.some((r) => / network {5}GET \d+ BLOCKED http:\/\/10\.255\.0\.1\/x/.test(r))).toBe(true);
    expect(rows.some((r) => / lifecycle {3}stopped, exit code 0$/.test(r))).toBe(true);
  });

  it('grant list, proxy status, deps and sessions: one document each', async () => {
    const [grants, proxy, depsList, depsInfo, sessions] = await Promise.all([
      m(['grant', 'list', '--json']),
      m(['proxy', 'status', '--json']),
      m(['deps', 'list', '--json']),
      m(['deps', 'info', 'git', '--json']),
      m(['claude', 'sessions', '--json']),
    ]);
    expect(doc(grants)).toEqual({ grants: [] });
    const px = doc<{ running: boolean; pid?: number }>(proxy);
    expect(typeof px.running).toBe('boolean');
    if (px.running)
      expect(px).toMatchObject({
        pid: expect.any(Number),
        version: expect.any(String),
        startedAt: expect.any(String),
        runs: expect.any(Array),
        log: expect.any(String),
      });
    const deps = doc<{ dependencies: { name: string; type: string; needsInternet: boolean }[] }>(depsList);
    expect(deps.dependencies.find((d) => d.name === 'node')).toMatchObject({ type: 'runtime', needsInternet: false });
    expect(doc(depsInfo)).toMatchObject({ name: 'git', type: expect.any(String) });
    expect(doc(sessions)).toEqual({ sessions: [] });
  });

  it('trust show: the workspace, its file and every pending change', async () => {
    const other = await tempDir('moat-e2e-json-trust-');
    try {
      await writeFile(join(other, 'moat.yaml'), 'network:\n  policy: strict\n  rules: [example.test]\n');
      const [pending, clean] = await Promise.all([m(['trust', 'show', other, '--json']), m(['trust', 'show', ws, '--json'])]);
      const p = doc<{
        workspace: string;
        file: string;
        approvedBefore: boolean;
        changes: { key: string; added: string[]; removed: string[]; redirected: unknown[] }[];
      }>(pending);
      expect(p).toMatchObject({ workspace: await realpath(other), file: 'moat.yaml', approvedBefore: false });
      expect(p.changes.length).toBeGreaterThan(0);
      for (const c of p.changes)
        expect(c).toMatchObject({ key: expect.any(String), added: expect.any(Array), removed: expect.any(Array), redirected: expect.any(Array) });
      expect(doc<{ changes: unknown[] }>(clean).changes).toEqual([]);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('a failure is one error document on stderr with a non-zero exit', async () => {
    const notFound = { code: 'E_NOT_FOUND', message: 'No run matches "nosuchrun".', hint: 'moat list shows the runs of this moat home.' };
    const [logs, trace, audit, grant, deps, usage, text, typo] = await Promise.all([
      m(['logs', 'nosuchrun', '--json']),
      m(['trace', 'nosuchrun', '--json']),
      m(['audit', 'nosuchrun', '--json']),
      m(['grant', 'show', 'nosuch', '--json']),
      m(['deps', 'list', '--type', 'bogus', '--json']),
      m(['list', '--bogus', '--json']),
      m(['logs', 'nosuchrun']),
      m(['trsut', '--json']),
    ]);
    expect(errorDoc(logs)).toEqual(notFound);
    expect(errorDoc(trace)).toEqual(notFound);
    expect(errorDoc(audit)).toEqual(notFound);
    expect(errorDoc(grant)).toEqual({ code: 'E_NOT_FOUND', message: 'No grant named "nosuch".', hint: 'moat grant nosuch' });
    expect(errorDoc(deps, 2)).toEqual({
      code: 'E_USAGE',
      message: "option '--type <type>' argument 'bogus' is invalid. Allowed choices are runtime, tool, npm, apt, pip, meta.",
      hint: 'Add --help for usage.',
    });
    // Usage errors that commander finds (exit 2) speak the same voice.
    expect(errorDoc(usage, 2)).toEqual({ code: 'E_USAGE', message: "unknown option '--bogus'", hint: 'Add --help for usage.' });
    // moat's did-you-mean becomes the hint.
    expect(errorDoc(typo, 2)).toEqual({ code: 'E_USAGE', message: "unknown command 'trsut'", hint: 'did you mean: moat trust' });
    // Without --json the same failure stays text.
    expect(text.code).toBe(1);
    expect(text.stderr).toBe('moat: No run matches "nosuchrun".\n  moat list shows the runs of this moat home.\n');
  });
});
