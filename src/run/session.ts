import type { ContainerRuntime, AttachedStreams } from '../runtime/types.js';
import { EscapeFilter } from '../term/escape.js';
import { enterRawMode } from '../term/tty.js';

export type SessionEnd = { kind: 'exited'; exitCode: number } | { kind: 'detached' };

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
}): Promise<SessionEnd> {
  const { runtime, containerId, streams, io } = opts;
  const exited = runtime.wait(containerId, opts.start ? 'next-exit' : 'not-running');
  const outputDone = Promise.all([
    new Promise<void>((r) => { streams.stdout.once('end', r); streams.stdout.once('close', r); }),
    new Promise<void>((r) => { streams.stderr.once('end', r); streams.stderr.once('close', r); }),
  ]);
  streams.stdout.pipe(io.stdout, { end: false });
  streams.stderr.pipe(io.stderr, { end: false });

  if (!opts.tty) {
    const forward = (sig: NodeJS.Signals): void => { void runtime.kill(containerId, sig); };
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    if (opts.forwardStdin) {
      io.stdin.pipe(streams.stream, { end: false });
      io.stdin.once('end', () => streams.stream.end());
      io.stdin.once('error', () => streams.stream.end());
    }
    try {
      await opts.start?.();
      const code = await exited;
      await Promise.race([outputDone, new Promise((r) => setTimeout(r, 2000))]);
      return { kind: 'exited', exitCode: code };
    } finally {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      io.stdin.unpipe(streams.stream);
      io.stdin.pause();
      streams.stdout.unpipe(io.stdout);
      streams.stderr.unpipe(io.stderr);
    }
  }

  // Interactive: raw terminal, escape keys, resize now and on every SIGWINCH.
  const term = enterRawMode(io.stdin, io.stdout);
  const filter = new EscapeFilter();
  let resolveDetach: (e: SessionEnd) => void = () => undefined;
  const detached = new Promise<SessionEnd>((r) => { resolveDetach = r; });
  const onTermSignal = (): void => resolveDetach({ kind: 'detached' });
  const resize = (): void => {
    const { rows, cols } = term.size();
    void runtime.resize(containerId, rows, cols);
  };
  const onKeys = (chunk: Buffer): void => {
    const { data, action } = filter.feed(chunk);
    if (data.length > 0) streams.stream.write(data);
    if (action === 'detach') resolveDetach({ kind: 'detached' });
    if (action === 'stop') void (opts.onStop ? opts.onStop() : runtime.stop(containerId));
  };
  try {
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, onTermSignal);
    io.stdin.on('data', onKeys);
    term.onResize(resize);
    await opts.start?.();
    resize();
    const end = await Promise.race([exited.then((exitCode): SessionEnd => ({ kind: 'exited', exitCode })), detached]);
    if (end.kind === 'exited') await Promise.race([outputDone, new Promise((r) => setTimeout(r, 1000))]);
    return end;
  } finally {
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, onTermSignal);
    io.stdin.off('data', onKeys);
    streams.stdout.unpipe(io.stdout);
    streams.stderr.unpipe(io.stderr);
    streams.stream.destroy();
    term.restore();
  }
}
