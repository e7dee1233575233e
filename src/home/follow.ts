/**
 * Following a file another process appends to (a run's logs.jsonl or network.jsonl, written by the
 * daemon): a cursor that hands out the complete lines added since the last look, and the polling loop
 * that looks until the writer is done.
 */
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readJsonlLines, type JsonlReadOptions } from './jsonl.js';

/** Where a follower of a JSONL file stands: the byte offset after the last complete line handed out. */
export class JsonlCursor {
  offset = 0;

  constructor(
    readonly file: string,
    private readonly opts: Pick<JsonlReadOptions, 'maxLineBytes'> = {},
  ) {}

  /**
   * The complete lines appended since the last call (a line still being written waits for the next one),
   * stopping after the line that passes `maxBytes` read in this call. A missing file has no lines.
   */
  async *lines(maxBytes = Number.MAX_SAFE_INTEGER): AsyncGenerator<string> {
    const size = (await stat(this.file).catch(() => undefined))?.size ?? 0;
    if (size <= this.offset) return;
    const from = this.offset;
    for await (const { text, end } of readJsonlLines(this.file, { ...this.opts, start: from })) {
      this.offset = end;
      yield text;
      if (end - from >= maxBytes) return;
    }
  }
}

export interface FollowLoop {
  /** Pause between two looks at the file. */
  intervalMs: number;
  /** Read what the file holds past the last look; true when that was anything. */
  read: () => Promise<boolean>;
  /** After each look: whether the writer is done (given whether the look found anything new). */
  done: (grew: boolean) => Promise<boolean>;
}

/** Look at a growing file every `intervalMs` until `done` says its writer has finished. */
export async function followFile(loop: FollowLoop): Promise<void> {
  for (;;) {
    await sleep(loop.intervalMs);
    if (await loop.done(await loop.read())) return;
  }
}
