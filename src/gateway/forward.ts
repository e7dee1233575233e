import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { awsRequestOptions } from './aws-forward.js';
import { isAwsRefusal } from './aws-types.js';
import { type ProxyCore, elapsedMs, targetOptions } from './core.js';
import { credentialedRefusal, stripRerouting } from './credentialed.js';
import { startRequestEvent, type RequestEvent } from './events.js';
import { hostPort } from './hosts.js';
import { errorCode, sendBlocked, sendText, stripHopByHop } from './http-util.js';
import { onResponseClose } from './response-close.js';
import { UpstreamExchange } from './upstream-exchange.js';
import { applyInjection } from './injection.js';
import { bodyKind, readBounded, type RequestSubstitution } from './secret-substitution.js';
import { refusalFields } from './policy.js';
import type { CompiledLocalResponse } from './local-response.js';
import { resolveTarget, type TunnelInfo } from './target.js';
import { BodySample, traceHeaders } from './trace-bodies.js';
import { internalDialRefusal, upstreamFailureMessage } from './upstream-errors.js';

/**
 * One proxied request: resolve and check the target, apply policy and injection, send upstream with
 * undici, stream both bodies (backpressure intact, nothing buffered), record one event.
 */
export function handleRequest(core: ProxyCore, req: IncomingMessage, res: ServerResponse, tunnel: TunnelInfo | undefined): void {
  const start = process.hrtime.bigint();
  const ev = startRequestEvent(req, tunnel?.host);
  const reqSample = core.traceBodies ? new BodySample(core.traceBodies) : undefined;
  const resSample = core.traceBodies ? new BodySample(core.traceBodies) : undefined;
  if (core.traceBodies) ev.requestHeaders = traceHeaders(req.headers);
  let done = false;
  let sub: RequestSubstitution | undefined = undefined; // set once the target is known
  const finish = (): void => {
    if (done) return;
    done = true;
    ev.durationMs = elapsedMs(start);
    const rb = reqSample?.text();
    const sb = resSample?.text();
    if (rb !== undefined) ev.requestBody = rb;
    if (sb !== undefined) ev.responseBody = sb;
    if (sub?.applied.size) ev.secrets = [...sub.applied];
    if (sub?.refused.size) ev.secretsRefused = [...sub.refused];
    core.emit(ev);
  };
  const refuse = (status: number, message: string, reason: string): void => {
    ev.status = status;
    ev.reason = reason;
    ev.bytesDown = sendText(res, status, message);
    req.resume();
    finish();
  };

  const resolved = resolveTarget(req, tunnel, targetOptions(core));
  if (!resolved.ok) return refuse(resolved.status, resolved.message, resolved.message);
  const t = resolved.target;
  ev.url = t.url;
  ev.host = t.host;

  // A host a grant covers: no TRACE, no headers that re-route the request inside the origin.
  const credentialed = core.injector.find(t.host, t.port) !== undefined || core.secrets.covers(t.host, t.port) || core.aws?.matches(t.host, t.port) === true;
  const refused = credentialed ? credentialedRefusal(t.host, ev.method) : undefined;

  // A grant's local answer: only over TLS to the exact host, like a credential; the upstream never sees
  // it. Only a deny of its host refuses it; other calls to that host are decided like any request.
  const local = t.secure && !refused ? core.responder.find(t.host, t.port, ev.method, t.pathname) : undefined;
  const decision = refused ?? (local ? core.policy.checkHost(t.host, t.port) : core.policy.checkRequest(t.host, t.port, ev.method, t.pathname));
  if (!decision.allowed) {
    ev.status = 403;
    Object.assign(ev, refusalFields(decision, t.port));
    ev.bytesDown = sendBlocked(res, `${ev.method} ${t.url.split('?')[0]}`, decision);
    req.resume();
    return finish();
  }

  if (local) return answerLocally(req, res, ev, local, finish, resSample, reqSample);

  const headers = stripHopByHop(req.headers);
  delete headers.host;
  if (credentialed) stripRerouting(headers);
  // Secrets first: a grant's header, set below, is the credential the grant decides.
  // A response to a credentialed request is scanned for the credential echoed back: ask for it unencoded.
  if (credentialed && core.scrub.active) headers['accept-encoding'] = 'identity';
  sub = core.secrets.plan(t.host, t.port, t.secure);
  sub?.headers(headers);
  // A credential travels only over TLS to the exact host the client named everywhere (resolveTarget).
  const inj = t.secure ? core.injector.find(t.host, t.port) : undefined;
  if (inj) ev.grant = applyInjection(headers, inj);
  const aws = t.secure && !inj && core.aws?.matches(t.host, t.port) ? core.aws : undefined;

  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  // Pulled by undici chunk by chunk: backpressure reaches the client, and we count what passed.
  const body = hasBody
    ? (async function* counted() {
        for await (const chunk of req as AsyncIterable<Buffer>) {
          ev.bytesUp += chunk.length;
          reqSample?.add(chunk);
          if (!sub?.rewritesBody) sub?.watch(chunk);
          yield chunk;
        }
      })()
    : null;

  const exchange = new UpstreamExchange({
    core,
    res,
    ev,
    start,
    credentialed,
    host: t.host,
    resSample,
    fail: (err) => {
      if (exchange.aborted) return;
      if (isAwsRefusal(err)) {
        ev.status = err.status;
        ev.reason = err.message;
        ev.bytesDown = sendText(res, err.status, err.message);
        req.resume();
        finish();
        return;
      }
      const code = errorCode(err);
      ev.error = code;
      const refused = internalDialRefusal(err, t.host, t.port);
      if (refused) {
        ev.status = 403;
        Object.assign(ev, refusalFields(refused, t.port));
        ev.bytesDown = sendBlocked(res, `${ev.method} ${t.url.split('?')[0]}`, refused);
        req.resume();
        finish();
        return;
      }
      const timeout = code.includes('TIMEOUT');
      ev.status = timeout ? 504 : 502;
      ev.bytesDown = sendText(res, ev.status, upstreamFailureMessage(t.host, code));
      req.resume();
      finish();
    },
  });
  onResponseClose(req, res, () => {
    if (!res.writableFinished) {
      exchange.cancel();
      ev.error ??= 'client closed';
    }
    finish();
  });

  const path = sub ? sub.path(t.path) : t.path;
  if (sub?.rewritesBody && body) {
    // A body that may carry a placeholder for this host is read whole (up to 1 MiB), rewritten, then sent.
    readBounded(body).then(
      (r) => {
        if (exchange.aborted) return;
        if ('whole' in r) {
          const out = sub!.body(r.whole, bodyKind(req.headers));
          delete headers['transfer-encoding'];
          headers['content-length'] = String(out.length);
          return send(out);
        }
        send(
          (async function* rest() {
            yield r.head;
            for (let n = await r.rest.next(); !n.done; n = await r.rest.next()) yield n.value;
          })(),
        );
      },
      () => {
        ev.error ??= 'client closed';
        res.destroy();
      },
    );
  } else send(body);

  function send(upBody: Buffer | AsyncIterable<Buffer> | null): void {
    const dispatcher = core.upstream.dispatcher(t.host, t.port);
    const opts: Dispatcher.DispatchOptions = {
      origin: `${t.secure ? 'https' : 'http'}://${hostPort(t.host, t.port)}`,
      path,
      method: ev.method as Dispatcher.HttpMethod,
      headers,
      // undici streams async iterables (types omit them).
      body: upBody as unknown as Dispatcher.DispatchOptions['body'],
    };
    // Errors (invalid options included) reach the exchange's onResponseError, then `fail` above.
    if (!aws) dispatcher.dispatch(opts, exchange);
    else
      awsRequestOptions(aws, req, t, headers, body, ev).then(
        (o) => dispatcher.dispatch({ ...opts, ...o }, exchange),
        (err: unknown) => exchange.error(err),
      );
  }
}

/** Answer from a `LocalResponse`: drain (and count) the request body, then send the stored answer. */
function answerLocally(
  req: IncomingMessage,
  res: ServerResponse,
  ev: RequestEvent,
  local: CompiledLocalResponse,
  finish: () => void,
  resSample: BodySample | undefined,
  reqSample: BodySample | undefined,
): void {
  ev.grant = local.grant;
  ev.local = true;
  onResponseClose(req, res, () => {
    if (!res.writableFinished) ev.error ??= 'client closed';
    finish();
  });
  req.on('data', (c: Buffer) => {
    ev.bytesUp += c.length;
    reqSample?.add(c);
  });
  req.once('error', () => res.destroy());
  req.once('end', () => {
    const headers = { ...local.headers, 'content-length': String(local.body.length) };
    ev.status = local.status;
    if (ev.requestHeaders !== undefined) ev.responseHeaders = traceHeaders(headers); // trace on
    res.writeHead(local.status, headers);
    res.end(local.body);
    ev.bytesDown = local.body.length;
    resSample?.add(local.body);
  });
}
