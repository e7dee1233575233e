/**
 * A pager for long output on a terminal, as git has: `$MOAT_PAGER`, else `$PAGER`, else `less`, with
 * `LESS=FRX` unless LESS is set (one screen's worth is printed and left on the screen without waiting,
 * colours pass and every other escape is shown as text). None when stdout is not a terminal, with
 * TERM=dumb, or when the command is empty or `cat`. The user's own environment names the command: it
 * is trusted as their shell would trust it; nothing a run wrote can reach it.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

/** The pager command to page through, or undefined for none. */
export function pagerCommand(env: NodeJS.ProcessEnv, stdoutIsTTY: boolean): string | undefined {
  if (!stdoutIsTTY || env.TERM === 'dumb') return undefined;
  const cmd = (env.MOAT_PAGER ?? env.PAGER ?? 'less').trim();
  return cmd === '' || cmd === 'cat' ? undefined : cmd;
}

/** A plain command line (words without shell syntax) starts directly; anything else through `sh -c`, as git does. */
export function pagerArgv(cmd: string): [string, string[]] {
  if (/^[\w./=+,:@%-]+( +[\w./=+,:@%-]+)*$/.test(cmd)) {
    const [file = cmd, ...args] = cmd.split(/ +/);
    return [file, args];
  }
  return ['/bin/sh', ['-c', cmd]];
}

export interface Pager {
  /** Where the output goes (write errors once the pager has quit are swallowed: `exited` says it). */
  readonly input: Writable;
  /** Settles when the pager process has ended, whoever ended it. */
  readonly exited: Promise<void>;
  /** No more output: close its input and wait for the user to quit it. */
  done(): Promise<void>;
}

/** Starts the pager, or resolves undefined when it cannot be started (the output then goes to stdout). */
export async function startPager(cmd: string, env: NodeJS.ProcessEnv): Promise<Pager | undefined> {
  const [file, args] = pagerArgv(cmd);
  const child = spawn(file, args, {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...env, LESS: env.LESS ?? 'FRX', LV: env.LV ?? '-c' },
  });
  const started = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!started) return undefined;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('close', () => resolve());
  });
  const input = child.stdin as Writable;
  input.on('error', () => undefined); // EPIPE once the user has quit the pager
  return {
    input,
    exited,
    async done() {
      input.end();
      await exited;
    },
  };
}
