import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { headerSafe } from './http-util.js';

/** RFC 6455 §4.2.2: the GUID the server appends to the client's key. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A Sec-WebSocket-Key: 16 bytes, base64 (RFC 6455 §4.1). */
const WS_KEY = /^[A-Za-z0-9+/]{22}==$/;

export function isWebSocketKey(value: string | string[] | undefined): value is string {
  return typeof value === 'string' && WS_KEY.test(value);
}

/** The Sec-WebSocket-Accept a server must answer to `key`: base64(SHA-1(key + GUID)). */
function webSocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** Why a 101 answer to a WebSocket upgrade is not one (undefined: it is), per RFC 6455 §4.1 steps 2-4. */
export function badSwitch(res: IncomingMessage, key: string): string | undefined {
  if (res.statusCode !== 101) return `status ${res.statusCode ?? 0}`;
  if ((res.headers.upgrade ?? '').trim().toLowerCase() !== 'websocket') return 'no "Upgrade: websocket"';
  const conn = (res.headers.connection ?? '').split(',').map((t) => t.trim().toLowerCase());
  if (!conn.includes('upgrade')) return 'no "Connection: Upgrade"';
  const accept = res.headers['sec-websocket-accept'];
  if (typeof accept !== 'string' || accept.trim() !== webSocketAccept(key)) return 'a wrong or missing Sec-WebSocket-Accept';
  return undefined;
}

/** Header lines from raw name/value pairs, without the names `drop` accepts. */
function headerLines(raw: string[], drop: (name: string) => boolean): string {
  let out = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!drop(name.toLowerCase())) out += `${name}: ${raw[i + 1]!}\r\n`;
  }
  return out;
}

/** The head of a 101 answer for the client, as the origin sent it (framing headers aside). */
export function switchHead(res: IncomingMessage): string {
  return `HTTP/1.1 101 Switching Protocols\r\n${headerLines(res.rawHeaders, (n) => n === 'content-length' || n === 'transfer-encoding')}\r\n`;
}

/**
 * The request head again, without its Upgrade (and what names it in Connection): an upgrade Moat does
 * not tunnel (h2c, TLS, …) is served as the ordinary request it also is (RFC 9110 §7.8 lets a server
 * ignore Upgrade). The values are the ones the parser accepted, so no line can be added.
 */
export function headWithoutUpgrade(req: IncomingMessage): string {
  const named = new Set<string>(['upgrade', 'http2-settings']);
  const conn: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const t of req.rawHeaders[i + 1]!.split(',')) {
      const token = t.trim();
      if (token !== '' && !named.has(token.toLowerCase())) conn.push(token);
    }
  }
  const lines = headerLines(req.rawHeaders, (n) => named.has(n) || n === 'connection');
  return `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n${lines}${conn.length > 0 ? `Connection: ${conn.join(', ')}\r\n` : ''}\r\n`;
}

/** Hop-by-hop response headers (RFC 9110 §7.6.1) and those the response's Connection names. */
function hopByHop(res: IncomingMessage): Set<string> {
  const set = new Set([
    'connection',
    'keep-alive',
    'proxy-connection',
    'proxy-authenticate',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'content-length',
  ]);
  for (const t of (res.headers.connection ?? '').split(',')) set.add(t.trim().toLowerCase());
  return set;
}

/**
 * Relay an origin's non-101 answer to an upgrade request onto the client's raw connection as an ordinary
 * HTTP/1.1 response (the connection stays HTTP: keep-alive, the next request is parsed by the server),
 * re-framed by Moat: the origin's length when it gave one, chunked otherwise. Calls `done` once the whole
 * response was written (true) or when either side failed (false). Returns nothing; counts bytes written.
 */
export function relayResponse(
  res: IncomingMessage,
  socket: Duplex,
  method: string,
  count: (n: number) => void,
  done: (ok: boolean) => void,
  /** The response scrubber (a same-length rewrite, or a decoder and one), or none. */
  through?: Duplex,
): void {
  const status = res.statusCode ?? 502;
  const drop = hopByHop(res);
  const noBody = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
  const length = res.headers['transfer-encoding'] === undefined ? res.headers['content-length'] : undefined;
  const framing = noBody ? '' : length !== undefined ? `Content-Length: ${length}\r\n` : 'Transfer-Encoding: chunked\r\n';
  const head = `HTTP/1.1 ${status} ${headerSafe(res.statusMessage ?? '')}\r\n${headerLines(res.rawHeaders, (n) => drop.has(n))}${framing}\r\n`;
  const chunked = !noBody && length === undefined;
  let finished = false;
  const end = (ok: boolean): void => {
    if (finished) return;
    finished = true;
    socket.removeListener('drain', onDrain);
    done(ok);
  };
  const write = (data: Buffer | string): void => {
    count(Buffer.byteLength(data));
    if (!socket.write(data)) body.pause();
  };
  const body: Readable = through ? res.pipe(through) : res;
  const onDrain = (): void => void body.resume();
  socket.on('drain', onDrain);
  write(head);
  body.on('data', (c: Buffer) => {
    if (noBody) return;
    if (chunked) write(`${c.length.toString(16)}\r\n`);
    write(c);
    if (chunked) write('\r\n');
  });
  body.once('end', () => {
    if (!res.complete) return end(false);
    if (chunked) write('0\r\n\r\n');
    end(true);
  });
  res.once('error', () => end(false));
  res.once('aborted', () => end(false));
  through?.once('error', () => end(false));
}
