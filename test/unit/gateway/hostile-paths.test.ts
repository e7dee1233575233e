/**
 * Hostile request paths: the path rules decide on the path the origin will see. Every spelling of
 * `/user` that an origin could serve (dot segments, `%2e`, `..%2f`, `;` parameters, overlong UTF-8, …)
 * is either refused or normalised before the decision, and exactly the normalised path is forwarded;
 * the origin-form inside CONNECT and the absolute-form on plain HTTP get the same answer.
 */
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePath, slashView } from '../../../src/gateway/paths.js';
import { globToRegex } from '../../../src/gateway/policy.js';
import { type Harness, fetchVia, httpRequest, startHarness, waitFor } from './helpers.js';

const SECRET = 'Bearer REAL-SECRET-TOKEN';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    policy: {
      policy: 'strict',
      rules: [{ 'api.example.test': ['allow GET /repos/**', 'deny * /**'] }, { 'paths.example.test': ['allow * /ok/**', 'deny * /**'] }, 'other.example.test'],
    },
    injections: [{ grant: 'github', hosts: ['api.example.test'], set: { authorization: SECRET } }],
  });
});
afterAll(async () => h.close());

/** What the fake upstream saw for `host` (any path). */
const seen = (host: string): string[] => h.fake.requests.filter((r) => (r.host ?? '').split(':')[0] === host).map((r) => r.path);

describe('normalizePath', () => {
  it.each([
    ['/repos/o/r', '/repos/o/r'],
    ['/repos/../user', '/user'],
    ['/repos/%2e%2e/user', '/user'],
    ['/repos/%2E%2E/user', '/user'],
    ['/repos/.%2e/user', '/user'],
    ['/repos/./../user', '/user'],
    ['/repos/o/r/../../../user', '/user'],
    ['/../user', '/user'],
    ['/repos//o', '/repos/o'],
    ['//user', '/user'],
    ['/repos/o/..', '/repos/'],
    ['/repos/o/.', '/repos/o/'],
    ['/%7Euser/%41', '/~user/A'],
    ['/@scope%2fpkg', '/@scope%2Fpkg'],
    ['/a%3bb', '/a%3Bb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a{b}|c', '/a%7Bb%7D%7Cc'],
    ['/.well-known/x', '/.well-known/x'],
    ['/compare/a...b', '/compare/a...b'],
    ['/', '/'],
  ])('%s -> %s', (raw, normal) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path: normal });
  });

  it.each([
    ['/repos/..%2fuser', /hidden behind an encoded slash/],
    ['/repos/..%2Fuser', /hidden behind an encoded slash/],
    ['/repos/..%5cuser', /hidden behind an encoded slash/],
    ['/repos/%2e%2e%2fuser', /hidden behind an encoded slash/],
    ['/repos/x%2F..%2Fuser', /hidden behind an encoded slash/],
    ['/repos/%2F/user', /next to another slash/],
    ['/repos/a%2F%2Fb', /next to another slash/],
    ['/repos/..;/user', /reads as a dot segment/],
    ['/repos/..;x=1/user', /reads as a dot segment/],
    ['/repos/..%3B/user', /reads as a dot segment/],
    ['/repos/.../user', /reads as a dot segment/],
    ['/repos/..%20/user', /reads as a dot segment/],
    ['/repos\\..\\user', /backslash/],
    ['/repos/\\user', /backslash/],
    ['/repos/%00/user', /control character/],
    ['/repos/x%0a', /control character/],
    ['/repos/%7f', /control character/],
    ['/repos/%zz', /not a valid percent-escape/],
    ['/repos/%2', /not a valid percent-escape/],
    ['/repos/%', /not a valid percent-escape/],
    ['/repos/%u002e%u002e/user', /not a valid percent-escape/],
    ['/repos/%c0%ae%c0%ae/user', /not valid UTF-8/],
    ['/repos/%c0%af', /not valid UTF-8/],
    ['/repos/%e0%80%ae', /not valid UTF-8/],
    ['/repos/%ed%a0%80', /not valid UTF-8/],
    ['/repos/%c3', /not valid UTF-8/],
    ['/repos/%ef%bc%8f', /read as "\/"/], // fullwidth solidus
    ['/repos/%e2%80%a5/user', /read as "\/"/], // two-dot leader, NFKC ".."
    ['/repos/%ef%bc%8e%ef%bc%8e/user', /read as "\/"/], // fullwidth full stops
    ['/repos/%252e%252e/user', /double-encodes/],
    ['/repos/%252f', /double-encodes/],
    ['/repos/x#frag', /fragment/],
    ['/repos/\u00e9', /non-ASCII/],
    ['/repos/a b', /space or a control/],
    ['repos', /start with/],
  ])('refuses %j', (raw, why) => {
    const r = normalizePath(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(why);
      expect(r.reason).not.toContain('\n');
    }
  });

  it('reads %2F and %5C as separators in the second view the policy checks', () => {
    expect(slashView('/@scope%2Fpkg')).toBe('/@scope/pkg');
    expect(slashView('/a%5Cb')).toBe('/a/b');
    expect(slashView('/a/b')).toBeUndefined();
  });
});

