import { SystemLikeError } from '../errors.js';
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { Agent, buildConnector, type Dispatcher, Pool, ProxyAgent } from 'undici';
import { INTERNAL_ADDRESS_CODE, internalAddressError, type InternalAddressError, isInternalAddress } from './addresses.js';
import { hostPort } from './hosts.js';

export interface UpstreamAddress {
  host: string;
  port: number;
}

export interface UpstreamOptions {
  /** PEM certificates trusted in addition to the system store (tls.rootCertificates). */
  extraCAs?: string[];
  /** Corporate proxy to chain through (http://host:port), via CONNECT. */
  upstreamProxy?: string;
  /** Test only: dial these addresses instead of the named hosts ("host" or "host:port" keys). */
  upstreamOverride?: Map<string, UpstreamAddress>;
  /** Test only: the CA trusted for overridden hosts. */
  upstreamOverrideCA?: string;
  connectTimeoutMs?: number;
  /** Upstream response headers must arrive within this (default 5 min: LLM calls think a while). */
  headersTimeoutMs?: number;
  /** Max gap between body chunks (default 5 min). */
  bodyTimeoutMs?: number;
  /** Idle keep-alive sockets to an origin are closed after this (default 30 s). */
  keepAliveTimeoutMs?: number;
  connectionsPerOrigin?: number;
  /**
   * Whether a host may resolve to an internal address (this machine, its private networks): true only
   * for hosts the user named. Without it, every internal address is refused when dialling.
   */
  allowInternal?: (host: string) => boolean;
  /** Test only: name resolution (default dns.lookup). */
  resolve?: Resolve;
}

/** dns.lookup with `all: true`, the shape the guard needs. */
export type Resolve = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * Where requests go: an undici Agent (keep-alive pools per origin, TLS verified against the system store
 * plus extra CAs) or a ProxyAgent chaining to a corporate proxy. The upstream address is resolved per
 * request, when the connection is dialled — never at CONNECT time.
 */
export class Upstream {
  readonly ca: string[];
  private readonly overrideCA: string[];
  private readonly agent: Agent;
  private readonly proxyAgent: ProxyAgent | undefined;
  /**
   * Name resolution for every upstream connection this process dials itself: a name that resolves to an
   * internal address is refused unless the user named the host. It is the resolution the connection
   * uses, so a name cannot pass the check and then resolve elsewhere.
   */
  private readonly lookup: Lookup;

  constructor(private readonly opts: UpstreamOptions = {}) {
    this.lookup = guardedLookup((host) => this.allowsInternal(host), opts.resolve);
    this.ca = [...tls.rootCertificates, ...(opts.extraCAs ?? [])];
    this.overrideCA = opts.upstreamOverrideCA ? [opts.upstreamOverrideCA, ...this.ca] : this.ca;
    const common = { timeout: opts.connectTimeoutMs ?? 10_000, keepAlive: true, keepAliveInitialDelay: 30_000, lookup: this.lookup };
    // Connectors are made on the first upstream connection, over the shared trust contexts: a run's
    // gateway starts without parsing ~140 roots, and no connection re-parses them.
    let normal: buildConnector.connector | undefined;
    let overridden: buildConnector.connector | undefined;
    const connect: buildConnector.connector = (o, cb) => {
      const target = this.override(o.hostname, Number(o.port) || (o.protocol === 'https:' ? 443 : 80));
      const refused = target ? undefined : this.refuseLiteral(o.hostname);
      if (refused) {
        cb(refused, null);
        return;
      }
      if (!target) {
        normal ??= buildConnector({ ...common, secureContext: trustContext(this.ca) } as buildConnector.BuildOptions);
        return normal(o, cb);
      }
      overridden ??= buildConnector({ ...common, secureContext: trustContext(this.overrideCA) } as buildConnector.BuildOptions);
      return overridden(
        { ...o, hostname: target.host, port: String(target.port), ...(net.isIP(o.hostname) ? {} : { servername: o.servername ?? o.hostname }) },
        cb,
      );
    };
    const pool = {
      connections: opts.connectionsPerOrigin ?? 64,
      headersTimeout: opts.headersTimeoutMs ?? 300_000,
      bodyTimeout: opts.bodyTimeoutMs ?? 300_000,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
      keepAliveMaxTimeout: 600_000,
    };
    this.agent = new Agent({ ...pool, connect });
    // Through a corporate proxy the proxy resolves the name, so the gateway resolves it too, before each
    // tunnel is asked for, and refuses one that leads here: a proxy on this machine (cntlm, px) would
    // otherwise dial the host's own services for the run.
    const guardTunnel =
      (inner: buildConnector.connector): buildConnector.connector =>
      (o, cb) => {
        void this.checkName(o.hostname).then(
          () => inner(o, cb),
          (err: Error) => cb(err, null),
        );
      };
    this.proxyAgent = opts.upstreamProxy
      ? new ProxyAgent({
          ...pool,
          uri: opts.upstreamProxy,
          requestTls: { secureContext: trustContext(this.ca) },
          factory: (origin, options) => new Pool(origin, { ...options, connect: guardTunnel((options as Pool.Options).connect as buildConnector.connector) }),
        })
      : undefined;
  }

  private allowsInternal(host: string): boolean {
    return this.opts.allowInternal?.(host) ?? false;
  }

