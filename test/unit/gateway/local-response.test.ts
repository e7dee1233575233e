import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalResponse } from '../../../src/gateway/local-response.js';
import { compileLocalResponses } from '../../../src/gateway/local-response.js';
import { fetchVia, httpRequest, type Harness, startHarness, waitFor } from './helpers.js';

const TOKEN_BODY = JSON.stringify({ access_token: 'placeholder-access', refresh_token: 'rt_placeholder' });
const answer = (over: Partial<LocalResponse> = {}): LocalResponse => ({
  grant: 'openai',
  hosts: ['api.example.test'],
  method: 'POST',
  path: '/oauth/token',
  status: 200,
  headers: { 'Content-Type': 'application/json' },
  body: TOKEN_BODY,
  ...over,
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    policy: { policy: 'strict' },
    responses: [answer()],
  });
});
afterAll(async () => h.close());

const upstreamSaw = (path: string): boolean => h.fake.requests.some((r) => r.path.split('?')[0] === path);

describe('local answers', () => {
  it('answers a matching TLS request itself, never contacting the upstream', async () => {
    const res = await fetchVia(h, 'api.example.test', {
      method: 'POST',
      path: '/oauth/token?x=1',
      headers: { 'content-type': 'application/json' },
      body: '{"refresh_token":"rt_placeholder"}',
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual(JSON.parse(TOKEN_BODY));
    expect(upstreamSaw('/oauth/token')).toBe(false);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/oauth/token?x=1'));
    expect(ev).toMatchObject({ grant: 'openai', local: true, status: 200, bytesDown: Buffer.byteLength(TOKEN_BODY) });
    expect(ev.bytesUp).toBe('{"refresh_token":"rt_placeholder"}'.length);
  });

  it('under a strict policy opens only the answered call: other paths and methods of its host are refused', async () => {
    const other = await fetchVia(h, 'api.example.test', { method: 'GET', path: '/oauth/token' });
    expect(other.status).toBe(403);
    expect(other.headers['x-moat-blocked']).toBeDefined();
    expect((await fetchVia(h, 'api.example.test', { method: 'POST', path: '/oauth/authorize', body: '{}' })).status).toBe(403);
    expect(upstreamSaw('/oauth/token')).toBe(false);
    expect(upstreamSaw('/oauth/authorize')).toBe(false);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.method === 'GET' && e.url === 'https://api.example.test/oauth/token'));
    expect(ev).toMatchObject({ blocked: true, status: 403 });
    // A host with no answer and no grant stays closed under strict, at CONNECT already.
    expect((await fetchVia(h, 'other.example.test', { method: 'POST', path: '/oauth/token' })).status).toBe(403);
  });

  it('under a permissive policy, other calls to its host go upstream unanswered and without a credential', async () => {
    const h2 = await startHarness({ responses: [answer()] });
    try {
      const other = await fetchVia(h2, 'api.example.test', { method: 'GET', path: '/oauth/token' });
      expect(other.status).toBe(200);
      expect(other.body).not.toContain('placeholder-access');
      expect(h2.fake.requests.some((r) => r.path === '/oauth/token' && r.method === 'GET')).toBe(true);
    } finally {
      await h2.close();
    }
  });

  it('a deny of its host refuses the answered call too', async () => {
    const h2 = await startHarness({ policy: { deny: ['api.example.test'] }, responses: [answer()] });
    try {
      expect((await fetchVia(h2, 'api.example.test', { method: 'POST', path: '/oauth/token', body: '{}' })).status).toBe(403);
    } finally {
      await h2.close();
    }
  });

  it('is never used over plain HTTP', async () => {
    const h2 = await startHarness({ responses: [answer()] });
    try {
      const status = await httpRequest({
        socketPath: h2.socketPath,
        method: 'POST',
        path: 'http://api.example.test/oauth/token',
        agent: false,
        headers: { host: 'api.example.test' },
      });
      expect(status.body).not.toContain('placeholder-access');
      expect(h2.fake.requests.some((r) => r.path === '/oauth/token' && !r.secure)).toBe(true);
    } finally {
      await h2.close();
    }
  });

  it('update() replaces the answers for new requests', async () => {
    h.proxy.update({ responses: [answer({ status: 201, body: '{"access_token":"second"}' })] });
    try {
      const res = await fetchVia(h, 'api.example.test', { method: 'POST', path: '/oauth/token', body: '{}' });
      expect(res.status).toBe(201);
      expect(JSON.parse(res.body)).toEqual({ access_token: 'second' });
      h.proxy.update({ injections: [] }); // leaving responses out keeps them
      expect((await fetchVia(h, 'api.example.test', { method: 'POST', path: '/oauth/token', body: '{}' })).status).toBe(201);
    } finally {
      h.proxy.update({ responses: [answer()] });
    }
  });
});

describe('compileLocalResponses', () => {
  it('matches host, method (any case) and path without its query', () => {
    const r = compileLocalResponses([answer({ hosts: ['a.test', '*.b.test'] })]);
    expect(r.find('a.test', 443, 'post', '/oauth/token?q')?.grant).toBe('openai');
    expect(r.find('x.b.test', 443, 'POST', '/oauth/token')?.status).toBe(200);
    expect(r.find('a.test', 443, 'GET', '/oauth/token')).toBeUndefined();
    expect(r.find('a.test', 443, 'POST', '/oauth/token/x')).toBeUndefined();
    expect(r.find('c.test', 443, 'POST', '/oauth/token')).toBeUndefined();
    // On port 443 only, like a credential.
    expect(r.find('a.test', 8443, 'POST', '/oauth/token')).toBeUndefined();
    expect(r.hosts).toEqual(['a.test:443', '*.b.test:443']);
  });
});
