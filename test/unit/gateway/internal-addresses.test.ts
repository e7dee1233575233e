/**
 * The gateway runs on the host, so it must not become the container's way into the host's own services
 * (loopback and every address of its interfaces), its private networks or the cloud metadata service, in
 * any spelling: numeric IPv4 forms, IPv6 forms that carry an IPv4 (mapped, translated, NAT64, 6to4,
 * Teredo). Literal addresses and `localhost` are refused by policy; names that resolve there (including
 * `2130706433`) are refused when the gateway dials them, or before it hands them to a corporate proxy.
 * Naming the host in network.rules / --allow-host opens it.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressGuard, embeddedIPv4, ipv6Words, isInternalAddress, isInternalHost } from '../../../src/gateway/addresses.js';
import { compilePolicy } from '../../../src/gateway/policy.js';
import { guardedLookup, type Resolve, Upstream } from '../../../src/gateway/upstream.js';
import { connectTunnel, fetchVia, httpRequest, rawExchange, startHarness, type Harness } from './helpers.js';

/** [address, why it is internal]: every range the gateway refuses, at its edges, in the spellings clients dial. */
const INTERNAL: [string, string][] = [
  ['0.0.0.0', 'this network'],
  ['0.1.2.3', 'this network'],
  ['10.0.0.1', 'RFC 1918'],
  ['10.255.255.255', 'RFC 1918'],
  ['100.64.0.1', 'CGNAT'],
  ['100.127.255.254', 'CGNAT'],
  ['127.0.0.1', 'loopback'],
  ['127.8.9.10', 'loopback'],
  ['169.254.169.254', 'link-local, cloud metadata'],
  ['172.16.0.1', 'RFC 1918'],
  ['172.31.255.254', 'RFC 1918'],
  ['192.0.0.1', 'IETF protocol assignments'],
  ['192.0.2.1', 'documentation'],
  ['192.168.1.1', 'RFC 1918'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['[::1]', 'bracketed'],
  ['0:0:0:0:0:0:0:1', 'loopback, long form'],
  ['fc00::1', 'unique-local'],
  ['fd12:3456::1', 'unique-local'],
  ['fe80::1', 'link-local'],
  ['febf::1', 'link-local'],
  ['fe80::1%eth0', 'zone id'],
  ['[fe80::1%25eth0]', 'bracketed zone id'],
  ['fec0::1', 'site-local'],
  ['feff::1', 'site-local'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'documentation'],
  ['100::1', 'discard-only'],
  ['64:ff9b:1::1', 'NAT64 local-use'],
  ['::ffff:127.0.0.1', 'mapped loopback'],
  ['::ffff:7f00:1', 'mapped, hex'],
  ['::FFFF:7F00:1', 'mapped, upper case'],
  ['[::ffff:127.0.0.1]', 'mapped, bracketed'],
  ['0:0:0:0:0:ffff:127.0.0.1', 'mapped, long mixed'],
  ['::ffff:a9fe:a9fe', 'mapped metadata'],
  ['::ffff:10.0.0.1', 'mapped RFC 1918'],
  ['::ffff:0.0.0.0', 'mapped this network'],
  ['::ffff:0:127.0.0.1', 'translated loopback'],
  ['::ffff:0:7f00:1', 'translated, hex'],
  ['::ffff:0:c0a8:101', 'translated RFC 1918'],
  ['::127.0.0.1', 'compatible loopback'],
  ['::a00:1', 'compatible RFC 1918'],
  ['64:ff9b::127.0.0.1', 'NAT64 loopback'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 metadata'],
  ['64:ff9b::10.1.2.3', 'NAT64 RFC 1918'],
  ['2002:7f00:1::1', '6to4 loopback'],
  ['2002:c0a8:101::', '6to4 RFC 1918'],
  ['2002:a9fe:a9fe::1', '6to4 metadata'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo, client 127.0.0.1 (XOR)'],
  ['2001::f5ff:fffe', 'Teredo, client 10.0.0.1 (XOR)'],
  ['2001:0:a00:1::1', 'Teredo, server 10.0.0.1'],
];

const EXTERNAL = [
  '8.8.8.8',
  '1.1.1.1',
  '9.255.255.255',
  '11.0.0.1',
  '100.63.255.255',
  '100.128.0.1',
  '172.15.255.255',
  '172.32.0.1',
  '192.0.1.255',
  '192.169.0.1',
  '198.17.255.255',
  '198.20.0.1',
  '223.255.255.255',
  '2606:4700::1111',
  '::ffff:8.8.8.8',
  '::ffff:0:808:808',
  '64:ff9b::8.8.8.8',
  '2002:808:808::1',
  '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  '2001:db9::1',
  'fbff::1',
  'example.com',
  '',
  '2130706433',
];

describe('internal addresses', () => {
  it.each(INTERNAL)('%s is internal (%s)', (ip) => expect(isInternalAddress(ip)).toBe(true));

  it.each(EXTERNAL)('%j is not', (ip) => expect(isInternalAddress(ip)).toBe(false));

  it('the IPv4 inside an IPv6 address is read from each transition form', () => {
    const of = (ip: string): string[] => embeddedIPv4(ipv6Words(ip));
    expect(of('::ffff:1.2.3.4')).toEqual(['1.2.3.4']);
    expect(of('::ffff:0:102:304')).toEqual(['1.2.3.4']);
    expect(of('64:ff9b::1.2.3.4')).toEqual(['1.2.3.4']);
    expect(of('2002:102:304:5::6')).toEqual(['1.2.3.4']);
    expect(of('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toEqual(['65.54.227.120', '192.0.2.45']); // RFC 4380's example
    expect(of('2606:4700::1111')).toEqual([]);
  });

  it("every address of this machine's interfaces is internal, in every IPv6 form that carries it", () => {
    let list = [
      { address: '93.184.215.14', family: 'IPv4' },
      { address: '2a00:1450:4001::5', family: 'IPv6' },
    ];
    let now = 0;
    const guard = createAddressGuard({ interfaces: () => ({ eth0: list as os.NetworkInterfaceInfo[] }), refreshMs: 1000, now: () => now });
    for (const a of [
      '93.184.215.14',
      '::ffff:93.184.215.14',
      '::ffff:5db8:d70e',
      '::ffff:0:93.184.215.14',
      '64:ff9b::93.184.215.14',
      '2002:5db8:d70e::1',
      '2a00:1450:4001:0:0:0:0:5',
      '[2a00:1450:4001::5]',
    ]) {
      expect(guard(a), a).toBe(true);
    }
    for (const a of ['93.184.215.15', '2a00:1450:4001::6']) expect(guard(a), a).toBe(false);
    // An address that appears later (a VPN, a new bridge) is refused once the interfaces are read again.
    list = [...list, { address: '81.2.69.160', family: 'IPv4' }];
    expect(guard('81.2.69.160')).toBe(false);
    now = 1000;
    expect(guard('81.2.69.160')).toBe(true);
  });

  it("this machine's real interface addresses are internal (docker0 and the public address included)", () => {
    const addresses = Object.values(os.networkInterfaces()).flatMap((l) => l ?? []);
    expect(addresses.some((a) => !a.internal)).toBe(true);
    for (const a of addresses) {
      expect(isInternalAddress(a.address), a.address).toBe(true);
      if (a.family === 'IPv4') expect(isInternalAddress(`::ffff:${a.address}`), a.address).toBe(true);
    }
  });

  it('localhost names are internal hosts; ordinary names are left to resolution', () => {
    for (const h of ['localhost', 'LOCALHOST.', 'api.localhost', '127.0.0.1', '[::1]']) expect(isInternalHost(h), h).toBe(true);
    for (const h of ['localhost.example.com', 'example.com', '2130706433']) expect(isInternalHost(h), h).toBe(false);
  });
});

describe('policy', () => {
  it('refuses internal hosts in either policy, with the line that allows them', () => {
    for (const policy of ['permissive', 'strict'] as const) {
      const d = compilePolicy({ policy }).checkRequest('127.0.0.1', 5432, 'GET', '/');
      expect(d.allowed).toBe(false);
      expect(d.reason).toMatch(/this machine or its private network/);
      expect(d.suggestion).toContain('- "127.0.0.1:5432"');
      expect(d.suggestion).toContain('--allow-host 127.0.0.1:5432');
    }
    expect(compilePolicy({}).checkHost('169.254.169.254', 80).allowed).toBe(false);
    expect(compilePolicy({}).checkHost('localhost', 11434).allowed).toBe(false);
    expect(compilePolicy({}).checkHost('[::1]', 8080).allowed).toBe(false);
  });

  it('opens exactly what the user names: host and port, or any port; a deny still wins', () => {
    const p = compilePolicy({ rules: ['127.0.0.1:5432'], allowHosts: ['localhost'] });
    expect(p.checkHost('127.0.0.1', 5432).allowed).toBe(true);
    expect(p.checkHost('127.0.0.1', 5433).allowed).toBe(false);
    expect(p.checkHost('localhost', 11434).allowed).toBe(true);
    expect(p.namesHost('localhost')).toBe(true);
    expect(p.namesHost('127.0.0.1')).toBe(true);
    expect(p.namesHost('10.0.0.1')).toBe(false);
    expect(compilePolicy({ rules: ['localhost'], deny: ['localhost'] }).checkHost('localhost', 80).allowed).toBe(false);
  });
});

describe('resolution', () => {
  const resolve = (allow: boolean, host: string): Promise<{ code?: string; address?: string }> =>
    new Promise((res) => {
      guardedLookup(() => allow)(host, {}, ((err: (Error & { code?: string }) | null, address: string) =>
        res(err ? { code: err.code } : { address })) as never);
    });

  it('refuses a name that resolves to an internal address unless the host is named', async () => {
    expect(await resolve(false, 'localhost')).toEqual({ code: 'MOAT_INTERNAL_ADDRESS' });
    expect(await resolve(false, '2130706433')).toEqual({ code: 'MOAT_INTERNAL_ADDRESS' });
    expect(await resolve(false, '0x7f.1')).toEqual({ code: 'MOAT_INTERNAL_ADDRESS' });
    expect(await resolve(true, 'localhost')).toEqual({ address: '127.0.0.1' });
  });
});

describe('through the gateway', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  let h: Harness;
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.end('host service\n');
    });
    // Bound on every address, as most dev servers are: reachable on the loopback and on the host's own addresses.
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as AddressInfo).port;
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
    server.close();
  });

  it('a plain-HTTP request for the host loopback is refused and never arrives', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const raw = await rawExchange(h.socketPath, `GET http://${host}:${port}/ HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
      expect(raw, host).toMatch(/^HTTP\/1\.1 403 /);
      expect(raw, host).toMatch(/x-moat-blocked/i);
      expect(raw, host).toContain(`--allow-host ${host}:${port}`);
    }
    expect(hits).toBe(0);
  });

  it('numeric spellings of the loopback are read as the address the client library would dial, and refused', async () => {
    for (const host of ['2130706433', '0x7f.1', '0177.0.0.1']) {
      const t = await connectTunnel(h.socketPath, `${host}:${port}`);
      expect('refused' in t && t.refused.status, host).toBe(403);
      expect('refused' in t && t.refused.body, host).toContain(`CONNECT 127.0.0.1:${port}: 127.0.0.1 is this machine`);
      const raw = await rawExchange(h.socketPath, `GET http://${host}:${port}/ HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
      expect(raw, host).toMatch(/^HTTP\/1\.1 403 /);
    }
    expect(hits).toBe(0);
  });

  it("the host's own interface addresses and the IPv6 forms that carry an internal IPv4 are refused and never arrive", async () => {
    const own = Object.values(os.networkInterfaces())
      .flatMap((l) => l ?? [])
      .filter((a) => a.family === 'IPv4' && !a.internal)
      .map((a) => a.address);
    expect(own.length).toBeGreaterThan(0);
    // Directly, the server answers on the host's own address: only the gateway stands in the way.
    expect((await httpRequest({ host: own[0], port, path: '/' })).status).toBe(200);
    hits = 0;
    const hosts = [
      ...own,
      ...own.map((a) => `[::ffff:${a}]`),
      '[::ffff:127.0.0.1]',
      '[::FFFF:7F00:1]',
      '[0:0:0:0:0:ffff:127.0.0.1]',
      '[::ffff:0:127.0.0.1]',
      '[::127.0.0.1]',
      '[64:ff9b::127.0.0.1]',
      '[2002:7f00:1::]',
      '[2001:0:4136:e378:8000:63bf:80ff:fffe]',
    ];
    for (const host of hosts) {
      const t = await connectTunnel(h.socketPath, `${host}:${port}`);
      expect('refused' in t && t.refused.status, host).toBe(403);
      expect('refused' in t && t.refused.body, host).toMatch(/is this machine or its private network, which a run reaches only when you name it/);
      const raw = await rawExchange(h.socketPath, `GET http://${host}:${port}/ HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
      expect(raw, host).toMatch(/^HTTP\/1\.1 403 /);
      expect(raw, host).toContain('--allow-host');
    }
    // An IPv6 zone id is no spelling a URL allows: refused as malformed, never dialled.
    const zoned = await connectTunnel(h.socketPath, `[fe80::1%25eth0]:${port}`);
    expect('refused' in zoned && zoned.refused.status).toBe(400);
    expect(hits).toBe(0);
  });

  it('a refused CONNECT to an IPv6 literal names it in brackets, in the answer and in the trace', async () => {
    const t = await connectTunnel(h.socketPath, `[::1]:${port}`);
    expect('refused' in t && t.refused.status).toBe(403);
    expect('refused' in t && t.refused.body).toContain(`CONNECT [::1]:${port}: `);
    expect(
      h
        .requestEvents()
        .filter((e) => e.method === 'CONNECT' && e.host === '::1')
        .map((e) => e.url),
    ).toContain(`[::1]:${port}`);
    expect(hits).toBe(0);
  });

  it('a CONNECT to it is refused before any tunnel opens', async () => {
    const t = await connectTunnel(h.socketPath, `127.0.0.1:${port}`);
    expect('refused' in t && t.refused.status).toBe(403);
    expect(hits).toBe(0);
  });

  it('opens when the user names it', async () => {
    const h2 = await startHarness({ policy: { allowHosts: [`127.0.0.1:${port}`, 'localhost'] } });
    try {
      const raw = await rawExchange(h2.socketPath, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      const named = await rawExchange(h2.socketPath, `GET http://localhost:${port}/ HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
      expect(named).toMatch(/^HTTP\/1\.1 200 /);
      expect(hits).toBe(2);
    } finally {
      await h2.close();
    }
  });

  it('the test-only override still reaches its loopback fakes', async () => {
    expect((await fetchVia(h, 'api.example.test', { path: '/x' })).status).toBe(200);
  });
});

