/**
 * The gateway runs on the host, so it must not become the container's way into the host's own services
 * (loopback), its private networks or the cloud metadata service. Literal addresses and `localhost` are
 * refused by policy; names that resolve there (including numeric spellings such as `2130706433`) are
 * refused when the gateway dials them. Naming the host in network.rules / --allow-host opens it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInternalAddress, isInternalHost } from '../../../src/gateway/addresses.js';
import { compilePolicy } from '../../../src/gateway/policy.js';
import { guardedLookup } from '../../../src/gateway/upstream.js';
import { connectTunnel, fetchVia, rawExchange, startHarness, type Harness } from './helpers.js';

describe('internal addresses', () => {
  it.each([
    '127.0.0.1', '127.8.9.10', '0.0.0.0', '10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '224.0.0.1', '::1', '::', 'fe80::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe', '[::1]',
  ])('%s is internal', (ip) => expect(isInternalAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700::1111', 'example.com', ''])('%j is not', (ip) => {
    expect(isInternalAddress(ip)).toBe(false);
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
  const resolve = (allow: boolean, host: string): Promise<{ code?: string; address?: string }> => new Promise((res) => {
    guardedLookup(() => allow)(host, {}, ((err: (Error & { code?: string }) | null, address: string) => res(err ? { code: err.code } : { address })) as never);
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
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
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
