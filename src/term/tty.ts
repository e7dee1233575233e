/** Terminal state for interactive runs: raw mode in, and a guaranteed restore on every way out. */
export interface TerminalSession {
  size(): { rows: number; cols: number };
  onResize(fn: () => void): void;
  restore(): void;
}

/** Sequences that undo modes a full-screen program may leave on: mouse tracking, bracketed paste,
 * focus events, kitty keyboard protocol, alternate screen, hidden cursor. */
const RESET_MODES = '\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1004l\x1b[<u\x1b[?1049l\x1b[?25h';

export function enterRawMode(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream): TerminalSession {
  const wasRaw = stdin.isRaw;
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.resume();
  const resizeHandlers: Array<() => void> = [];
  const onResize = (): void => {
    for (const h of resizeHandlers) h();
  };
  process.on('SIGWINCH', onResize);
  stdout.on('resize', onResize);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    process.off('SIGWINCH', onResize);
    stdout.off('resize', onResize);
    if (stdout.isTTY) stdout.write(RESET_MODES);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
    process.off('exit', restore);
  };
  process.on('exit', restore);
  return {
    size: () => ({ rows: stdout.rows || 24, cols: stdout.columns || 80 }),
    onResize: (fn) => {
      resizeHandlers.push(fn);
    },
    restore,
  };
}
