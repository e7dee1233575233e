/**
 * A run whose command is not in the image. moat-init looks the command up on the run's PATH before it
 * starts it; when it is missing it writes one fixed line to stderr and exits 127 (moat-init.sh). The
 * host recognises that line as the first thing the run wrote, keeps it off the terminal, and says what
 * to do instead, naming the command from the run's own record (never from the container's output).
 */
import { Transform, type TransformCallback } from 'node:stream';

export const MISSING_COMMAND_MARKER = 'moat-init: command-not-found';
export const MISSING_COMMAND_EXIT = 127;

const CANDIDATES = [Buffer.from(`${MISSING_COMMAND_MARKER}\n`), Buffer.from(`${MISSING_COMMAND_MARKER}\r\n`)];

/**
 * Passes a stream through unchanged, except a first line that is exactly the marker (LF or, on a
 * terminal, CRLF): that line is swallowed and `seen` set. Bytes are held back only while they are still
 * a prefix of the marker line, so ordinary output is never delayed past its first differing byte.
 */
export class StartMarkerFilter extends Transform {
  seen = false;
  private held = Buffer.alloc(0);
  private decided = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.decided) {
      done(null, chunk);
      return;
    }
    const buf = Buffer.concat([this.held, chunk]);
    for (const c of CANDIDATES) {
      if (buf.length >= c.length && buf.subarray(0, c.length).equals(c)) {
        this.seen = true;
        this.decided = true;
        this.held = Buffer.alloc(0);
        done(null, buf.length > c.length ? buf.subarray(c.length) : undefined);
        return;
      }
    }
    if (CANDIDATES.some((c) => buf.length < c.length && c.subarray(0, buf.length).equals(buf))) {
      this.held = buf;
      done();
      return;
    }
    this.decided = true;
    this.held = Buffer.alloc(0);
    done(null, buf);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.held.length > 0 ? this.held : undefined);
  }
}

/** What to tell the user when the run's command (its first word, from the run's record) was not found. */
export function missingCommandMessage(command: string | undefined, dependencyFor: (cmd: string) => string | undefined): string {
  if (command === undefined || command.length === 0) return "the run's command was not found in the image";
  if (command.includes('/')) {
    return `${command} does not exist in the container${command.startsWith('/') ? '' : ' (a relative path starts at /workspace)'}`;
  }
  const dep = dependencyFor(command);
  if (dep !== undefined) {
    return `${command} is not in the image; add ${dep === command ? 'it' : dep} to dependencies (moat deps info ${dep})`;
  }
  return `${command} was not found in the image; add what provides it to dependencies (moat deps list shows the built-in ones)`;
}
