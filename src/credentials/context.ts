import { execFile, spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { password, select } from '@inquirer/prompts';
import type { AwsGrantFlags } from './aws-config.js';
import type { GrantContext } from './types.js';

/** The real GrantContext: process stdin/stderr, @inquirer prompts, child processes. */

export interface RealContextOptions {
  tokenStdin: boolean;
  import: boolean;
  aws?: AwsGrantFlags;
  env?: NodeJS.ProcessEnv;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WritableStream;
}

export function createGrantContext(opts: RealContextOptions): GrantContext {
  const env = opts.env ?? process.env;
  const stdin = opts.stdin ?? process.stdin;
  const stderr = opts.stderr ?? process.stderr;
  return {
    env,
    hostHome: env.HOME || homedir(),
    isTTY: Boolean(stdin.isTTY && (stderr as NodeJS.WriteStream).isTTY),
    tokenStdin: opts.tokenStdin,
    import: opts.import,
    ...(opts.aws ? { aws: opts.aws } : {}),
    readStdin: () => readAll(stdin),
    promptSecret: (message) => password({ message, mask: false }, { output: stderr }),
    choose: (message, choices) => select({ message, choices }, { output: stderr }),
    capture: (cmd, args) => capture(cmd, args, env),
    runAttached: (cmd, args) => runAttached(cmd, args, env),
    log: (message) => {
      stderr.write(`${message}\n`);
    },
    now: () => new Date(),
  };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function capture(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      resolve(err ? undefined : stdout.toString());
    });
  });
}

function runAttached(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: 'inherit' });
    child.once('error', () => resolve(undefined));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** True for @inquirer's Ctrl-C / closed-prompt error. */
export function isPromptExit(err: unknown): boolean {
  return err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError');
}
