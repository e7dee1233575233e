import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeafCache, type CA } from '../gateway/index.js';
import { stripHopByHop, writeRawError } from '../gateway/http-util.js';
import { isIndexHost, parseRouteHost, servicesOf, type RunService } from '../gateway/routes.js';
import type { RunMetadata } from '../store/types.js';
import { ServiceTunnel } from './port-tunnel.js';
import { sendBadGateway, sendIndex, sendUnknown, type RouteListing } from './router-pages.js';

interface Route {
  id: string;
  run: string;
  services: RunService[];
  tunnels: Map<number, ServiceTunnel>;
  agents: Map<number, http.Agent>;
}

export interface RouterOptions {
  /** The loopback port, read when the router starts (routing.port). */
  port: () => Promise<number>;
  ca: () => Promise<CA>;
  /** Whether a run of this name exists but is no longer live (for the 502 page). */
  stopped: (name: string) => Promise<boolean>;
  log: (m: string) => void;
}

/**
 * The routing proxy: `http(s)://SERVICE.RUN.localhost:PORT/` on one loopback listener (TLS told apart by
 * its first byte), to each live run's services through their tunnels (port-tunnel.ts). It listens while
 * at least one run has services and closes with the last one.
 */
export class Router {
  private readonly routes = new Map<string, Route>();
  private listener: net.Server | undefined;
  private starting: Promise<void> | undefined;
  private port = 0;
  private leaves: LeafCache | undefined;
  private readonly http = http.createServer({ keepAliveTimeout: 5000 });
  private readonly secure = new Set<Duplex>();

  constructor(private readonly opts: RouterOptions) {
    this.http.on('request', (req, res) => {
      this.request(req, res).catch((err: unknown) => {
        this.opts.log(`router: ${String(err)}`);
        sendBadGateway(res, 'The router failed on this request.', req.headers.accept);
      });
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.upgrade(req, socket, head);
    });
    this.http.on('clientError', (_err, socket) => writeRawError(socket, 400, 'Bad Request', 'Bad request.'));
  }

  /** Publish a run's services; resolves once its tunnels listen (the router's own listener may follow). */
  async add(meta: RunMetadata, runDir: string): Promise<{ close: () => Promise<void> }> {
    const services = servicesOf(meta.ports);
    const tunnels = new Map<number, ServiceTunnel>();
    try {
      for (const port of new Set(services.map((s) => s.port))) tunnels.set(port, await ServiceTunnel.open(runDir, port));
    } catch (err) {
      await Promise.all([...tunnels.values()].map((t) => t.close()));
      throw err;
    }
    const agents = new Map([...tunnels].map(([port, t]) => [port, tunnelAgent(t)] as const));
    const route: Route = { id: meta.id, run: meta.name, services, tunnels, agents };
    this.routes.set(meta.name, route);
    this.ensureListening();
    return {
      close: async () => {
        if (this.routes.get(meta.name) === route) this.routes.delete(meta.name);
        for (const a of agents.values()) a.destroy();
        await Promise.all([...tunnels.values()].map((t) => t.close()));
        if (this.routes.size === 0) this.stopListening();
      },
    };
  }

  private listing(): RouteListing[] {
    return [...this.routes.values()].map((r) => ({ run: r.run, id: r.id, services: r.services }));
  }

  private ensureListening(): void {
    if (this.listener || this.starting) return;
    this.starting = this.listen().finally(() => {
      this.starting = undefined;
    });
  }

