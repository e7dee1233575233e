import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { type ProxyCore, elapsedMs } from './core.js';
import type { RequestEvent } from './events.js';
import { errorCode, sendText, stripHopByHop } from './http-util.js';
import { bodyless, responseBody } from './response-decode.js';
import { type BodySample, traceHeaders } from './trace-bodies.js';

/** What one proxied request's upstream exchange reports to and writes into. */
export interface ExchangeContext {
  core: ProxyCore;
  res: ServerResponse;
  ev: RequestEvent;
  /** process.hrtime.bigint() when the request head arrived. */
  start: bigint;
  /** The request carried (or may carry) a granted credential: its answer is scanned for it. */
  credentialed: boolean;
  host: string;
  resSample: BodySample | undefined;
  /** The request failed before a response head arrived: answer the client (502, 504, 403). */
  fail(err: unknown): void;
}

/**
 * The upstream side of one proxied request, as an undici dispatch() handler: the response head is checked
 * and written to the client, and each body chunk goes straight to the client (or through the scrubber),
 * with backpressure both ways (a full client pauses the upstream socket). undici's request() made a
 * promise, an AsyncResource and a Readable per request for the same thing.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private cancelled = false;
  /** A response head arrived: a later failure cuts the client's response instead of answering it. */
  private responded = false;
  /** The client got its full answer from us (refused, invalid head): nothing more from upstream is wanted. */
  private settled = false;
  private sink: Writable | undefined;

  constructor(private readonly x: ExchangeContext) {}

  /** The client went away: the upstream request is aborted (now, or as soon as it is dispatched). */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort(new errors.RequestAbortedError());
  }

  get aborted(): boolean {
    return this.cancelled;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(new errors.RequestAbortedError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx informational answers are not forwarded (Node's server sends its own 100-continue).
    if (statusCode < 200 || this.cancelled) return;
    const { core, res, ev } = this.x;
    this.responded = true;
    ev.ttfbMs = elapsedMs(this.x.start);
    ev.status = statusCode;
    let sink: Writable;
    try {
      const outHeaders = stripHopByHop(headers);
      const echoed = core.scrub.active ? core.scrub.headers(outHeaders) : 0;
      if (echoed > 0) ev.scrubbed = echoed;
      if (core.traceBodies) ev.responseHeaders = traceHeaders(outHeaders);
      const plan = responseBody(
        core.scrub,
        outHeaders,
        { credentialed: this.x.credentialed, noBody: bodyless(ev.method, statusCode), host: this.x.host },
        () => (ev.scrubbed = (ev.scrubbed ?? 0) + 1),
      );
      if ('refused' in plan) {
        this.settle(502, plan.refused, 'encoded response');
        return;
      }
      res.writeHead(statusCode, outHeaders);
      // Streams of unknown length (SSE, chunked) get their head at once; sized bodies go with the head.
      if (outHeaders['content-length'] === undefined) res.flushHeaders();
      const scrub = plan.through;
      if (scrub) {
        scrub.once('error', (err) => {
          ev.error ??= errorCode(err);
          res.destroy();
        });
        scrub.pipe(res);
        sink = scrub;
      } else sink = res;
    } catch (err) {
      this.settle(502, 'Moat received an invalid response head from upstream.', errorCode(err));
      return;
    }
    this.sink = sink;
    // Resumed on a later tick: a client's 'drain' can fire inside undici's parsing of another upstream
    // answer (pipelined requests share the client's socket), and undici's parser may not be resumed there
    // (it throws, which aborted that other request and left this one paused for ever).
    sink.on('drain', () => queueMicrotask(() => this.cancelled || this.settled || controller.resume()));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const sink = this.sink;
    if (!sink || this.cancelled) return;
    this.x.ev.bytesDown += chunk.length;
    this.x.resSample?.add(chunk);
    if (!sink.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.sink?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.error(err);
  }

  /** The request failed (upstream, or a hook before it was sent): answered, or the client's response cut. */
  error(err: unknown): void {
    if (this.cancelled || this.settled) return;
    if (!this.responded) return this.x.fail(err);
    this.x.ev.error ??= errorCode(err);
    this.x.res.destroy();
  }

  /** Answer the client ourselves and drop the upstream response (its connection is not reused). */
  private settle(status: number, message: string, error: string): void {
    const { ev, res } = this.x;
    this.settled = true;
    this.controller?.abort(new errors.RequestAbortedError());
    ev.error = error;
    ev.status = status;
    ev.bytesDown = sendText(res, status, message);
  }
}