  /** An internal address literal is dialled without a lookup, so it is checked here (the policy saw it too). */
  private refuseLiteral(host: string): Error | undefined {
    return isInternalAddress(host) && !this.allowsInternal(host) ? internalAddressError(host, host) : undefined;
  }

  /**
   * Before a host is handed to the corporate proxy: a literal or a name that resolves here to an internal
   * address is refused. A name this machine cannot resolve is left to the proxy (corporate networks often
   * resolve outside names only there).
   */
  private checkName(host: string): Promise<void> {
    const literal = host.replace(/^\[|\]$/g, '');
    if (net.isIP(literal)) {
      const refused = this.refuseLiteral(literal);
      return refused ? Promise.reject(refused) : Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.lookup(literal, { all: true }, (err) => {
        if ((err as Partial<InternalAddressError> | null)?.code === INTERNAL_ADDRESS_CODE) reject(err);
        else resolve();
      });
    });
  }

  override(host: string, port: number): UpstreamAddress | undefined {
    const map = this.opts.upstreamOverride;
    if (!map || map.size === 0) return undefined;
    const h = host.replace(/^\[|\]$/g, '').toLowerCase();
    return map.get(`${h}:${port}`) ?? map.get(h);
  }

  dispatcher(host: string, port: number): Dispatcher {
    return this.proxyAgent && !this.override(host, port) ? this.proxyAgent : this.agent;
  }

  get headersTimeoutMs(): number {
    return this.opts.headersTimeoutMs ?? 300_000;
  }

  /**
   * A raw connection for tunnelled upgrades (WebSocket): TLS when `secure`, verified like the agent's,
   * through the corporate proxy when configured. Resolves once connected (and handshaken).
   */
  async dial(host: string, port: number, secure: boolean): Promise<net.Socket> {
    const target = this.override(host, port);
    const refused = target ? undefined : this.refuseLiteral(host);
    if (refused) throw refused;
    const servername = net.isIP(host) ? undefined : host;
    let raw: net.Socket;
    if (!target && this.opts.upstreamProxy) {
      await this.checkName(host);
      raw = await connectViaProxy(this.opts.upstreamProxy, host, port, this.opts.connectTimeoutMs ?? 10_000);
    } else raw = await connectTcp(target?.host ?? host, target?.port ?? port, this.opts.connectTimeoutMs ?? 10_000, this.lookup);
    if (!secure) return raw;
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ socket: raw, servername, secureContext: trustContext(target ? this.overrideCA : this.ca), ALPNProtocols: ['http/1.1'] });
      sock.once('secureConnect', () => {
        sock.removeListener('error', reject);
        resolve(sock);
      });
      sock.once('error', reject);
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.agent.close(), this.proxyAgent?.close()]);
  }

  destroy(): void {
    void this.agent.destroy().catch(() => undefined);
    void this.proxyAgent?.destroy().catch(() => undefined);
  }
}

/**
 * One TLS context per trust set (the system roots plus extra CAs), shared by every gateway of the process:
 * parsing the ~140 roots costs tens of milliseconds, so it is done once, not per run or per connection.
 */
const trustContexts = new Map<string, tls.SecureContext>();
const MAX_TRUST_CONTEXTS = 8;

export function trustContext(ca: readonly string[]): tls.SecureContext {
  const key = createHash('sha256').update(ca.join('\n')).digest('base64');
  let ctx = trustContexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: [...ca] });
    if (trustContexts.size >= MAX_TRUST_CONTEXTS) trustContexts.delete(trustContexts.keys().next().value as string);
    trustContexts.set(key, ctx);
  }
  return ctx;
}

type Lookup = NonNullable<net.TcpSocketConnectOpts['lookup']>;

/** dns.lookup that fails with MOAT_INTERNAL_ADDRESS when any address of the name is internal and not allowed. */
export function guardedLookup(allow: (host: string) => boolean, resolve: Resolve = dns.lookup): Lookup {
  const lookup = (
    hostname: string,
    options: dns.LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
  ): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.find((a) => isInternalAddress(a.address));
      if (bad && !allow(hostname)) return callback(internalAddressError(hostname, bad.address), '', 0);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new SystemLikeError(`${hostname} has no address`, 'ENOTFOUND'), '', 0);
      callback(null, first.address, first.family);
    });
  };
  return lookup as unknown as Lookup;
}

function connectTcp(host: string, port: number, timeoutMs: number, lookup: Lookup): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, lookup });
    const timer = setTimeout(() => sock.destroy(new SystemLikeError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')), timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeListener('error', reject);
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function connectViaProxy(proxyUrl: string, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const proxy = new URL(proxyUrl);
  const authority = hostPort(host, port);
  const headers: Record<string, string> = { host: authority };
  if (proxy.username)
    headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: Number(proxy.port) || 80, method: 'CONNECT', path: authority, headers, timeout: timeoutMs });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new SystemLikeError(`upstream proxy refused CONNECT ${authority}: ${res.statusCode}`, 'UPSTREAM_PROXY_REFUSED'));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('timeout', () => req.destroy(new SystemLikeError('upstream proxy timeout', 'UND_ERR_CONNECT_TIMEOUT')));
    req.once('error', reject);
    req.end();
  });
}
