import { join } from 'node:path';

/**
 * How a container reaches its gateway. Linux Docker Engine: `--network none` plus a per-run directory
 * bind-mounted at /moat/net holding the gateway's unix socket, and a relay inside the container
 * (started by moat-init) exposing it as an ordinary HTTP proxy on 127.0.0.1:PROXY_PORT. The directory
 * (not the socket file) is mounted so a socket re-created after a daemon restart is seen by the
 * running container. A TCP transport with a per-run token can implement the same shape later for
 * engines that cannot pass unix sockets into their VM (Docker Desktop, Apple containers).
 */
export interface GatewayTransport {
  kind: 'unix-socket';
  /** Host directory holding the socket; mounted at /moat/net. */
  hostDir: string;
  socketPath: string;
}

export const CONTAINER_NET_DIR = '/moat/net';
export const CONTAINER_CA_FILE = '/moat/ca/ca.pem';
export const PROXY_PORT = 43128;
export const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export function unixTransport(runDir: string): GatewayTransport {
  const hostDir = join(runDir, 'net');
  return { kind: 'unix-socket', hostDir, socketPath: join(hostDir, 'proxy.sock') };
}

/** Proxy variables every client honours; users' own are dropped (see proxyEnvConflicts). */
export const PROXY_ENV_NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'];

/** The environment a container needs to use its gateway and trust the moat CA. */
export function gatewayEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${PROXY_PORT}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url,
    NO_PROXY: noProxy, no_proxy: noProxy,
    MOAT_PROXY_PORT: String(PROXY_PORT),
    // The system bundle gets the moat CA appended by moat-init; tools that take a bundle path use it.
    SSL_CERT_FILE: SYSTEM_BUNDLE,
    CURL_CA_BUNDLE: SYSTEM_BUNDLE,
    REQUESTS_CA_BUNDLE: SYSTEM_BUNDLE,
    PIP_CERT: SYSTEM_BUNDLE,
    GIT_SSL_CAINFO: SYSTEM_BUNDLE,
    AWS_CA_BUNDLE: SYSTEM_BUNDLE,
    CARGO_HTTP_CAINFO: SYSTEM_BUNDLE,
    DENO_CERT: SYSTEM_BUNDLE,
    // Node adds this one to its own store; Codex (Rust) reads CODEX_CA_CERTIFICATE or SSL_CERT_FILE.
    NODE_EXTRA_CA_CERTS: CONTAINER_CA_FILE,
    CODEX_CA_CERTIFICATE: CONTAINER_CA_FILE,
    // Java reads its own trust store: moat-init imports the CA into it when a JDK is present.
  };
}
