/**
 * The gateway of one image build: moat's ordinary gateway (TLS interception, internal addresses refused,
 * per-gateway limits) with a strict policy that allows only the hosts the build's recipe needs, served on
 * a unix socket for the build relay (build-relay.ts), in the CLI's process for the build's duration.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { createProxy, loadOrCreateCA, type GatewayEvent, type ProxyOptions } from '../gateway/index.js';
import { listenInPlace, unixTransport } from '../gateway/transport.js';
import { parseHostPattern } from '../gateway/hosts.js';
import type { NetworkPolicy } from '../network-policy.js';

export interface BuildGatewayOptions {
  /** moat's CA directory (the same CA as runs: its certificate is trusted by the build steps only). */
  caDir: string;
  /** Where the socket's private directory is made (moat's builds directory). */
  parentDir: string;
  allowHosts: string[];
  upstream: Pick<ProxyOptions, 'extraCAs' | 'upstreamProxy' | 'upstreamOverride' | 'upstreamOverrideCA'>;
  onEvent: (ev: GatewayEvent) => void;
}

export interface BuildGateway {
  /** Host directory holding `proxy.sock`, for the relay to mount. */
  socketDir: string;
  /** The CA certificate the build steps trust for the gateway's intercepted TLS. */
  caPem: string;
  close(): Promise<void>;
}

/**
 * A build fetches over HTTP and HTTPS only: a host named without a port is allowed on 80 and 443, not on
 * every port (`CONNECT deb.debian.org:22` is refused); a pattern that names its port keeps it.
 */
export function buildAllowHosts(patterns: readonly string[]): string[] {
  return patterns.flatMap((p) => (parseHostPattern(p).port !== undefined ? [p] : [`${p}:80`, `${p}:443`]));
}

/** What a build step may send to a registry or download host: it fetches, it never posts. */
export const BUILD_METHOD_RULES = ['allow GET /**', 'allow HEAD /**'];

/**
 * The build's policy: strict; each host named without a port is reachable on 80 and 443 with GET and HEAD
 * only (a step holds no secret, but a POST to an allowed host would still carry the workspace out); a
 * pattern in `build.allow_hosts` that names its port is the user's explicit choice and keeps every method.
 */
export function buildPolicy(patterns: readonly string[]): NetworkPolicy {
  const named = patterns.filter((p) => parseHostPattern(p).port !== undefined);
  const fetchOnly = patterns.filter((p) => parseHostPattern(p).port === undefined);
  return {
    policy: 'strict',
    rules: buildAllowHosts(fetchOnly).map((h) => ({ [h]: [...BUILD_METHOD_RULES] })),
    deny: [],
    allowHosts: named,
  };
}

export async function startBuildGateway(opts: BuildGatewayOptions): Promise<BuildGateway> {
  const ca = await loadOrCreateCA(opts.caDir);
  const proxy = createProxy({
    ca,
    policy: buildPolicy(opts.allowHosts),
    ...opts.upstream,
    onEvent: opts.onEvent,
  });
  const dir = await mkdtemp(join(opts.parentDir, 'gw-'));
  const t = unixTransport(dir);
  let server: Server;
  try {
    server = await listenInPlace(t, (path) => proxy.listen(path));
  } catch (err) {
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    socketDir: t.hostDir,
    caPem: ca.certPem,
    close: async () => {
      // Stop accepting, then end the connections the steps still hold: the server's close waits for them.
      const closed = new Promise<void>((r) => server.close(() => r()));
      await proxy.close();
      await closed;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
