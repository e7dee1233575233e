import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTunnel, fetchVia, httpRequest, type Harness, startHarness, tlsOver, requestOn } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    policy: { policy: 'permissive', deny: ['blocked.example.test'], rules: [{ 'paths.example.test': ['allow GET /repos/**', 'deny * /**'] }] },
    injections: [{ grant: 'github', hosts: ['api.example.test'], set: { authorization: 'Bearer REAL-SECRET-TOKEN' }, remove: ['x-remove-me'] }],
  });
});
afterAll(async () => h.close());

describe('forward proxy (absolute-form HTTP)', () => {
  it('forwards a plain HTTP request and strips hop-by-hop headers', async () => {
    const res = await httpRequest({
      socketPath: h.socketPath,
      path: 'http://other.example.test/hello?x=1',
      agent: false,
      headers: { host: 'other.example.test', 'proxy-authorization': 'Basic abc', 'keep-alive': 'timeout=5', 'x-custom': 'yes', connection: 'x-custom' },
    });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as { path: string; headers: Record<string, string> };
    expect(echo.path).toBe('/hello?x=1');
    expect(echo.headers.host).toBe('other.example.test');
    expect(echo.headers['proxy-authorization']).toBeUndefined();
    expect(echo.headers['keep-alive']).toBeUndefined();
    expect(echo.headers['x-custom']).toBeUndefined();
    const ev = h.requestEvents().find((e) => e.url === 'http://other.example.test/hello?x=1');
    expect(ev).toMatchObject({ method: 'GET', host: 'other.example.test', status: 200 });
  });

  it('serves plain HTTP inside a CONNECT tunnel (two requests on one tunnel), never injecting over it', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:80');
    if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => t.socket;
    const get = (path: string) => httpRequest({ agent, path, headers: { host: 'api.example.test:80', authorization: 'Bearer placeholder' } });
    try {
      for (const path of ['/first', '/second']) {
        const res = await get(path);
        expect(res.status, path).toBe(200);
        const echo = JSON.parse(res.body) as { path: string; headers: Record<string, string> };
        expect(echo.path).toBe(path);
        expect(echo.headers.authorization).toBe('Bearer placeholder'); // the credential goes only over TLS
      }
    } finally {
      agent.destroy();
      t.socket.destroy();
    }
  });

  it('refuses an origin-form request on the proxy port with 400', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      http
        .request({ socketPath: h.socketPath, path: '/x', agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
        .on('error', reject)
        .end();
    });
    expect(res).toBe(400);
  });
});

describe('CONNECT with TLS interception', () => {
  it('injects the credential for the granted host, replacing what the client sent', async () => {
    const res = await fetchVia(h, 'api.example.test', { path: '/user', headers: { authorization: 'Bearer placeholder', 'x-remove-me': '1' } });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as { headers: Record<string, string> };
    expect(echo.headers.authorization).toBe('Bearer REAL-SECRET-TOKEN');
    expect(echo.headers['x-remove-me']).toBeUndefined();
    expect(echo.headers.host).toBe('api.example.test');
    const ev = h.requestEvents().find((e) => e.url === 'https://api.example.test/user');
    expect(ev).toMatchObject({ grant: 'github', status: 200 });
    expect(JSON.stringify(h.events)).not.toContain('REAL-SECRET-TOKEN');
  });

  it("leaves a non-granted host's headers untouched", async () => {
    const res = await fetchVia(h, 'other.example.test', { path: '/x', headers: { authorization: 'Bearer client-own' } });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as { headers: Record<string, string> }).headers.authorization).toBe('Bearer client-own');
    expect(h.requestEvents().find((e) => e.url === 'https://other.example.test/x')?.grant).toBeUndefined();
  });

  it('presents a leaf for the CONNECT host signed by the moat CA, with ALPN http/1.1', async () => {
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const s = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    expect(s.alpnProtocol).toBe('http/1.1');
    expect(s.getPeerCertificate().subjectaltname).toBe('DNS:api.example.test');
    s.destroy();
  });

  it('refuses a denied host at CONNECT, before TLS, with X-Moat-Blocked and the fix', async () => {
    const t = await connectTunnel(h.socketPath, 'blocked.example.test:443');
    expect('refused' in t).toBe(true);
    if (!('refused' in t)) return;
    expect(t.refused.status).toBe(403);
    expect(t.refused.headers['x-moat-blocked']).toContain('blocked.example.test');
    expect(t.refused.body).toContain('blocked.example.test');
    expect(t.refused.body).toContain('network.deny');
    const ev = h.requestEvents().find((e) => e.method === 'CONNECT' && e.host === 'blocked.example.test');
    expect(ev).toMatchObject({ blocked: true, status: 403 });
  });

  it('refuses a path by rule with 403 and the moat.yaml line that allows it', async () => {
    const ok = await fetchVia(h, 'paths.example.test', { path: '/repos/a/b?q=1' });
    expect(ok.status).toBe(200);
    const res = await fetchVia(h, 'paths.example.test', { method: 'POST', path: '/admin/x?secret=1', body: 'x' });
    expect(res.status).toBe(403);
    expect(res.headers['x-moat-blocked']).toContain('deny * /**');
    expect(res.body).toContain('POST https://paths.example.test/admin/x');
    expect(res.body).toContain('network:\n  rules:\n    - "paths.example.test":\n        - "allow POST /admin/x"');
    expect(res.body).not.toContain('secret=1');
    expect(h.fake.requests.some((r) => r.path.startsWith('/admin'))).toBe(false);
  });

  it('refuses when the Host header disagrees with the CONNECT authority (421), without injecting', async () => {
    const before = h.fake.requests.length;
    const t = await connectTunnel(h.socketPath, 'api.example.test:443');
    if (!('socket' in t)) throw new Error('refused');
    const s = await tlsOver(t.socket, 'api.example.test', h.ca.certPem);
    const res = await requestOn(s, { host: 'other.example.test', path: '/steal' });
    expect(res.status).toBe(421);
    expect(h.fake.requests.length).toBe(before);
  });

  it('refuses when the SNI disagrees with the CONNECT authority (421)', async () => {
    const before = h.fake.requests.length;
    const res = await fetchVia(h, 'api.example.test', { servername: 'other.example.test', path: '/steal' });
    expect(res.status).toBe(421);
    expect(h.fake.requests.length).toBe(before);
  });

  it('never follows redirects', async () => {
    const res = await fetchVia(h, 'other.example.test', { path: '/redirect' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/final');
    expect(h.fake.requests.some((r) => r.path === '/final')).toBe(false);
  });

  it('reports an unreachable upstream as 502', async () => {
    const res = await fetchVia(h, 'nowhere.invalid', { path: '/' });
    expect([502, 504]).toContain(res.status);
  });
});
