import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { AwsResigner } from './aws-types.js';
import type { CA } from './ca.js';
import type { ProxyCore } from './core.js';
import type { GatewayEvent } from './events.js';
import { handleRequest } from './forward.js';
import { hostPort } from './hosts.js';
import { closeRaw, errorCode, parseAuthority, writeRawBlocked, writeRawError } from './http-util.js';
import { compileInjections, type HeaderInjection } from './injection.js';
import { LeafCache } from './leaf.js';
import { compileSubstitutions, type SecretSubstitution } from './secret-substitution.js';
import { compileScrub, type ScrubPair } from './response-scrub.js';
import { compileLocalResponses, type LocalResponse } from './local-response.js';
import { compilePolicy, refusalFields, type PolicyData } from './policy.js';
import type { TunnelInfo } from './target.js';
import { Upstream, type UpstreamAddress } from './upstream.js';
import { SSH_PORT, handleSshConnect, type SshTunnels } from './ssh-tunnel.js';
import { handleUpgrade, type Reattach } from './websocket.js';

export interface ProxyTimeouts {
  /** A client must send a complete request head within this (slowloris guard). Default 30 s. */
  headersMs?: number;
  /** A client connection with no traffic either way is closed after this. Default 10 min. */
  idleMs?: number;
  /** The TLS handshake after CONNECT must finish within this. Default 10 s. */
  handshakeMs?: number;
  /** Idle keep-alive client connections between requests. Default 60 s. */
  keepAliveMs?: number;
  /** Upstream response head / gap between body chunks. Default 5 min each. */
  upstreamHeadersMs?: number;
  upstreamBodyMs?: number;
  upstreamConnectMs?: number;
}

export interface ProxyOptions {
  ca: CA;
  policy?: Partial<PolicyData>;
  injections?: HeaderInjection[];
  /** The run's secrets: placeholders replaced by real values in requests to each secret's hosts only. */
  substitutions?: SecretSubstitution[];
  /** Real values replaced by their placeholders in responses (headers, and bodies up to 1 MiB). */
  scrub?: ScrubPair[];
  /** Requests the proxy answers itself (over TLS, for exact hosts, like injections). */
  responses?: LocalResponse[];
  /** Checks and re-signs requests to AWS endpoints (a run with an aws grant). */
  aws?: AwsResigner;
  /** PEM CAs trusted for upstream TLS in addition to the system store. */
  extraCAs?: string[];
  /** Corporate proxy URL to chain through (CONNECT), e.g. http://proxy.corp:3128. */
  upstreamProxy?: string;
  /** Test only (the caller decides whether it is enabled): dial another address for a host. */
  upstreamOverride?: Map<string, UpstreamAddress>;
  upstreamOverrideCA?: string;
  onEvent?: (ev: GatewayEvent) => void;
  timeouts?: ProxyTimeouts;
  /** Record headers (credential headers masked) and the first N bytes of bodies in request events. */
  traceBodies?: number;
  /** Largest request head accepted; larger gets 431. Default 32 KiB. */
  maxHeaderSize?: number;
  /**
   * Client connections open at once; more are answered 503 and closed, so one run's flood costs the
   * daemon a bounded amount and no other run's gateway. Default 512.
   */
  maxConnections?: number;
  /** The run's SSH-granted hosts and their open tunnels (CONNECT host:22 is a raw TCP tunnel: ssh-tunnel.ts). */
  sshTunnels?: SshTunnels;
}

/** The per-gateway limits a run cannot raise (see ProxyOptions and ProxyTimeouts for each). */
export const GATEWAY_LIMITS = {
  maxConnections: 512,
  maxHeaderSize: 32 * 1024,
  headersMs: 30_000,
  keepAliveMs: 60_000,
  idleMs: 600_000,
  handshakeMs: 10_000,
} as const;

export interface GatewayProxy {
  /** Serve one accepted client connection (unix socket, TCP, or any duplex stream). */
  attach(socket: net.Socket): void;
  /** Serve every connection `server` accepts. */
  handle(server: net.Server): void;
  /** Convenience: listen on a unix socket path or a loopback TCP port (0 = any). */
  listen(target: string | number, host?: string): Promise<net.Server>;
  /** Replace policy and/or injections for new requests (grants refreshed, policy reloaded). */
  update(opts: { policy?: Partial<PolicyData>; injections?: HeaderInjection[]; responses?: LocalResponse[]; scrub?: ScrubPair[] }): void;
  /** Open client connections. */
  readonly connections: number;
  /** Destroy every client connection and upstream pool. */
  close(): Promise<void>;
}

const TLS_HANDSHAKE = 0x16;