describe('through the gateway, with a grant on the host', () => {
  /** The hostile spellings of `GET /user`: each must be refused (400/403), never reach the fake. */
  const spellings = [
    '/repos/../user',
    '/repos/%2e%2e/user',
    '/repos/%2E%2E/user',
    '/repos/.%2e/user',
    '/repos/..%2fuser',
    '/repos/..%5cuser',
    '/repos/..;/user',
    '/repos/%c0%ae%c0%ae/user',
    '/repos/%252e%252e/user',
    '/repos/o/../../user',
    '/repos/./../user',
    '/repos//../user',
    '/repos/%ef%bc%8e%ef%bc%8e/user',
  ];

  it.each(spellings)('%s is refused in origin-form (CONNECT + TLS) and absolute-form alike', async (path) => {
    const before = seen('api.example.test').length;
    const tlsRes = await fetchVia(h, 'api.example.test', { path, headers: { authorization: 'Bearer placeholder' } });
    const plain = await httpRequest({ socketPath: h.socketPath, path: `http://api.example.test${path}`, agent: false, headers: { host: 'api.example.test' } });
    expect([400, 403]).toContain(tlsRes.status);
    expect(plain.status).toBe(tlsRes.status);
    expect(seen('api.example.test').length).toBe(before);
    if (tlsRes.status === 400) expect(tlsRes.body).toMatch(/^The request path cannot be read unambiguously: .+\.\n$/);
    else expect(tlsRes.headers['x-moat-blocked']).toMatch(/GET \/user on api.example.test is refused by "deny \* \/\*\*"/);
  });

  it('a dot segment that stays under an allowed prefix reaches the origin normalised, with the credential', async () => {
    const res = await fetchVia(h, 'api.example.test', { path: '/repos/o/x/../r/%2e/issues?state=open&q=a/../b' });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as { path: string; headers: Record<string, string> };
    expect(echo.path).toBe('/repos/o/r/issues?state=open&q=a/../b'); // the query is kept as is
    expect(echo.headers.authorization).toBe(SECRET);
    const ev = await waitFor(() => h.requestEvents().find((e) => e.url === 'https://api.example.test/repos/o/r/issues?state=open&q=a/../b'));
    expect(ev.grant).toBe('github');
  });

  it('TRACE is refused on a credentialed host and never reaches it; OPTIONS * is refused everywhere', async () => {
    const before = seen('api.example.test').length;
    const trace = await fetchVia(h, 'api.example.test', { method: 'TRACE', path: '/repos/o/r' });
    expect(trace.status).toBe(403);
    expect(trace.headers['x-moat-blocked']).toBe('TRACE to api.example.test is refused: it would echo the credential back');
    for (const host of ['api.example.test', 'other.example.test']) {
      const star = await fetchVia(h, host, { method: 'OPTIONS', path: '*' });
      expect(star.status).toBe(400);
      expect(star.body).toBe('Moat does not forward the request target "*" (OPTIONS *): name a path.\n');
    }
    expect(seen('api.example.test').length).toBe(before);
    // Elsewhere TRACE is an ordinary request, decided by the policy.
    expect((await fetchVia(h, 'other.example.test', { method: 'TRACE', path: '/t' })).status).toBe(200);
  });

  it('headers that re-route a request inside the origin are stripped on a credentialed host only', async () => {
    const rerouting = {
      'x-original-url': '/user',
      'x-rewrite-url': '/user',
      'x-override-url': '/user',
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
    };
    const cred = JSON.parse((await fetchVia(h, 'api.example.test', { path: '/repos/o/r', headers: rerouting })).body) as { headers: Record<string, string> };
    for (const k of Object.keys(rerouting)) expect(cred.headers[k], k).toBeUndefined();
    expect(cred.headers.authorization).toBe(SECRET);
    const other = JSON.parse((await fetchVia(h, 'other.example.test', { path: '/x', headers: rerouting })).body) as { headers: Record<string, string> };
    for (const [k, v] of Object.entries(rerouting)) expect(other.headers[k], k).toBe(v);
  });

  it('a WebSocket upgrade is decided on the normalised path too', async () => {
    const res = await fetchVia(h, 'api.example.test', {
      path: '/repos/%2e%2e/user',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    expect(res.status).toBe(403);
  });
});

/** Path pieces that combine into every kind of hostile spelling. */
const PIECES = [
  '/',
  '/',
  '/',
  'a',
  'ok',
  'x',
  '.',
  '..',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  ';',
  ';p=1',
  '%3b',
  '~',
  '%7e',
  '%41',
  '%25',
  '%252e',
  '%',
  '%g1',
  '%c0%ae',
  '%c3%a9',
  '%e2%80%a5',
  '%ef%bc%8f',
  '%00',
  '{',
  '|',
  '\\',
  '#',
  '...',
  '%20',
  '@',
  ':',
];
const rawPath = fc.array(fc.constantFrom(...PIECES), { maxLength: 10 }).map((parts) => `/${parts.join('')}`);

/** What the gateway must answer for a raw path under one allow rule, and the path the origin then gets. */
function decisionFor(allowed: RegExp, raw: string): { status: number; forwarded?: string } {
  const r = normalizePath(raw);
  if (!r.ok) return { status: 400 };
  const alt = slashView(r.path);
  const decided = allowed.test(r.path) && (alt === undefined || allowed.test(alt));
  return decided ? { status: 200, forwarded: r.path } : { status: 403 };
}

describe('properties', () => {
  it('normalising is idempotent, and a normal path has no dot segment, no "//", no escape of an unreserved character', () => {
    fc.assert(
      fc.property(rawPath, (p) => {
        const r = normalizePath(p);
        if (!r.ok) return;
        expect(normalizePath(r.path)).toEqual(r);
        expect(r.path.startsWith('/')).toBe(true);
        expect(r.path).not.toMatch(/\/\/|\/\.\.?(\/|$)|%(?![0-9A-F]{2})|%[46][1-9A-F]|%[57][0-9A]|%3[0-9]|%2D|%2E|%5F|%7E|\\/);
      }),
      { numRuns: 2000 },
    );
  });

  it('the path forwarded is exactly the path decided on (absolute-form, keep-alive)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const allowed = globToRegex('/ok/**');
    try {
      await fc.assert(
        fc.asyncProperty(rawPath, fc.constantFrom('', '?q=/../x', '?a=%2e%2e'), async (p, query) => {
          const before = seen('paths.example.test').length;
          const res = await httpRequest({
            socketPath: h.socketPath,
            agent,
            path: `http://paths.example.test/ok${p}${query}`,
            headers: { host: 'paths.example.test' },
          });
          const got = seen('paths.example.test').slice(before);
          const d = decisionFor(allowed, `/ok${p}`);
          expect(res.status).toBe(d.status);
          expect(got).toEqual(d.forwarded === undefined ? [] : [`${d.forwarded}${query}`]);
        }),
        { numRuns: 150 },
      );
    } finally {
      agent.destroy();
    }
  });

  it('the path forwarded is exactly the path decided on (CONNECT + TLS, with the credential)', async () => {
    const allowed = globToRegex('/repos/**');
    await fc.assert(
      fc.asyncProperty(rawPath, async (p) => {
        const before = seen('api.example.test').length;
        const res = await fetchVia(h, 'api.example.test', { path: `/repos${p}` });
        const got = h.fake.requests.filter((q) => (q.host ?? '').startsWith('api.example.test')).slice(before);
        const d = decisionFor(allowed, `/repos${p}`);
        expect(res.status).toBe(d.status);
        expect(got.map((q) => q.path)).toEqual(d.forwarded === undefined ? [] : [d.forwarded]);
        if (d.forwarded !== undefined) expect(got[0]!.headers.authorization).toBe(SECRET);
      }),
      { numRuns: 40 },
    );
  });
});
