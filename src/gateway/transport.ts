import { chmod, lstat, mkdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import type { Server } from 'node:net';
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
  /** Host directory holding the socket; mounted (read-only) at /moat/net. */
  hostDir: string;
  socketPath: string;
  /** A directory beside it that is never mounted, where the socket is bound before it is moved in. */
  bindDir: string;
}

export const CONTAINER_NET_DIR = '/moat/net';
export const CONTAINER_CA_FILE = '/moat/ca/ca.pem';
export const PROXY_PORT = 43128;
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export function unixTransport(runDir: string): GatewayTransport {
  const hostDir = join(runDir, 'net');
  // `.gw` is as long as `net`: a socket path has a small length limit.
  return { kind: 'unix-socket', hostDir, socketPath: join(hostDir, 'proxy.sock'), bindDir: join(runDir, '.gw') };
}

/**
 * Put the gateway's socket in place without acting on any path the container can change (a container may
 * run as the daemon's own user, and an older run's /moat/net was mounted writable): the socket is bound and
 * made 0600 in `bindDir`, which no container sees, then renamed into `hostDir`, which replaces whatever
 * the container left under that name (a symlink included) without following it.
 */
export async function listenInPlace(t: GatewayTransport, listen: (path: string) => Promise<Server>): Promise<Server> {
  await mkdir(t.hostDir, { recursive: true, mode: 0o700 });
  if (!(await lstat(t.hostDir)).isDirectory()) throw new Error(`${t.hostDir} is not a directory.`);
  await rm(t.bindDir, { recursive: true, force: true });
  await mkdir(t.bindDir, { mode: 0o700 });
  const bound = join(t.bindDir, 'proxy.sock');
  try {
    const server = await listen(bound);
    try {
      await chmod(bound, 0o600);
      await rename(bound, t.socketPath);
    } catch (err) {
      server.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new Error(
          `The gateway socket cannot be created: ${t.socketPath} is a folder, made by the run's container. Stop the run (moat stop) and start it again.`,
        );
      }
      throw err;
    }
    return server;
  } finally {
    await rmdir(t.bindDir).catch(() => undefined);
  }
}

/**
 * Remove the socket and, when nothing else is left, its directory. Never recursive: the container may
 * still be running and swap a folder there for a symlink to a host folder while it is being emptied.
 * Whatever a container left stays until the run is destroyed (after its container is removed).
 */
export async function removeSocket(t: GatewayTransport): Promise<void> {
  await unlink(t.socketPath).catch(() => undefined);
  await rmdir(t.hostDir).catch(() => undefined);
}

/** Proxy variables every client honours; users' own are dropped (see proxyEnvConflicts). */
export const PROXY_ENV_NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'];

/** The environment a container needs to use its gateway and trust the moat CA. */
export function gatewayEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${PROXY_PORT}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
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
