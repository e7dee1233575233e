import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { type CA, createCA } from '../../src/gateway/ca.js';
import { LeafCache } from '../../src/gateway/leaf.js';

/**
 * A fake HTTPS (and plain HTTP) upstream with its own test CA, for gateway tests and benches. It
 * answers any host name (certificates are minted per SNI), so a proxy with an upstream override can
 * send `api.example.test` here. Loopback only.
 *
 * Routes: GET/any -> JSON echo {method, path, headers}; /sse?n=&interval= -> SSE events with server
 * timestamps; /redirect -> 302; /download?bytes= -> streamed body; POST /upload -> {bytes}; /status/:code;
 * WebSocket upgrade on any path -> echo (the message "echo-credential" -> the upgrade's Authorization, fragmented), except: upgrade to /status/:code -> that answer, and the
 * connection stays HTTP (like an origin without WebSocket support: pipelined requests are served);
 * /ws-bad-accept -> 101 with a wrong Sec-WebSocket-Accept; /ws-no-accept -> 101 without one;
 * /ws-close-delimited -> a 404 whose body ends when the connection closes.
 * `routes` adds or overrides exact paths.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  host: string | undefined;
  headers: http.IncomingHttpHeaders;
  secure: boolean;
  websocket?: boolean;
}

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeUpstream {
  ca: CA;
  httpsPort: number;
  httpPort: number;
  requests: RecordedRequest[];
  /** Server-side send times of the last /sse stream, in ms (performance.now()). */
  sseSentAt: number[];
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function startFakeUpstream(opts: { routes?: Record<string, Route>; ca?: CA } = {}): Promise<FakeUpstream> {
  const ca = opts.ca ?? (await createCA('Moat Test Upstream CA'));
  const leafs = new LeafCache(ca);
  const defaultCtx = await leafs.get('localhost');
  const requests: RecordedRequest[] = [];
  const sseSentAt: number[] = [];

  const handler =
    (secure: boolean) =>
    (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host, headers: req.headers, secure });
      const custom = opts.routes?.[url.pathname];
      if (custom) return custom(req, res);
      const status = /^\/status\/(\d{3})$/.exec(url.pathname);
      if (status) {
        res.writeHead(Number(status[1]), { 'content-type': 'text/plain' });
        res.end('status\n');
        return;
      }
      switch (url.pathname) {
        case '/redirect':
          res.writeHead(302, { location: '/final' });
          res.end();
          return;
        case '/sse': {
          const n = Number(url.searchParams.get('n') ?? 5);
          const interval = Number(url.searchParams.get('interval') ?? 50);
          sseSentAt.length = 0;
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          res.flushHeaders();
          let i = 0;
          const tick = (): void => {
            if (i >= n) {
              res.end();
              return;
            }
            sseSentAt.push(performance.now());
            res.write(`event: delta\ndata: {"i":${i}}\n\n`);
            i += 1;
            setTimeout(tick, interval);
          };
          setTimeout(tick, interval);
          return;
        }
        case '/download': {
          let left = Number(url.searchParams.get('bytes') ?? 1024);
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
          const pump = (): void => {
            while (left > 0) {
              const n = Math.min(left, CHUNK.length);
              left -= n;
              const ok = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
              if (!ok && left > 0) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
          return;
        }
        case '/upload': {
          let bytes = 0;
          req.on('data', (c: Buffer) => (bytes += c.length));
          req.on('end', () => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ bytes }));
          });
          return;
        }
        default: {
          const body = JSON.stringify({ method: req.method, path: req.url, headers: req.headers });
          req.resume();
          req.on('end', () => {
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
            res.end(body);
          });
        }
      }
    };

  const httpsServer = https.createServer(
    {
      SNICallback: (name, cb) =>
        leafs.get(name).then(
          (c) => cb(null, c),
          (e: Error) => cb(e),
        ),
      secureContext: defaultCtx,
    },
    handler(true),
  );
  const httpServer = http.createServer(handler(false));
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws, req: http.IncomingMessage) => {
    ws.on('message', (data, isBinary) => {
      // "echo-credential": the upgrade's Authorization, as one text message in three fragments (cut
      // inside the token), then as a binary message.
      if (!isBinary && String(data as Buffer) === 'echo-credential') {
        const v = Buffer.from(`you sent ${req.headers.authorization ?? ''}`);
        const cut1 = 'you sent Bearer '.length + 5;
        ws.send(v.subarray(0, cut1), { fin: false });
        ws.send(v.subarray(cut1, cut1 + 10), { fin: false });
        ws.send(v.subarray(cut1 + 10), { fin: true });
        ws.send(v, { binary: true });
        return;
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => ws.terminate());
  });
  for (const [server, secure] of [
    [httpsServer, true],
    [httpServer, false],
  ] as const) {
    server.keepAliveTimeout = 30_000;
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host, headers: req.headers, secure, websocket: true });
      socket.on('error', () => socket.destroy());
      if (!answerUpgradeOddly(server, secure, req, socket, head)) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
  }
  await Promise.all([new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r)), new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r))]);
  return {
    ca,
    httpsPort: (httpsServer.address() as AddressInfo).port,
    httpPort: (httpServer.address() as AddressInfo).port,
    requests,
    sseSentAt,
    async close() {
      for (const c of wss.clients) c.terminate();
      httpsServer.closeAllConnections();
      httpServer.closeAllConnections();
      await Promise.all([new Promise((r) => httpsServer.close(r)), new Promise((r) => httpServer.close(r))]);
    },
  };
}

/** The odd upgrade answers (see the header comment); false for an ordinary WebSocket echo. */
function answerUpgradeOddly(server: http.Server, secure: boolean, req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
  const path = (req.url ?? '').split('?')[0] ?? '';
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) {
    socket.write(`HTTP/1.1 ${status[1]} Refused\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nrefused\n`);
    if (head.length > 0) socket.unshift(head);
    // Back to the HTTP parser (https servers serve HTTP on 'secureConnection').
    server.emit(secure ? 'secureConnection' : 'connection', socket);
    socket.resume();
    return true;
  }
  if (path === '/ws-echo-refused') {
    // A REST API that does not speak WebSocket: an ordinary answer echoing the credential it got.
    const auth = String(req.headers.authorization ?? '');
    const body = `no websocket here; you sent ${auth}`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nX-Echo: ${auth}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    return true;
  }
  if (path === '/ws-close-delimited') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nbody-until-close');
    return true;
  }
  if (path === '/ws-bad-accept' || path === '/ws-no-accept') {
    const accept = path === '/ws-bad-accept' ? `Sec-WebSocket-Accept: ${createHash('sha1').update('wrong').digest('base64')}\r\n` : '';
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${accept}\r\n`);
    // Whatever arrives now would be read as raw bytes; record it so a test can see it never came.
    socket.on('data', () => undefined);
    socket.once('end', () => socket.destroy());
    return true;
  }
  return false;
}
