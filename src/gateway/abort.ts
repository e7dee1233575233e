import { EventEmitter } from 'node:events';

/**
 * A proxied request's cancel switch: the client going away cancels the upstream request. undici takes an
 * EventEmitter with `aborted` as its `signal` (it then fails the request with RequestAbortedError). An
 * AbortController per request cost ~5 % of the gateway's CPU under load (its AbortSignal, an EventTarget,
 * and undici's listener on it); this is one EventEmitter and one flag.
 */
export class RequestAbort extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}
