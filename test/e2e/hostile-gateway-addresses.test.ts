/**
 * A run's container asks its gateway (which runs on the host) for the host's own services by the
 * addresses a service bound to 0.0.0.0 answers on: the host's non-loopback interface addresses (the
 * docker0 bridge included), the same addresses in the IPv6 forms that carry an IPv4 (mapped, translated,
 * NAT64, 6to4), and this machine's own name. Every request is refused with the explanatory line, and the
 * test's server, reachable on those addresses from the host itself, sees no connection at all.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, tempDir } from './helpers.js';
import { makeWorkspace, warmImage } from './fixtures/gateway-kit.js';

let home: string;
let root: string;
let server: net.Server;
let port = 0;
let connections = 0;

/** This machine's non-loopback IPv4 addresses (eth0, docker0, …): the test's own server listens on each. */
const ownIPv4 = (): string[] =>
  Object.values(os.networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);

const hex = (ip: string): string => {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
};

beforeAll(async () => {
  home = await tempDir('addr-home');
  root = await tempDir('addr-ws');
  server = await new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer((sock) => {
      connections++;
      sock.on('error', () => undefined);
      sock.end('HTTP/1.1 200 OK\r\ncontent-length: 13\r\nconnection: close\r\n\r\nhost service\n');
    });
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => resolve(s));
  });
  port = (server.address() as net.AddressInfo).port;
  await warmImage(home, await makeWorkspace(root, 'warm'), {});
});

afterAll(async () => {
  server?.close();
  await cleanupHome(home, root, [root]);
});

/** From the host itself the server answers on `host`: a plain TCP connect that reads its answer. */
function reachDirectly(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.once('end', () => resolve(text));
    s.once('error', reject);
  });
}

describe("hostile container: the host's own addresses through the gateway", () => {
  it("the host's interface addresses, their IPv6 forms and its own name are refused, and the server sees no connection", async () => {
    const own = ownIPv4();
    expect(own.length).toBeGreaterThan(0);
    for (const a of own) expect(await reachDirectly(a), a).toContain('host service');
    const name = os.hostname();
    const resolved = await lookup(name);
    expect(net.isIP(resolved.address)).not.toBe(0);
    connections = 0;

    const targets = [
      ...own.map((a) => `http://${a}:${port}/`),
      ...own.map((a) => `http://[::ffff:${a}]:${port}/`),
      ...own.map((a) => `http://[::ffff:${hex(a)}]:${port}/`),
      ...own.map((a) => `http://[::ffff:0:${a}]:${port}/`),
      ...own.map((a) => `http://[64:ff9b::${a}]:${port}/`),
      ...own.map((a) => `http://[2002:${hex(a)}::1]:${port}/`),
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://${name}:${port}/`,
    ];
    const curl = `curl -sS -m 10 -x "http://127.0.0.1:$MOAT_PROXY_PORT" --noproxy ''`;
    const script = [
      ...targets.map((u, i) => `${curl} -o /dev/null -w "t${i}=%{http_code}\\n" '${u}'`),
      // TLS through CONNECT: refused before any tunnel opens.
      ...own.map((a, i) => `${curl} -o /dev/null -w "c${i}=%{http_connect}\\n" 'https://${a}:${port}/'`),
      `${curl} 'http://${own[0]}:${port}/'`,
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd: await makeWorkspace(root, 'own') });
    for (let i = 0; i < targets.length; i++) expect(r.stdout, targets[i]).toContain(`t${i}=403`);
    for (let i = 0; i < own.length; i++) expect(r.stdout, own[i]).toContain(`c${i}=403`);
    expect(r.stdout).toContain(
      `Moat blocked GET http://${own[0]}:${port}/: ${own[0]} is this machine or its private network, which a run reaches only when you name it.`,
    );
    expect(r.stdout).toContain(`--allow-host ${own[0]}:${port}`);
    expect(connections).toBe(0);
  });
});
