/** The escape prefix: Ctrl-/ (0x1f). Then `d` detaches, `k` stops the run, Ctrl-/ again sends one. */
const ESCAPE_BYTE = 0x1f;

export type EscapeAction = 'detach' | 'stop';

/**
 * Filters the user's keystrokes: bytes pass through except the escape sequences, which become actions.
 * Stateful across chunks (the prefix and its key may arrive separately).
 */
export class EscapeFilter {
  private pending = false;

  feed(chunk: Buffer): { data: Buffer; action?: EscapeAction } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.pending) {
        this.pending = false;
        if (b === 0x64 /* d */) return { data: Buffer.from(out), action: 'detach' };
        if (b === 0x6b /* k */) return { data: Buffer.from(out), action: 'stop' };
        if (b === ESCAPE_BYTE) {
          out.push(ESCAPE_BYTE);
          continue;
        }
        out.push(ESCAPE_BYTE, b);
        continue;
      }
      if (b === ESCAPE_BYTE) {
        this.pending = true;
        continue;
      }
      out.push(b);
    }
    return { data: Buffer.from(out) };
  }
}
