import { SystemLikeError } from '../errors.js';
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Transform, Writable } from 'node:stream';
import { type ProxyCore, elapsedMs, targetOptions } from './core.js';
import { credentialedRefusal, stripRerouting } from './credentialed.js';
import { startRequestEvent, type RequestEvent } from './events.js';
import { closeRaw, errorCode, formatAuthority, stripHopByHop, writeRawBlocked, writeRawError } from './http-util.js';
import { applyInjection } from './injection.js';
import { refusalFields } from './policy.js';
import { bodyless, responseBody } from './response-decode.js';
import { liveFrames, scrubRawHeaders } from './response-scrub.js';
import { resolveTarget, type TunnelInfo } from './target.js';
import { badSwitch, headWithoutUpgrade, isWebSocketKey, relayResponse, switchHead } from './upgrade-http.js';
import { internalDialRefusal, upstreamFailureMessage } from './upstream-errors.js';

/**
 * Give a client connection back to the HTTP server it came from, with `pending` (bytes already read
 * past the last request) to be parsed first: every later request on it is an ordinary request again.
 */
export type Reattach = (socket: Duplex, pending: Buffer) => void;

/**
 * An upgrade request (ws:// absolute-form, or wss:// inside an intercepted CONNECT). Only a WebSocket
 * upgrade is tunnelled; any other (h2c, TLS, …) is served as the plain request it also is.
 *
 * A WebSocket upgrade is checked like any request (policy, path rules, injection on the upgrade), then
 * sent to the origin; nothing else the client sent reaches the origin until the origin has switched
 * with the right Sec-WebSocket-Accept. Only then does the connection become a byte pipe. Any other
 * answer is relayed as an HTTP response and the connection stays HTTP (`reattach`): a request pipelined
 * behind a refused upgrade is parsed, checked and traced like every other.
 */
