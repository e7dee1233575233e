/**
 * The network of an image build. Every build step runs in the network namespace of one relay container
 * (the classic builder's `networkmode=container:ID`): that namespace has only a loopback interface, on
 * which the relay exposes the build's gateway (a unix socket mounted from the host) as an HTTP proxy.
 * The steps thus see no host, no Docker bridge and no DNS; only the gateway, which applies the build
 * policy and records every request.
 *
 * The relay runs from the recipe's base image, whose Debian/Ubuntu `perl-base` is always present (socat
 * is not there yet: moat's layer installs it, through this very relay). It runs as the host user (so it
 * may open the 0600 socket), with no capabilities, a read-only root file system and no network.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRuntime } from '../runtime/types.js';
import { LABEL_HOME, LABEL_MANAGED, LABEL_OWNER_PID } from '../runtime/types.js';
import { CONTAINER_NET_DIR, PROXY_PORT } from '../gateway/transport.js';
import { MoatError } from '../errors.js';

/** Label of relay containers, so `moat clean` and a later build find one a killed CLI left behind. */
const LABEL_BUILD_RELAY = 'moat.build-relay';
const READY = 'moat-build-relay ready';

/**
 * One process per connection, copying both ways until each side has closed (a half-close is passed on,
 * so `printf … | nc`-style clients get their whole answer). Idle for 10 minutes ends a connection.
 */
const RELAY = String.raw`
use strict; use warnings;
use IO::Socket::INET; use IO::Socket::UNIX; use IO::Select; use Socket qw(SOCK_STREAM SHUT_WR);
$SIG{CHLD} = 'IGNORE'; $| = 1;
my ($port, $path) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
  or die "moat-build-relay: listen: $!\n";
print "${READY}\n";
while (1) {
  my $c = $l->accept or next;
  my $pid = fork;
  if (!defined $pid || $pid) { close $c; next; }
  close $l;
  my $u = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) or exit 1;
  my %to = ($c => $u, $u => $c);
  my $s = IO::Select->new($c, $u);
  while ($s->count > 0) {
    my @r = $s->can_read(600) or last;
    for my $h (@r) {
      my $n = sysread($h, my $buf, 65536);
      if (!$n) { shutdown($to{$h}, SHUT_WR); $s->remove($h); next; }
      my $off = 0;
      while ($off < $n) { my $w = syswrite($to{$h}, $buf, $n - $off, $off); exit 0 unless $w; $off += $w; }
    }
  }
  exit 0;
}
`;

export interface BuildRelay {
  /** The `networkmode` of the build: `container:ID`. */
  networkMode: string;
  /** The proxy address build steps use. */
  proxyUrl: string;
  stop(): Promise<void>;
}

export interface RelayOptions {
  runtime: ContainerRuntime;
  /** The recipe's base image (present locally). */
  image: string;
  /** Host directory holding the gateway's socket `proxy.sock`. */
  socketDir: string;
  homeRoot: string;
  /** Test hook: how long to wait for the relay to listen (default 15 s). */
  readyTimeoutMs?: number;
}

/** Start the relay container and wait until it listens. */
export async function startBuildRelay(opts: RelayOptions): Promise<BuildRelay> {
  const { runtime } = opts;
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  const id = await runtime.create({
    name: `moat-build-relay-${randomBytes(5).toString('hex')}`,
    image: opts.image,
    entrypoint: ['perl', '-e', RELAY, '--', String(PROXY_PORT), `${CONTAINER_NET_DIR}/proxy.sock`],
    cmd: [],
    env: {},
    workingDir: '/',
    labels: { [LABEL_MANAGED]: 'true', [LABEL_HOME]: opts.homeRoot, [LABEL_BUILD_RELAY]: 'true', [LABEL_OWNER_PID]: String(process.pid) },
    mounts: [{ source: opts.socketDir, target: CONTAINER_NET_DIR, readOnly: true }],
    tty: false,
    openStdin: false,
    network: 'none',
    pidsLimit: 512,
    memoryBytes: 256 * 1024 * 1024,
    capAdd: [],
    user: `${uid}:${gid}`,
    readOnlyRootfs: true,
  });
  const stop = async (): Promise<void> => {
    await runtime.remove(id, true).catch(() => undefined);
  };
  try {
    await runtime.start(id);
    await waitReady(runtime, id, opts.image, opts.readyTimeoutMs ?? 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { networkMode: `container:${id}`, proxyUrl: `http://127.0.0.1:${PROXY_PORT}`, stop };
}

async function waitReady(runtime: ContainerRuntime, id: string, image: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let output = '';
  while (Date.now() < until) {
    output = '';
    await runtime.logs(id, { follow: false, tty: false }, (l) => {
      output += `${l.line}\n`;
    });
    if (output.includes(READY)) return;
    const info = await runtime.inspect(id);
    if (info && info.status !== 'running' && info.status !== 'created') break;
    await sleep(50);
  }
  const detail = output.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
  throw new MoatError(`The build's network relay did not start in the base image ${image}${detail ? ` (${detail})` : ''}.`, {
    code: 'E_BUILD',
    hint: 'The base image must be Debian- or Ubuntu-based (it needs perl-base); set base_image in moat.yaml to one such as debian:bookworm-slim.',
  });
}
