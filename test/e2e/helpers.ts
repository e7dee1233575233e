/**
 * Helpers for the end-to-end tests: they run the BUILT CLI (bin/moat → dist/) as a black box against the
 * real Docker engine, each test file with its own temporary MOAT_HOME.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MOAT_BIN = join(REPO_ROOT, 'bin', 'moat');
export const DIST_MAIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');

export const RUN_ID_RE = /^run_[0-9a-f]{12}$/;

/**
 * The engine the suite runs against: `MOAT_E2E_ENGINE=podman` (`npm run test:e2e:podman`, which also
 * points DOCKER_HOST, for moat and the docker CLI alike, at Podman's socket), else Docker.
 */
export const E2E_ENGINE: 'docker' | 'podman' = process.env.MOAT_E2E_ENGINE === 'podman' ? 'podman' : 'docker';

export interface MoatOptions {
  home: string;
  cwd: string;
  /** Written to the CLI's stdin, then stdin is closed. Without it, stdin is closed at once. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the CLI after this long (a test safety net, not an assertion). */
  timeoutMs?: number;
}

export interface MoatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment every CLI invocation gets: the test's home and a short daemon idle time. Spares are off
 * (MOAT_SPARES=0) unless a test turns them on: spares.test.ts tests them; elsewhere every run takes the
 * path of a run without a spare (every first run of a plan), and no test's count of containers and run
 * folders meets a spare the daemon made meanwhile.
 */
export function moatEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MOAT_HOME: home, MOAT_DAEMON_IDLE_MS: '5000', NO_COLOR: '1', MOAT_SPARES: '0', ...extra };
  delete env.FORCE_COLOR;
  return env;
}

export interface StartedMoat {
  child: ChildProcess;
  done: Promise<MoatResult>;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
}

/** Start the CLI without waiting for it. */
export function startMoat(args: string[], opts: MoatOptions): StartedMoat {
  const child = spawn(process.execPath, [MOAT_BIN, ...args], {
    cwd: opts.cwd,
    env: moatEnv(opts.home, opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    stdout += c;
  });
  child.stderr?.on('data', (c: string) => {
    stderr += c;
  });
  child.stdin?.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  else child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 55_000);
  const done = new Promise<MoatResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/** Run `moat ARGS` to its end. */
export function moat(args: string[], opts: MoatOptions): Promise<MoatResult> {
  return startMoat(args, opts).done;
}

async function docker(args: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Ids of every container (any state) labelled with this moat home. */
export async function containersOf(home: string): Promise<string[]> {
  return lines(await docker(['ps', '-aq', '--no-trunc', '--filter', `label=moat.home=${home}`]));
}

/** Ids of every network labelled with this moat home. */
export async function networksOf(home: string): Promise<string[]> {
  return lines(await docker(['network', 'ls', '-q', '--no-trunc', '--filter', `label=moat.home=${home}`]));
}

/** Whether a container exists (any state). */
export async function containerExists(id: string): Promise<boolean> {
  try {
    await docker(['inspect', '--type', 'container', id]);
    return true;
  } catch {
    return false;
  }
}

/** Poll `fn` until it returns a truthy value (returned), or fail after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs: number, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A fresh temporary directory, world-traversable (the container's user may not be root). */
export async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `moat-e2e-${prefix}-`));
  await chmod(d, 0o755);
  return d;
}

export interface RunRecord {
  id: string;
  name: string;
  state: string;
  exitCode?: number;
  containerId?: string;
  command: string[];
  workspace: string;
  interactive: boolean;
  [k: string]: unknown;
}

