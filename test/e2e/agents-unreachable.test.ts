/**
 * An agent whose API host cannot be reached from this machine: the real Claude Code, headless, with an
 * API-key grant, while the gateway's test-only upstream override sends api.anthropic.com to a loopback
 * port nobody listens on. The gateway's 502 names the host and the cause, moat prints one line as it
 * happens and one summary after the run, the exit code is non-zero, and nothing is left behind. Claude
 * Code's own retries are capped with its documented CLAUDE_CODE_MAX_RETRIES (only here: moat leaves the
 * agent's retries alone).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cleanupHome, containersOf, errorProblems, grantToken, listRuns, moat, tempDir, upstreamOverrideEnv, waitFor } from './helpers.js';
import { closedPort } from '../fakes/closed-port.js';

describe('agents: the API host cannot be reached', () => {
  let home: string;
  let ws: string;
  let warm: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = await tempDir('agents-unreachable-home');
    ws = await tempDir('agents-unreachable-ws');
    warm = await tempDir('agents-unreachable-warm');
    env = await upstreamOverrideEnv(warm, { 'api.anthropic.com': await closedPort() }, []);
    await grantToken('anthropic', 'sk-ant-api03-E2EUNREACH-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-AA', { home, cwd: ws, env });
    // The same dependency set as the other agent tests: the cached image, or built once here.
    const dir = join(warm, 'claude-code');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'moat.yaml'), 'dependencies: [claude-code, git, ripgrep]\n');
    const r = await moat(['run', '--approve-config', dir, '--', 'true'], { home, cwd: ws, env, timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`building the claude-code image failed (${String(r.code)}):\n${r.stderr}`);
  }, 900_000);

  afterAll(async () => {
    await cleanupHome(home, ws, [warm]);
  });

  it("claude -p: a non-zero exit, the 502 and moat's hint name the host and the cause, no container is left", async () => {
    const started = Date.now();
    const r = await moat(['claude', '-n', 'unreachable', '-e', 'CLAUDE_CODE_MAX_RETRIES=0', '-p', 'hi'], { home, cwd: ws, env, timeoutMs: 150_000 });
    // The test-only override warning, the live line and the end summary: nothing else, no stack trace.
    expect(errorProblems(r, 5), `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toEqual([]);
    const config = `${home}/config.yaml`;
    expect(r.stderr).toContain(
      `\nmoat: cannot reach api.anthropic.com (connection refused) — check your network, or proxy.upstream in ${config} if this machine needs a proxy\n`,
    );
    expect(r.stderr).toMatch(
      /^moat: the network refused or could not reach 1 host during this run:\n {2}api\.anthropic\.com {2}unreachable: connection refused, \d+ requests?\n/m,
    );
    expect(r.stderr).toContain(`\n  api.anthropic.com: check your network, or proxy.upstream in ${config} if this machine needs a proxy.\n`);
    expect(r.stderr.match(/cannot reach/g)).toHaveLength(1); // one live line per host
    // What Claude Code shows is the gateway's 502 body: the host and the cause, not a vague failure.
    expect(r.stdout).toContain('Moat could not reach api.anthropic.com from this machine: connection refused (ECONNREFUSED).');
    expect(Date.now() - started).toBeLessThan(120_000);
    const run = (await listRuns(home, ws)).find((x) => x.name === 'unreachable');
    expect(run?.state).toBe('stopped');
    expect(run?.exitCode).toBe(r.code);
    await waitFor(async () => (await containersOf(home)).length === 0, 20_000, "the run's container to be removed");
  }, 180_000);
});