describe('through a corporate proxy (proxy.upstream)', () => {
  let origin: http.Server;
  let corp: http.Server;
  let upstream: Upstream;
  const connects: string[] = [];
  // The names as this machine resolves them (the gateway's own resolution, injected).
  const names: Record<string, string> = {
    'internal.example.test': '127.0.0.1',
    'metadata.example.test': '::ffff:169.254.169.254',
    'public.example.test': '93.184.215.14',
    'named.example.test': '127.0.0.1',
  };
  const resolve: Resolve = (hostname, _opts, cb) => {
    const address = names[hostname];
    if (address === undefined) cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    else cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  };

  beforeAll(async () => {
    origin = http.createServer((_req, res) => res.end('origin\n'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originPort = (origin.address() as AddressInfo).port;
    // The corporate proxy tunnels every CONNECT it gets to the origin (it resolves names its own way).
    corp = http.createServer();
    corp.on('connect', (req: http.IncomingMessage, client: Duplex) => {
      connects.push(req.url ?? '');
      const up = net.connect(originPort, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.pipe(client).pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => corp.listen(0, '127.0.0.1', r));
    upstream = new Upstream({
      upstreamProxy: `http://127.0.0.1:${(corp.address() as AddressInfo).port}`,
      resolve,
      allowInternal: (host) => host === 'named.example.test',
      connectTimeoutMs: 2000,
    });
  });
  afterAll(async () => {
    await upstream.close();
    corp.closeAllConnections();
    corp.close();
    origin.close();
  });

  const get = async (host: string): Promise<{ status?: number; code?: string; address?: string }> => {
    try {
      const r = await upstream.dispatcher(host, 80).request({ origin: `http://${host.includes(':') ? `[${host}]` : host}`, path: '/', method: 'GET' });
      await r.body.text();
      return { status: r.statusCode };
    } catch (err) {
      const e = err as { code?: string; address?: string };
      return { code: e.code, address: e.address };
    }
  };

  it('a name that resolves here to an internal address is refused before the proxy is asked for it', async () => {
    expect(await get('internal.example.test')).toEqual({ code: 'MOAT_INTERNAL_ADDRESS', address: '127.0.0.1' });
    expect(await get('metadata.example.test')).toEqual({ code: 'MOAT_INTERNAL_ADDRESS', address: '::ffff:169.254.169.254' });
    expect(await get('::ffff:7f00:1')).toMatchObject({ code: 'MOAT_INTERNAL_ADDRESS' });
    await expect(upstream.dial('internal.example.test', 80, false)).rejects.toMatchObject({ code: 'MOAT_INTERNAL_ADDRESS' });
    expect(connects).toEqual([]);
  });

  it('public names, names only the proxy can resolve and names the user named go through the proxy', async () => {
    expect(await get('public.example.test')).toEqual({ status: 200 });
    expect(await get('unknown.example.test')).toEqual({ status: 200 });
    expect(await get('named.example.test')).toEqual({ status: 200 });
    const ws = await upstream.dial('public.example.test', 80, false);
    ws.destroy();
    expect(connects).toEqual(['public.example.test:80', 'unknown.example.test:80', 'named.example.test:80', 'public.example.test:80']);
  });
});
