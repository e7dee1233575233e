import { JsonlCursor } from '../home/follow.js';
import { LiveThrottle } from './live-throttle.js';
import type { NetworkLine, NetworkNotices } from './network-notices.js';

export interface NetworkWatchOptions {
  /** The run's network.jsonl (the daemon appends to it; lines reach it within ~20 ms). */
  file: string;
  notices: NetworkNotices;
  /** Where live lines go; absent for a full-screen run (nothing is drawn over it). */
  live?: (line: string) => void;
  /** How often the file is looked at (default 250 ms). */
  intervalMs?: number;
  /** Bytes read per look (default 1 MiB), so a flood never holds the terminal's event loop for long. */
  chunkBytes?: number;
  /** What the file holds already is history (attaching to a run): summarised, not printed live. */
  quietHistory?: boolean;
}

export interface NetworkWatch {
  /** Stop looking; read what is left of the file (its end, once the run has ended). */
  stop(): Promise<void>;
}

/**
 * Follow a run's network.jsonl while the CLI is attached: each new refused or unreachable host becomes a
 * live line (rate-limited), everything feeds the end-of-run summary. The file is the daemon's own record,
 * bounded by its byte budget and repeated refusals already aggregated, and it survives a daemon restart;
 * reading it needs nothing from the daemon's protocol.
 */
export function watchNetwork(opts: NetworkWatchOptions): NetworkWatch {
  const { notices, live } = opts;
  const throttle = new LiveThrottle({
    burst: 5,
    perSecond: 1,
    more: (n) => `moat: and ${n} more host${n === 1 ? '' : 's'} blocked or unreachable (listed when the run ends)`,
  });
  const cursor = new JsonlCursor(opts.file, { maxLineBytes: 1024 * 1024 });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const print = (lines: string[]): void => {
    for (const l of lines) live?.(l);
  };

  const read = async (maxBytes: number, printing: boolean): Promise<void> => {
    for await (const text of cursor.lines(maxBytes)) {
      let ev: unknown;
      try {
        ev = JSON.parse(text);
      } catch {
        continue;
      }
      if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) continue;
      const n = notices.observe(ev as NetworkLine);
      if (n && live && printing) print(throttle.offer(`moat: ${notices.line(n)}`));
    }
  };

  let current: Promise<void> = opts.quietHistory ? read(Number.MAX_SAFE_INTEGER, false).catch(() => undefined) : Promise.resolve();
  const loop = (): void => {
    current = current
      .then(() => read(opts.chunkBytes ?? 1024 * 1024, true))
      .catch(() => undefined) // unreadable now: the next look tries again
      .then(() => {
        if (live && !stopped) print(throttle.tick());
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 250).unref();
      });
  };
  loop();

  return {
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await current;
      // What is left goes to the summary only: the run has ended.
      await read(Number.MAX_SAFE_INTEGER, false).catch(() => undefined);
    },
  };
}