  /** Listen on 127.0.0.1:PORT; while the port is taken (a daemon handing over, another program), retry each second. */
  private async listen(): Promise<void> {
    this.port = await this.opts.port();
    this.leaves ??= new LeafCache(await this.opts.ca(), 500);
    const fallback = await this.leaves.get('localhost');
    for (let attempt = 0; this.routes.size > 0; attempt++) {
      const server = net.createServer({ pauseOnConnect: true }, (s) => this.sniff(s, fallback));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port: this.port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        if (attempt === 0)
          this.opts.log(
            `router: cannot listen on 127.0.0.1:${this.port} (${(err as NodeJS.ErrnoException).code ?? String(err)}); retrying each second. Set routing.port in ~/.moat/config.yaml to use another port.`,
          );
        await sleep(1000, undefined, { ref: false });
        continue;
      }
      if (this.routes.size === 0) {
        server.close();
        return;
      }
      this.listener = server;
      this.opts.log(`router: listening on 127.0.0.1:${this.port}`);
      return;
    }
  }

  private stopListening(): void {
    const l = this.listener;
    this.listener = undefined;
    if (!l) return;
    l.close();
    for (const s of this.secure) s.destroy();
    this.http.closeAllConnections();
    this.opts.log('router: no run with ports is left; stopped listening');
  }

  /** TLS (a handshake record starts with 0x16) or plain HTTP, on the same port. */
  private sniff(socket: net.Socket, fallback: tls.SecureContext): void {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(30_000, () => socket.destroy());
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) return void socket.destroy();
      socket.unshift(first);
      socket.setTimeout(0);
      if (first[0] !== 0x16) return void this.http.emit('connection', socket);
      const leaves = this.leaves;
      const t = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: fallback,
        ALPNProtocols: ['http/1.1'],
        SNICallback: (name, cb) => {
          if (!leaves || !(parseRouteHost(name) || isIndexHost(name))) return cb(null, fallback);
          leaves.get(name).then(
            (ctx) => cb(null, ctx),
            (err: unknown) => cb(err as Error),
          );
        },
      });
      this.secure.add(t);
      t.on('close', () => this.secure.delete(t));
      t.on('error', () => t.destroy());
      t.once('secure', () => this.http.emit('connection', t));
    });
    socket.resume();
  }

  /** The route a request names, or an answer already sent. */
  private async resolve(
    req: IncomingMessage,
    res: ServerResponse | undefined,
  ): Promise<{ route: Route; service: RunService } | { status: number; message: string } | 'index'> {
    const host = req.headers.host;
    if (isIndexHost(host)) return 'index';
    const name = parseRouteHost(host);
    if (!name) return { status: 421, message: "This is moat's router: it serves NAME.RUN.localhost only." };
    const route = this.routes.get(name.run);
    const service = route && (name.service ? route.services.find((s) => s.name === name.service) : route.services[0]);
    if (route && service) return { route, service };
    if (!route && (await this.opts.stopped(name.run)))
      return { status: 502, message: `The run ${name.run} has stopped: nothing serves ${host ?? ''} any more. Start it again to reach its services.` };
    if (res) sendUnknown(res, host ?? '', this.listing(), this.port, req.headers.accept);
    return { status: 404, message: `Nothing is served at ${host ?? ''}.` };
  }

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = await this.resolve(req, res);
    if (r === 'index') return sendIndex(res, this.listing(), this.port, req.headers.accept);
    if ('status' in r) {
      if (r.status === 404) return; // sent with its listing
      if (r.status === 502) return sendBadGateway(res, r.message, req.headers.accept);
      res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8' });
      return void res.end(`${r.message}\n`);
    }
    const { route, service } = r;
    const secure = req.socket instanceof tls.TLSSocket;
    const headers = {
      ...stripHopByHop(req.headers),
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': req.headers.host ?? '',
      'x-forwarded-proto': secure ? 'https' : 'http',
    };
    const up = http.request({ agent: route.agents.get(service.port), method: req.method, path: req.url, headers, setHost: false });
    up.on('response', (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, stripHopByHop(ur.headers));
      ur.pipe(res);
      ur.on('error', () => res.destroy());
    });
    up.on('error', () =>
      sendBadGateway(
        res,
        `Nothing answers on port ${service.port} inside the run ${route.run} (service ${service.name}): is its server started, listening on 127.0.0.1 or 0.0.0.0?`,
        req.headers.accept,
      ),
    );
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  /** WebSockets (and any Upgrade): the request head is written on a fresh tunnel connection, then bytes flow both ways. */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const r = await this.resolve(req, undefined);
    if (r === 'index' || 'status' in r) {
      const status = r === 'index' ? 404 : r.status;
      return writeRawError(
        socket,
        status,
        status === 502 ? 'Bad Gateway' : status === 421 ? 'Misdirected Request' : 'Not Found',
        r === 'index' ? 'No WebSocket here.' : r.message,
      );
    }
    const tunnel = r.route.tunnels.get(r.service.port);
    const up = tunnel && (await tunnel.take());
    if (!up) return writeRawError(socket, 502, 'Bad Gateway', `The run ${r.route.run} does not answer (service ${r.service.name}).`);
    up.on('error', () => {
      up.destroy();
      socket.destroy();
    });
    const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i] ?? ''}: ${req.rawHeaders[i + 1] ?? ''}`);
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
    up.resume();
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  }
}

/** Keep-alive HTTP connections to one service, each a tunnel connection (port-tunnel.ts). */
function tunnelAgent(t: ServiceTunnel): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64, timeout: 60_000 });
  // Node's Agent takes an asynchronous createConnection through its callback.
  (agent as unknown as { createConnection: (o: unknown, cb: (err: Error | null, s?: net.Socket) => void) => undefined }).createConnection = (_o, cb) => {
    void t.take().then((s) => {
      if (!s) return cb(new Error('no relay connection'));
      cb(null, s);
      s.resume(); // the HTTP client listens now
    });
    return undefined;
  };
  return agent;
}
