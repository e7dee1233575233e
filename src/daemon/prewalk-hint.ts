/**
 * The pre-walk hint (daemon/prewalk.ts), sent by `bin/moat` before the CLI's code loads: `moat run`,
 * `claude` and `codex` are about to ask the daemon for a pre-run snapshot of their workspace, so the daemon
 * can start walking it ~200 ms earlier. Node built-ins only (it runs before the bundle), and it costs the
 * command next to nothing whatever happens: no daemon, another build's daemon (404), a stopped one, a guess
 * that is not the run's workspace (the daemon hands a walk only to a request for the same workspace).
 */
import { realpathSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const COMMANDS = new Set(['run', 'claude', 'codex']);
/** Arguments that mean no run follows. */
const NO_RUN = new Set(['--dry-run', '--help', '-h', 'help']);

/**
 * The workspace a command line will most likely run in: its first operand that is a directory (before
 * `--`), else the current directory; undefined when the command is not a run or will not start one.
 * Real paths, as the CLI records the workspace.
 */
export function prewalkWorkspace(args: readonly string[], cwd: string): string | undefined {
  let i = 0;
  for (; i < args.length && (args[i] ?? '').startsWith('-'); i++) if (NO_RUN.has(args[i] ?? '')) return undefined;
  if (!COMMANDS.has(args[i] ?? '')) return undefined;
  let operand: string | undefined;
  for (const a of args.slice(i + 1)) {
    if (a === '--') break;
    if (NO_RUN.has(a)) return undefined;
    if (operand !== undefined || a.startsWith('-')) continue;
    try {
      // An option's value is seldom a directory here; a wrong guess costs only a daemon walk.
      if (statSync(resolve(cwd, a)).isDirectory()) operand = a;
    } catch {
      // not a directory: an option's value
    }
  }
  try {
    return realpathSync(resolve(cwd, operand ?? '.'));
  } catch {
    return undefined;
  }
}

/** This home's daemon socket, as home/paths.ts and daemon/protocol.ts name it. */
export function hintSocket(env: NodeJS.ProcessEnv): string {
  const root = env.MOAT_HOME && env.MOAT_HOME.length > 0 ? resolve(env.MOAT_HOME) : join(homedir(), '.moat');
  return join(root, 'daemon', 'daemon.sock');
}

/**
 * Send the hint; resolves once it is written or could not be (at most `waitMs`), never rejects. The socket
 * is left to finish on its own, unreferenced: it never keeps the command alive.
 */
export function sendPrewalkHint(socketPath: string, workspace: string, waitMs = 20): Promise<void> {
  return new Promise((done) => {
    const body = JSON.stringify({ workspace });
    const sock = connect(socketPath);
    const finish = (): void => {
      clearTimeout(timer);
      sock.unref();
      done();
    };
    const timer = setTimeout(finish, waitMs);
    sock.on('error', finish); // stays attached: a late error is ignored, never thrown
    sock.end(
      `POST /prewalk HTTP/1.1\r\nHost: daemon\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    sock.on('connect', finish); // after the write above was queued: it is sent when the connection opens
    sock.resume(); // the answer is not read
  });
}
