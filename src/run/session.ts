import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRuntime, AttachedStreams } from '../runtime/types.js';
import { EscapeFilter } from '../term/escape.js';
import { enterRawMode } from '../term/tty.js';
import { detachOnInterrupt, type InterruptHandlers } from './interrupts.js';
import { MISSING_COMMAND_EXIT, StartMarkerFilter } from './missing-command.js';

/**
 * How an attached session ended: the run exited (`stopped` when the user stopped it from here,
 * `missingCommand` when moat-init found no such command), or the user detached and the run goes on.
 */
export type SessionEnd = { kind: 'exited'; exitCode: number; stopped?: true; missingCommand?: true } | { kind: 'detached' };

export interface SessionIO {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Run the attached part of a run. The streams must be attached before the process starts; `start` is
 * called here once everything is wired, so no output is lost and a TUI can query the terminal at once.
 */
export async function runAttached(opts: {
  runtime: ContainerRuntime;
  containerId: string;
  streams: AttachedStreams;
  tty: boolean;
  forwardStdin: boolean;
  io: SessionIO;
  start?: () => Promise<void>;
  onStop?: () => Promise<void>;
  /** Not interactive: Ctrl-C detaches (a second within `windowMs` stops) instead of reaching the run. */
  detachOnInterrupt?: { windowMs: number; onArm: () => void; onStopping: () => void };
  /** Interactive, joining a running program: nudge the terminal size so a full-screen program repaints. */
  redraw?: boolean;
  /** Interactive, the container already running (a spare, daemon/spares.ts): its terminal gets the size before `start`. */
  sizeFirst?: boolean;
}): Promise<SessionEnd> {
  const { runtime, containerId, streams, io } = opts;
  const exited = runtime.wait(containerId, opts.start ? 'next-exit' : 'not-running');
  // moat-init's "command not found" line comes first on stderr (on stdout with a terminal), if at all.
  const marker = opts.start ? new StartMarkerFilter() : undefined;
  const out = opts.tty && marker ? streams.stdout.pipe(marker) : streams.stdout;
  const err = !opts.tty && marker ? streams.stderr.pipe(marker) : streams.stderr;
  const outputDone = Promise.all([
    new Promise<void>((r) => {
      out.once('end', r);
      out.once('close', r);
    }),
    new Promise<void>((r) => {
      err.once('end', r);
      err.once('close', r);
    }),
  ]);
  out.pipe(io.stdout, { end: false });
  err.pipe(io.stderr, { end: false });
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    void (opts.onStop ? opts.onStop() : runtime.stop(containerId));
  };
  const ended = (exitCode: number): SessionEnd => ({
    kind: 'exited',
    exitCode,
    ...(stopped ? { stopped: true } : {}),
    ...(marker?.seen && exitCode === MISSING_COMMAND_EXIT ? { missingCommand: true } : {}),
  });
  let resolveDetach: (e: SessionEnd) => void = () => undefined;
  const detached = new Promise<SessionEnd>((r) => {
    resolveDetach = r;
  });

  if (!opts.tty) {
    const forward = (sig: NodeJS.Signals): void => {
      void runtime.kill(containerId, sig);
    };
    const di = opts.detachOnInterrupt;
    const handlers: InterruptHandlers | undefined = di && {
      onArm: di.onArm,
      onDetach: () => resolveDetach({ kind: 'detached' }),
      onStop: () => {
        di.onStopping();
        stop();
      },
    };
    const release = handlers && di ? detachOnInterrupt(di.windowMs, handlers) : undefined;
    if (!handlers) for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    if (opts.forwardStdin) {
      io.stdin.pipe(streams.stream, { end: false });
      io.stdin.once('end', () => streams.stream.end());
      io.stdin.once('error', () => streams.stream.end());
    }
    try {
      await opts.start?.();
      const end = await Promise.race([exited.then(ended), detached]);
      if (end.kind === 'exited') await Promise.race([outputDone, sleep(2000)]);
      return end;
    } finally {
      release?.();
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      io.stdin.unpipe(streams.stream);
      io.stdin.pause();
      out.unpipe(io.stdout);
      err.unpipe(io.stderr);
      if (handlers) streams.stream.destroy();
    }
  }

  // Interactive: raw terminal, escape keys, resize now and on every SIGWINCH.
  const term = enterRawMode(io.stdin, io.stdout);
  const filter = new EscapeFilter();
  const onTermSignal = (): void => resolveDetach({ kind: 'detached' });
  const resize = (): void => {
    const { rows, cols } = term.size();
    void runtime.resize(containerId, rows, cols);
  };
  const onKeys = (chunk: Buffer): void => {
    const { data, action } = filter.feed(chunk);
    if (data.length > 0) streams.stream.write(data);
    if (action === 'detach') resolveDetach({ kind: 'detached' });
    if (action === 'stop') stop();
  };
  try {
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, onTermSignal);
    io.stdin.on('data', onKeys);
    term.onResize(resize);
    // The command starts a few ms after a spare's go: its first look at the terminal must find the size.
    if (opts.sizeFirst) {
      const { rows, cols } = term.size();
      await runtime.resize(containerId, rows, cols).catch(() => undefined);
    }
    await opts.start?.();
    let settle: NodeJS.Timeout | undefined;
    if (opts.redraw) {
      // A program only repaints when its size changes: one row less, a moment for it to notice, then back.
      const { rows, cols } = term.size();
      await runtime.resize(containerId, rows > 1 ? rows - 1 : rows + 1, cols).catch(() => undefined);
      await sleep(150);
      // The size once more a little later: a busy engine can lose or reorder the nudge's two calls, which left
      // the program one row short; a size that is already right changes nothing (no signal).
      settle = setTimeout(resize, 500);
    }
    resize();
    const end = await Promise.race([exited.then(ended), detached]).finally(() => clearTimeout(settle));
    if (end.kind === 'exited') await Promise.race([outputDone, sleep(1000)]);
    return end;
  } finally {
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, onTermSignal);
    io.stdin.off('data', onKeys);
    out.unpipe(io.stdout);
    err.unpipe(io.stderr);
    streams.stream.destroy();
    term.restore();
  }
}