export function handleUpgrade(core: ProxyCore, req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelInfo | undefined, reattach: Reattach): void {
  if ((req.headers.upgrade ?? '').trim().toLowerCase() !== 'websocket') {
    reattach(socket, Buffer.concat([Buffer.from(headWithoutUpgrade(req), 'latin1'), head]));
    return;
  }
  const start = process.hrtime.bigint();
  const ev: RequestEvent = { ...startRequestEvent(req, tunnel?.host), upgrade: 'websocket' };
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    ev.durationMs = elapsedMs(start);
    core.emit(ev);
  };
  const refuse = (status: number, reason: string, message: string): void => {
    ev.status = status;
    ev.reason = message;
    writeRawError(socket, status, reason, message);
    closeRaw(socket);
    finish();
  };
  const onError = (err: Error): void => void (ev.error ??= errorCode(err));
  socket.on('error', onError);

  const resolved = resolveTarget(req, tunnel, targetOptions(core));
  if (!resolved.ok) return refuse(resolved.status, resolved.status === 421 ? 'Misdirected Request' : 'Bad Request', resolved.message);
  const t = resolved.target;
  ev.url = t.url.replace(/^http/, 'ws');
  ev.host = t.host;
  const key = req.headers['sec-websocket-key'];
  if (ev.method !== 'GET') return refuse(400, 'Bad Request', 'A WebSocket upgrade must be a GET request (RFC 6455).');
  if (!isWebSocketKey(key)) return refuse(400, 'Bad Request', 'A WebSocket upgrade needs exactly one Sec-WebSocket-Key header (16 bytes, base64).');
  // Whatever follows the head is not a body the origin would read the same way: refuse, don't guess.
  if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') {
    return refuse(400, 'Bad Request', 'A WebSocket upgrade request cannot carry a body.');
  }
  const credentialed = core.injector.find(t.host, t.port) !== undefined || core.secrets.covers(t.host, t.port);
  const decision = (credentialed ? credentialedRefusal(t.host, ev.method) : undefined) ?? core.policy.checkRequest(t.host, t.port, ev.method, t.pathname);
  if (!decision.allowed) {
    ev.status = 403;
    Object.assign(ev, refusalFields(decision, t.port));
    writeRawBlocked(socket, `${ev.method} ${ev.url.split('?')[0]}`, decision);
    closeRaw(socket);
    return finish();
  }

  const stripped = stripHopByHop(req.headers);
  delete stripped.host;
  delete stripped['content-length'];
  if (credentialed) stripRerouting(stripped);
  // Frames from an origin that may echo a real value are searched: keep them uncompressed (no permessage-deflate).
  const scrubFrames = credentialed && core.scrub.active;
  if (scrubFrames) delete stripped['sec-websocket-extensions'];
  const sub = core.secrets.plan(t.host, t.port, t.secure);
  sub?.headers(stripped);
  const path = sub ? sub.path(t.path) : t.path;
  if (sub?.applied.size) ev.secrets = [...sub.applied];
  if (sub?.refused.size) ev.secretsRefused = [...sub.refused];
  const inj = t.secure ? core.injector.find(t.host, t.port) : undefined;
  if (inj) ev.grant = applyInjection(stripped, inj);
  const headers: http.OutgoingHttpHeaders = { host: formatAuthority(t.host, t.port, t.secure), connection: 'Upgrade', upgrade: 'websocket', ...stripped };
  // An origin that does not switch answers as plain HTTP, scrubbed like any response: ask for bytes it can search.
  if (credentialed && core.scrub.active) headers['accept-encoding'] = 'identity';
  const scrubbed = (n: number): void => {
    if (n > 0) ev.scrubbed = (ev.scrubbed ?? 0) + n;
  };

  // Held until the origin switches: `head` and everything after it stays in the paused socket.
  socket.pause();
  let closed = false;
  let upstream: Socket | undefined;
  const onClose = (): void => {
    closed = true;
    upstream?.destroy();
    ev.error ??= 'client closed';
    finish();
  };
  socket.once('close', onClose);
  const release = (): void => {
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
  };

  core.upstream.dial(t.host, t.port, t.secure).then(
    (up) => {
      upstream = up;
      if (closed) return void up.destroy();
      let upReq: http.ClientRequest;
      try {
        upReq = http.request({ createConnection: () => up, method: 'GET', path, headers, setHost: false });
      } catch (err) {
        up.destroy();
        return refuse(400, 'Bad Request', `The WebSocket upgrade has a header Moat cannot forward (${errorCode(err)}).`);
      }
      upReq.setTimeout(core.upstream.headersTimeoutMs, () => upReq.destroy(new SystemLikeError('upgrade answer timeout', 'UND_ERR_HEADERS_TIMEOUT')));
      upReq.on('error', (err) => {
        up.destroy();
        if (ev.status !== 0) return; // already answered; the pipe's own handlers close both sides
        ev.error = errorCode(err);
        const slow = ev.error.includes('TIMEOUT');
        refuse(slow ? 504 : 502, slow ? 'Gateway Timeout' : 'Bad Gateway', upstreamFailureMessage(t.host, ev.error));
      });
      upReq.once('upgrade', (res: IncomingMessage, upSock: Duplex, upHead: Buffer) => {
        upReq.setTimeout(0);
        ev.ttfbMs = elapsedMs(start);
        const bad =
          badSwitch(res, key) ?? (scrubFrames && res.headers['sec-websocket-extensions'] !== undefined ? 'an extension Moat did not offer' : undefined);
        if (bad) {
          upSock.destroy();
          ev.error = 'bad websocket switch';
          return refuse(502, 'Bad Gateway', `${t.host} switched protocols with ${bad}; Moat closed the connection.`);
        }
        ev.status = 101;
        release();
        scrubbed(scrubRawHeaders(core.scrub, res.rawHeaders));
        // Live: a credential refreshed while the connection is open is scrubbed from its next frame on.
        const frames = scrubFrames
          ? liveFrames(
              () => core.scrub,
              () => scrubbed(1),
            )
          : undefined;
        splice(socket, upSock, switchHead(res), upHead, head, ev, finish, frames);
      });
      upReq.once('response', (res: IncomingMessage) => {
        upReq.setTimeout(0);
        ev.ttfbMs = elapsedMs(start);
        ev.status = res.statusCode ?? 502;
        scrubbed(scrubRawHeaders(core.scrub, res.rawHeaders));
        const encoded = res.headers['content-encoding'] !== undefined;
        const plan = responseBody(core.scrub, res.headers, { credentialed, noBody: bodyless('GET', ev.status), host: t.host }, () => scrubbed(1));
        if ('refused' in plan) {
          up.destroy();
          return refuse(502, 'Bad Gateway', plan.refused);
        }
        // Decoded: the client gets the body re-framed (chunked) without the origin's coding and length.
        if (encoded && res.headers['content-encoding'] === undefined) dropRawHeaders(res.rawHeaders, ['content-encoding', 'content-length']);
        const through = plan.through;
        relayResponse(
          res,
          socket,
          ev.method,
          (n) => (ev.bytesDown += n),
          (ok) => {
            // The origin connection answered an upgrade; it is never reused.
            up.destroy();
            finish();
            if (closed) return;
            release();
            if (ok) reattach(socket, head);
            else socket.destroy();
          },
          through,
        );
      });
      upReq.end();
    },
    (err: unknown) => {
      ev.error = errorCode(err);
      const refused = internalDialRefusal(err, t.host, t.port);
      if (refused) {
        ev.status = 403;
        Object.assign(ev, refusalFields(refused, t.port));
        writeRawBlocked(socket, `${ev.method} ${ev.url.split('?')[0]}`, refused);
        closeRaw(socket);
        return finish();
      }
      refuse(502, 'Bad Gateway', upstreamFailureMessage(t.host, ev.error));
    },
  );
}