export function createProxy(opts: ProxyOptions): GatewayProxy {
  const t = opts.timeouts ?? {};
  const emit = (ev: GatewayEvent): void => {
    try {
      opts.onEvent?.(ev);
    } catch {
      // A faulty subscriber must not take the proxy down.
    }
  };
  type State = { policy: Partial<PolicyData> | undefined; injections: HeaderInjection[]; responses: LocalResponse[] };
  const secrets = compileSubstitutions(opts.substitutions ?? []);
  const build = (s: State): Pick<ProxyCore, 'policy' | 'injector' | 'responder' | 'secrets'> => {
    const injector = compileInjections(s.injections);
    const responder = compileLocalResponses(s.responses);
    const p = s.policy ?? {};
    return {
      injector,
      responder,
      secrets,
      policy: compilePolicy({
        ...p,
        allowHosts: [...(p.allowHosts ?? []), ...injector.hosts, ...secrets.hosts, ...(opts.aws?.hosts ?? [])],
        answeredHosts: responder.hosts,
      }),
    };
  };
  let current: State = { policy: opts.policy, injections: opts.injections ?? [], responses: opts.responses ?? [] };
  const core: ProxyCore = {
    ...build(current),
    scrub: compileScrub(opts.scrub ?? []),
    upstream: new Upstream({
      extraCAs: opts.extraCAs,
      upstreamProxy: opts.upstreamProxy,
      upstreamOverride: opts.upstreamOverride,
      upstreamOverrideCA: opts.upstreamOverrideCA,
      headersTimeoutMs: t.upstreamHeadersMs,
      bodyTimeoutMs: t.upstreamBodyMs,
      connectTimeoutMs: t.upstreamConnectMs,
      // Read at dial time: a policy update applies to the next connection.
      allowInternal: (host) => core.policy.namesHost(host),
    }),
    emit,
    ...(opts.traceBodies ? { traceBodies: opts.traceBodies } : {}),
    ...(opts.aws ? { aws: opts.aws } : {}),
  };
  const leafs = new LeafCache(opts.ca);
  const tunnels = new WeakMap<object, TunnelInfo>();
  const sockets = new Set<net.Socket>();

  const headersMs = t.headersMs ?? GATEWAY_LIMITS.headersMs;
  const maxConnections = opts.maxConnections ?? GATEWAY_LIMITS.maxConnections;
  const serverOpts: http.ServerOptions = {
    maxHeaderSize: opts.maxHeaderSize ?? GATEWAY_LIMITS.maxHeaderSize,
    headersTimeout: headersMs,
    requestTimeout: 0,
    keepAliveTimeout: t.keepAliveMs ?? GATEWAY_LIMITS.keepAliveMs,
    connectionsCheckingInterval: Math.min(1000, headersMs),
    noDelay: true,
    requireHostHeader: true,
  };
  const outer = http.createServer(serverOpts);
  const inner = http.createServer(serverOpts);
  for (const server of [outer, inner]) {
    server.timeout = t.idleMs ?? GATEWAY_LIMITS.idleMs;
    // A client that sends its request and then half-closes (FIN, TLS close_notify) still gets its answer.
    (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // After an upgrade the origin refused, the connection is an HTTP connection of this server again.
    const reattach: Reattach = (socket, pending) => {
      if (socket.destroyed) return;
      if (pending.length > 0) socket.unshift(pending);
      server.emit('connection', socket);
      socket.resume();
    };
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => handleRequest(core, req, res, tunnels.get(req.socket)));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      handleUpgrade(core, req, socket, head, tunnels.get(req.socket), reattach),
    );
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => onClientError(err, socket));
  }
  // These servers never listen (connections arrive through attach()); 'listening' is what starts
  // Node's per-connection header/request timeout tracking, so signal it ourselves.
  outer.emit('listening');
  inner.emit('listening');
  outer.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => onConnect(req, socket, head));
  inner.on('connect', (_req: http.IncomingMessage, socket: Duplex) =>
    writeRawError(socket, 400, 'Bad Request', 'Moat does not accept CONNECT inside a tunnel.'),
  );

  function onClientError(err: Error & { code?: string }, socket: Duplex): void {
    const code = err.code ?? 'ERR';
    if (code !== 'ECONNRESET' && code !== 'EPIPE') emit({ type: 'client-error', ts: new Date().toISOString(), code, message: err.message.slice(0, 200) });
    const inFlight = (socket as { _httpMessage?: unknown })._httpMessage;
    if (code === 'ECONNRESET' || inFlight || !socket.writable) {
      socket.destroy();
      return;
    }
    if (code === 'HPE_HEADER_OVERFLOW') writeRawError(socket, 431, 'Request Header Fields Too Large', 'Request headers are too large.');
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') writeRawError(socket, 408, 'Request Timeout', 'Request head not received in time.');
    else writeRawError(socket, 400, 'Bad Request', 'Malformed request.');
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  function onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const started = Date.now();
    const auth = parseAuthority(req.url);
    if (!auth) {
      emit({ type: 'client-error', ts: new Date().toISOString(), code: 'BAD_CONNECT', message: 'malformed CONNECT authority' });
      writeRawError(socket, 400, 'Bad Request', 'CONNECT needs host:port.');
      closeRaw(socket);
      return;
    }
    const { host, port } = auth;
    if (port === SSH_PORT) return handleSshConnect({ socket, head, host, policy: core.policy, tunnels: opts.sshTunnels, upstream: core.upstream, emit });
    const decision = core.policy.checkHost(host, port);
    emit({ type: 'connect', ts: new Date().toISOString(), host, port, allowed: decision.allowed, ...(decision.allowed ? {} : { reason: decision.reason }) });
    if (!decision.allowed) {
      emit({
        type: 'request',
        ts: new Date(started).toISOString(),
        method: 'CONNECT',
        url: hostPort(host, port),
        host,
        status: 403,
        ttfbMs: 0,
        durationMs: Date.now() - started,
        bytesUp: 0,
        bytesDown: 0,
        ...refusalFields(decision, port),
      });
      writeRawBlocked(socket, `CONNECT ${hostPort(host, port)}`, decision);
      closeRaw(socket);
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    // A tunnel that never says anything is closed like a connection that never sends a request head.
    const silent = setTimeout(() => socket.destroy(), headersMs);
    socket.once('close', () => clearTimeout(silent));
    const route = (first: Buffer): void => {
      clearTimeout(silent);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) intercept(socket, host, port);
      else {
        tunnels.set(socket, { host, port, tls: false });
        inner.emit('connection', socket);
        // Paused above to put the first bytes back; the inner server reads them only once it flows again.
        socket.resume();
      }
    };
    if (head.length > 0) route(head);
    else {
      socket.once('data', route);
      socket.resume();
    }
  }

  function intercept(socket: net.Socket, host: string, port: number): void {
    const tlsError = (err: unknown): void => {
      emit({ type: 'tls-error', ts: new Date().toISOString(), host, message: errorCode(err) });
      socket.destroy();
    };
    leafs.get(host).then((ctx) => {
      if (socket.destroyed) return;
      const tlsSock = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: ctx,
        ALPNProtocols: ['http/1.1'],
        // Whatever name the client asks for, it gets the CONNECT host's certificate; a different SNI is
        // refused per request (421), never minted a certificate of its own.
        SNICallback: (_name, cb) => cb(null, ctx),
      });
      const timer = setTimeout(() => tlsSock.destroy(), t.handshakeMs ?? GATEWAY_LIMITS.handshakeMs);
      tlsSock.on('error', (err) => {
        clearTimeout(timer);
        tlsError(err);
        tlsSock.destroy();
      });
      tlsSock.once('close', () => clearTimeout(timer));
      tlsSock.once('secure', () => {
        clearTimeout(timer);
        const sni = (tlsSock as tls.TLSSocket & { servername?: string | false }).servername;
        tunnels.set(tlsSock, typeof sni === 'string' && sni !== '' ? { host, port, tls: true, sni } : { host, port, tls: true });
        inner.emit('connection', tlsSock);
      });
    }, tlsError);
  }

  let overLimit = false;
  function attach(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (sockets.size >= maxConnections) return refuseOverLimit(socket);
    overLimit = false;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Half-closing clients (nc, socat, scripts) send their request, then FIN; the answer still goes out.
    // A TLS socket made over it inherits this, so close_notify does not end it either.
    socket.allowHalfOpen = true;
    outer.emit('connection', socket);
  }

  function refuseOverLimit(socket: net.Socket): void {
    if (!overLimit) {
      overLimit = true;
      emit({
        type: 'client-error',
        ts: new Date().toISOString(),
        code: 'CONNECTION_LIMIT',
        message: `${maxConnections} client connections open; refusing more`,
      });
    }
    writeRawError(
      socket,
      503,
      'Service Unavailable',
      `Moat: this run already has ${maxConnections} connections open to its gateway (the limit); close some and retry.`,
    );
    // Closed as soon as the answer is out: under a flood, refused sockets must not pile up either.
    socket.once('finish', () => socket.destroy());
    socket.resume();
  }

  return {
    attach,
    handle(server) {
      server.on('connection', attach);
    },
    listen(target, host = '127.0.0.1') {
      const server = net.createServer({ noDelay: true, allowHalfOpen: true }, attach);
      // Past the limit plus room for the 503s, connections are dropped on accept without reaching JS.
      server.maxConnections = maxConnections + 64;
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        const done = (): void => {
          server.removeListener('error', reject);
          server.on('error', (err) => emit({ type: 'client-error', ts: new Date().toISOString(), code: errorCode(err), message: 'listener error' }));
          resolve(server);
        };
        if (typeof target === 'number') server.listen(target, host, done);
        else server.listen(target, done);
      });
    },
    update(next) {
      current = {
        policy: next.policy ?? current.policy,
        injections: next.injections ?? current.injections,
        responses: next.responses ?? current.responses,
      };
      Object.assign(core, build(current));
      if (next.scrub) core.scrub = compileScrub(next.scrub);
    },
    get connections() {
      return sockets.size;
    },
    async close() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      outer.closeAllConnections();
      inner.closeAllConnections();
      outer.close();
      inner.close();
      await core.upstream.close().catch(() => undefined);
      core.upstream.destroy();
    },
  };
}
