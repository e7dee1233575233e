/**
 * Ctrl-C (or a closed terminal) during an image build: Node's default would end the CLI at once, leaving
 * the build's relay container (the base image's code, still running) and the gateway's socket directory
 * behind. While a build runs, those signals first take the build's boundary down, then end the CLI with
 * the same signal. A second signal while cleaning up ends it at once.
 */
import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The longest the clean-up may hold the CLI after a signal (an unresponsive engine). */
const SIGNAL_CLEANUP_MS = 10_000;

export interface SignalHooks {
  /** Where signals are listened for (the process). */
  signals?: EventEmitter;
  /** End the CLI with the signal once the clean-up is done (default: the process re-raises it). */
  reraise?: (signal: NodeJS.Signals) => void;
}

/** Run `cleanup` on a signal, then re-raise it; returns the function that stops listening. */
export function cleanupOnSignal(cleanup: () => Promise<void>, hooks: SignalHooks = {}): () => void {
  const signals = hooks.signals ?? process;
  const reraise = hooks.reraise ?? ((s: NodeJS.Signals) => process.kill(process.pid, s));
  let cleaning = false;
  const stop = (): void => {
    for (const s of SIGNALS) signals.off(s, on);
  };
  const on = (signal: NodeJS.Signals): void => {
    if (cleaning) {
      stop();
      reraise(signal);
      return;
    }
    cleaning = true;
    const limit = sleep(SIGNAL_CLEANUP_MS, undefined, { ref: false });
    void Promise.race([cleanup().catch(() => undefined), limit]).then(() => {
      stop();
      reraise(signal);
    });
  };
  for (const s of SIGNALS) signals.on(s, on);
  return stop;
}
