import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ProxyCore, elapsedMs } from './core.js';
import { credentialedRefusal, stripRerouting } from './credentialed.js';
import type { RequestEvent } from './events.js';
import { errorCode, formatAuthority, stripHopByHop, writeRawBlocked, writeRawError } from './http-util.js';
import { applyInjection } from './injection.js';
import { resolveTarget, type TunnelInfo } from './target.js';
import { internalDialRefusal, upstreamFailureMessage } from './upstream-errors.js';

/**
 * A WebSocket upgrade (ws:// absolute-form, or wss:// inside an intercepted CONNECT): check policy,
 * inject on the upgrade request, dial the upstream only now, then splice bytes both ways.
 */
export function handleUpgrade(core: ProxyCore, req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelInfo | undefined): void {
  const start = process.hrtime.bigint();
  const ev: RequestEvent = {
    type: 'request', ts: new Date().toISOString(), method: req.method ?? 'GET', url: req.url ?? '', host: tunnel?.host ?? '',
    status: 0, ttfbMs: 0, durationMs: 0, bytesUp: 0, bytesDown: 0, upgrade: 'websocket',
  };
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    ev.durationMs = elapsedMs(start);
    core.emit(ev);
  };
  socket.on('error', (err) => (ev.error ??= errorCode(err)));

  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    ev.status = 501;
    ev.reason = 'only WebSocket upgrades are supported';
    writeRawError(socket, 501, 'Not Implemented', 'Moat tunnels only WebSocket upgrades.');
    return finish();
  }
  const resolved = resolveTarget(req, tunnel);
  if (!resolved.ok) {
    ev.status = resolved.status;
    ev.reason = resolved.message;
    writeRawError(socket, resolved.status, resolved.status === 421 ? 'Misdirected Request' : 'Bad Request', resolved.message);
    return finish();
  }
  const t = resolved.target;
  ev.url = t.url.replace(/^http/, 'ws');
  ev.host = t.host;
  const credentialed = core.injector.find(t.host, t.port) !== undefined;
  const decision = (credentialed ? credentialedRefusal(t.host, ev.method) : undefined)
    ?? core.policy.checkRequest(t.host, t.port, ev.method, t.pathname);
  if (!decision.allowed) {
    ev.status = 403;
    ev.blocked = true;
    ev.reason = decision.reason;
    writeRawBlocked(socket, `${ev.method} ${ev.url.split('?')[0]}`, decision);
    return finish();
  }

  const headers = stripHopByHop(req.headers);
  if (credentialed) stripRerouting(headers);
  const inj = t.secure ? core.injector.find(t.host, t.port) : undefined;
  if (inj) ev.grant = applyInjection(headers, inj);
  let headText = `${ev.method} ${t.path} HTTP/1.1\r\nHost: ${formatAuthority(t.host, t.port, t.secure)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'host') continue;
    for (const one of Array.isArray(v) ? v : [v]) headText += `${k}: ${one}\r\n`;
  }
  headText += '\r\n';

  socket.pause();
  core.upstream.dial(t.host, t.port, t.secure).then(
    (up) => {
      if (socket.destroyed) {
        up.destroy();
        return finish();
      }
      up.setNoDelay?.(true);
      up.write(headText);
      if (head.length > 0) {
        ev.bytesUp += head.length;
        up.write(head);
      }
      up.once('data', (chunk: Buffer) => {
        ev.ttfbMs = elapsedMs(start);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.subarray(0, 16).toString('latin1'));
        ev.status = m ? Number(m[1]) : 502;
      });
      up.on('data', (c: Buffer) => (ev.bytesDown += c.length));
      socket.on('data', (c: Buffer) => (ev.bytesUp += c.length));
      up.on('error', (err) => {
        ev.error ??= errorCode(err);
        socket.destroy();
      });
      socket.on('error', () => up.destroy());
      up.on('close', () => {
        socket.destroy();
        finish();
      });
      socket.on('close', () => {
        up.destroy();
        finish();
      });
      up.pipe(socket);
      socket.pipe(up);
      socket.resume();
    },
    (err: unknown) => {
      ev.error = errorCode(err);
      const refused = internalDialRefusal(err, t.host, t.port);
      if (refused) {
        ev.status = 403;
        ev.blocked = true;
        ev.reason = refused.reason;
        writeRawBlocked(socket, `${ev.method} ${ev.url.split('?')[0]}`, refused);
        return finish();
      }
      ev.status = 502;
      writeRawError(socket, 502, 'Bad Gateway', upstreamFailureMessage(t.host, ev.error));
      finish();
    },
  );
}