/** The origin switched: answer the client, send what it held back, then copy bytes both ways. */
function splice(
  socket: Duplex,
  up: Duplex,
  switchText: string,
  upHead: Buffer,
  held: Buffer,
  ev: RequestEvent,
  finish: () => void,
  /** The origin's frames pass through this (the scrubber) on their way to the client. */
  frames?: Transform,
): void {
  (up as Partial<Socket>).setNoDelay?.(true);
  socket.write(switchText);
  ev.bytesDown += Buffer.byteLength(switchText);
  const down: Writable = frames ?? socket;
  if (frames) {
    frames.pipe(socket);
    // A frame Moat cannot read as plain bytes ends the connection (a client would fail it too).
    frames.on('error', (err) => {
      ev.error ??= `websocket: ${err.message}`;
      socket.destroy();
      up.destroy();
    });
  }
  if (upHead.length > 0) {
    ev.bytesDown += upHead.length;
    down.write(upHead);
  }
  if (held.length > 0) {
    ev.bytesUp += held.length;
    up.write(held);
  }
  up.on('data', (c: Buffer) => (ev.bytesDown += c.length));
  socket.on('data', (c: Buffer) => (ev.bytesUp += c.length));
  up.on('error', (err) => {
    ev.error ??= errorCode(err);
    socket.destroy();
  });
  socket.on('error', (err) => {
    ev.error ??= errorCode(err);
    up.destroy();
  });
  up.on('close', () => {
    socket.destroy();
    finish();
  });
  socket.on('close', () => {
    up.destroy();
    finish();
  });
  up.pipe(down);
  socket.pipe(up);
  up.resume();
  socket.resume();
}

/** Remove these headers (lower-case names) from a raw header list (name, value, …) in place. */
function dropRawHeaders(raw: string[], names: string[]): void {
  for (let i = raw.length - 2; i >= 0; i -= 2) if (names.includes(raw[i]!.toLowerCase())) raw.splice(i, 2);
}
