/**
 * Ctrl-C while attached to a run that is not interactive (`moat attach`): the run goes on without us.
 * A first Ctrl-C detaches once `windowMs` has passed; a second within it stops the run instead.
 * SIGTERM and SIGHUP (a closed terminal) detach at once: they never stop the run.
 */
import type { EventEmitter } from 'node:events';

export interface InterruptHandlers {
  /** The first Ctrl-C: say that a second one stops the run. */
  onArm: () => void;
  onDetach: () => void;
  onStop: () => void;
}

/** Listens on `signals` (the process) until the returned function is called. */
export function detachOnInterrupt(windowMs: number, h: InterruptHandlers, signals: EventEmitter = process): () => void {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const finish = (then: () => void): void => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    then();
  };
  const onInt = (): void => {
    if (done) return;
    if (timer === undefined) {
      h.onArm();
      timer = setTimeout(() => finish(h.onDetach), windowMs);
      return;
    }
    finish(h.onStop);
  };
  const onHangUp = (): void => finish(h.onDetach);
  signals.on('SIGINT', onInt);
  signals.on('SIGTERM', onHangUp);
  signals.on('SIGHUP', onHangUp);
  return () => {
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onHangUp);
    signals.off('SIGHUP', onHangUp);
  };
}

/**
 * Ctrl-C after the run has ended, while moat finishes its checks (what the run left on the host): the first
 * says so and goes on; a second gives up on them, and moat ends as Ctrl-C ends a program (re-raised).
 */
export function finishDespiteInterrupt(onFirst: () => void, signals: EventEmitter = process, raise: () => void = reraiseInterrupt): () => void {
  let pressed = false;
  const onInt = (): void => {
    if (!pressed) {
      pressed = true;
      onFirst();
      return;
    }
    release();
    raise();
  };
  const release = (): void => {
    signals.off('SIGINT', onInt);
  };
  signals.on('SIGINT', onInt);
  return release;
}

function reraiseInterrupt(): void {
  process.kill(process.pid, 'SIGINT');
}