/** `moat list --json` of a home, parsed. */
export async function listRuns(home: string, cwd: string): Promise<RunRecord[]> {
  const r = await moat(['list', '--json'], { home, cwd });
  if (r.code !== 0) throw new Error(`moat list --json failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { runs: RunRecord[] }).runs;
}

/** Run directories present under $MOAT_HOME/runs. */
export function runDirs(home: string): string[] {
  const d = join(home, 'runs');
  return existsSync(d)
    ? readdirSync(d)
        .filter((n) => RUN_ID_RE.test(n))
        .sort()
    : [];
}

export async function readMetadata(home: string, id: string): Promise<RunRecord> {
  return JSON.parse(await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8')) as RunRecord;
}

export interface LogLine {
  ts: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** The run's logs.jsonl, parsed (every line must be JSON). */
export async function readLogs(home: string, id: string): Promise<LogLine[]> {
  let text: string;
  try {
    text = await readFile(join(home, 'runs', id, 'logs.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

/** The id printed by `moat run -d` (its first line names the run and its id). */
export function parseDetached(stdout: string): { id: string; name: string } {
  const m = /run (\S+) \((run_[0-9a-f]{12})\)/.exec(stdout);
  if (!m?.[1] || !m[2]) throw new Error(`no run id in: ${stdout}`);
  return { name: m[1], id: m[2] };
}

/** Everything a test file's afterAll must do: stop the daemon, remove its containers, delete temp dirs. */
export async function cleanupHome(home: string, cwd: string, dirs: string[] = []): Promise<void> {
  await moat(['proxy', 'stop'], { home, cwd, timeoutMs: 20_000 }).catch(() => undefined);
  const ids = await containersOf(home).catch(() => [] as string[]);
  if (ids.length > 0) await docker(['rm', '-f', ...ids]).catch(() => undefined);
  const nets = await networksOf(home).catch(() => [] as string[]);
  if (nets.length > 0) await docker(['network', 'rm', ...nets]).catch(() => undefined);
  // A daemon that is still ending may write a last file while the folder goes: retried (ENOTEMPTY, EBUSY).
  for (const d of [home, ...dirs]) await rm(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}

/**
 * Assert-friendly view of a user-facing error: non-zero exit, no stack trace, a short message. Returns the
 * problems found (empty when it is a clean error).
 */
export function errorProblems(r: MoatResult, maxLines = 2): string[] {
  const problems: string[] = [];
  if (r.code === 0 || r.code === null) problems.push(`exit code ${String(r.code)} (signal ${String(r.signal)})`);
  if (r.stderr.includes('    at ')) problems.push('stderr has a stack trace');
  if (/unexpected error/i.test(r.stderr)) problems.push('stderr reports an unexpected error');
  const n = r.stderr.split('\n').filter((l) => l.trim().length > 0).length;
  if (n === 0) problems.push('stderr is empty');
  if (n > maxLines) problems.push(`stderr has ${n} lines (max ${maxLines})`);
  return problems;
}

// ---- tmux (interactive sessions) --------------------------------------------------------------------

/** A private tmux server per test file, so tests never touch anyone's sessions. */
export class Tmux {
  constructor(readonly socket: string) {}

  async run(args: string[]): Promise<string> {
    const { stdout } = await execFileP('tmux', ['-L', this.socket, ...args]);
    return stdout;
  }

  async newSession(name: string, command: string, cols = 100, rows = 30): Promise<void> {
    await this.run(['new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), command]);
    await this.run(['set-option', '-t', name, 'remain-on-exit', 'on']).catch(() => undefined);
  }

  async sendKeys(name: string, ...keys: string[]): Promise<void> {
    await this.run(['send-keys', '-t', name, ...keys]);
  }

  async sendLiteral(name: string, text: string): Promise<void> {
    await this.run(['send-keys', '-t', name, '-l', text]);
  }

  async sendHex(name: string, ...bytes: string[]): Promise<void> {
    await this.run(['send-keys', '-t', name, '-H', ...bytes]);
  }

  async capture(name: string): Promise<string> {
    return this.run(['capture-pane', '-p', '-J', '-S', '-200', '-t', name]);
  }

  async waitForText(name: string, re: RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      async () => {
        const text = await this.capture(name);
        return re.test(text) ? text : '';
      },
      timeoutMs,
      `${re} in tmux pane ${name}`,
    ).catch(async (err: unknown) => {
      const text = await this.capture(name).catch(() => '(no pane)');
      throw new Error(`${(err as Error).message}\n--- pane ---\n${text}`);
    });
  }

  async killServer(): Promise<void> {
    await this.run(['kill-server']).catch(() => undefined);
  }
}

/** POSIX single-quote a string for a shell command line. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The environment that sends `hosts` to local fakes through the gateway's test-only override (honoured
 * only with MOAT_TESTING=1), trusting the fakes' CAs; credentials go to the key file, never a keychain.
 */
export async function upstreamOverrideEnv(dir: string, hosts: Record<string, number>, caPems: string[]): Promise<NodeJS.ProcessEnv> {
  const caFile = join(dir, 'upstream-ca.pem');
  await writeFile(caFile, caPems.join('\n'));
  return {
    MOAT_KEYRING_BACKEND: 'file',
    MOAT_TESTING: '1',
    MOAT_TEST_UPSTREAMS: Object.entries(hosts)
      .map(([h, port]) => `${h}=127.0.0.1:${port}`)
      .join(','),
    MOAT_TEST_UPSTREAM_CA: caFile,
  };
}

/** `moat grant PROVIDER --token-stdin --no-validate` with `secret`; throws when it fails. */
export async function grantToken(provider: string, secret: string, opts: MoatOptions): Promise<void> {
  const r = await moat(['grant', provider, '--token-stdin', '--no-validate'], { ...opts, input: `${secret}\n` });
  if (r.code !== 0) throw new Error(`moat grant ${provider} failed (${String(r.code)}): ${r.stderr}`);
}
