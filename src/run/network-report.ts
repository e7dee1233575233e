import { homedir } from 'node:os';
import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import { NetworkNotices } from './network-notices.js';
import { watchNetwork } from './network-watch.js';

/** `~/.moat/config.yaml` rather than the absolute path when it is under the user's home. */
function shortPath(path: string, home = homedir()): string {
  return home && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

export interface NetworkReport {
  /** Stop following (the run ended or the terminal detached). */
  stop(): Promise<void>;
  /** Print the end-of-run summary (once). */
  summarize(): void;
}

/**
 * One attached run's network report: live lines on stderr while it runs (`live`: not over a full-screen
 * run), and one summary of every refused or unreachable host, with the fix, when it ends. Used by the
 * command that started the run, by `moat attach` and by `moat logs -f` (`quietHistory`: what happened
 * before they started following goes to the summary only).
 */
export function networkReport(
  home: MoatHome,
  runId: string,
  opts: { live: boolean; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv; quietHistory?: boolean },
): NetworkReport {
  const notices = new NetworkNotices({ configPath: shortPath(home.globalConfig, opts.env.HOME || homedir()) });
  const watch = watchNetwork({
    file: join(home.runDir(runId), 'network.jsonl'),
    notices,
    quietHistory: opts.quietHistory ?? false,
    ...(opts.live
      ? {
          live: (line: string) => {
            opts.stderr.write(`${line}\n`);
          },
        }
      : {}),
  });
  let summarized = false;
  return {
    stop: () => watch.stop(),
    summarize(): void {
      if (summarized) return;
      summarized = true;
      const lines = notices.summary();
      if (lines.length > 0) opts.stderr.write(`${lines.join('\n')}\n`);
    },
  };
}
