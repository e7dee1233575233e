/**
 * `//` in S3 object keys (issue 18): `a//b` is a key distinct from `a/b`, so on the hosts an aws grant
 * signs the gateway keeps empty path segments instead of merging them. The invariant stays: the path
 * decided on is exactly the path forwarded, and the policy allows it only when every reading an origin
 * could route on (as sent, with `//` merged, with `%2F` as `/`) is allowed. Elsewhere nothing changes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsResigner } from '../../../src/gateway/aws-resign.js';
import { collapsedView, normalizePath, pathViews } from '../../../src/gateway/paths.js';
import { compilePolicy, globToRegex, parsePathRule } from '../../../src/gateway/policy.js';
import { connectTunnel, fetchVia, type Harness, startHarness, tlsOver } from './helpers.js';

const KEEP = { keepEmptySegments: true };

describe('normalizePath keeping empty segments', () => {
  it.each([
    ['/bucket/dir//file', '/bucket/dir//file'],
    ['//lead', '//lead'],
    ['/b/trail//', '/b/trail//'],
    ['/b/./dir//file', '/b/dir//file'],
    ['/b/x/../dir//file', '/b/dir//file'],
    // RFC 3986 5.2.4: ".." after an empty segment removes that empty segment.
    ['/a//../b', '/a/b'],
    ['/a//%2e%2e/b', '/a/b'],
    ['/b/d%7E//f%41', '/b/d~//fA'],
  ])('%s -> %s (default mode still merges it)', (raw, want) => {
    expect(normalizePath(raw, KEEP)).toEqual({ ok: true, path: want });
    const merged = normalizePath(raw);
    expect(merged.ok && merged.path.includes('//')).toBe(false);
  });

  it.each(['/b//..%2Fx', '/b//a%2F%2Fb', '/b//%c0%ae%c0%ae/x', '/b//x\\y'])('%s is still refused', (raw) => {
    expect(normalizePath(raw, KEEP).ok).toBe(false);
  });

  it('pathViews lists the path as forwarded, merged, with encoded slashes as separators, and both', () => {
    expect(pathViews('/b/dir//file')).toEqual(['/b/dir//file', '/b/dir/file']);
    expect(pathViews('/b//a%2Fx')).toEqual(['/b//a%2Fx', '/b/a%2Fx', '/b//a/x', '/b/a/x']);
    expect(pathViews('/plain')).toEqual(['/plain']);
  });
});

describe('the policy on a host whose paths keep //', () => {
  const policy = (rules: string[], mode: 'strict' | 'permissive' = 'strict') =>
    compilePolicy({ policy: mode, rules: [{ 'bucket.s3.us-east-1.amazonaws.com': rules }] });
  const check = (rules: string[], path: string, mode: 'strict' | 'permissive' = 'strict') =>
    policy(rules, mode).checkRequest('bucket.s3.us-east-1.amazonaws.com', 443, 'PUT', path);

  it('a deny rule written for a prefix also refuses the key spelled with // (the merged reading)', () => {
    const d = check(['deny * /secret/**'], '//secret/x', 'permissive');
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('refused by "deny * /secret/**"');
    expect(check(['deny * /secret/**'], '/pub//secret', 'permissive').allowed).toBe(true);
  });

  it('strict: a one-segment rule does not allow dir//file; the suggested rule is in normal form and allows it', () => {
    const d = check(['allow PUT /dir/*'], '/dir//file');
    expect(d.allowed).toBe(false);
    const suggested = /"allow PUT ([^"]+)"/.exec(d.suggestion ?? '')?.[1];
    expect(suggested).toBe('/dir/**');
    expect(parsePathRule(`allow PUT ${suggested}`).source).toBe('allow PUT /dir/**');
    expect(check([`allow PUT ${suggested}`], '/dir//file').allowed).toBe(true);
  });
});

/** Path pieces that exercise empty segments next to dot segments, escapes and encoded slashes. */
const PIECES = ['/', '//', 'a', '.', '..', '%2e', '%2E%2e', '%2F', '%5c', ';', '%41', '~', '%7e', '%20', '...', '%25', '%c3%a9', '{', '\\'];
const rawPath = fc.array(fc.constantFrom(...PIECES), { maxLength: 10 }).map((parts) => `/${parts.join('')}`);

describe('properties', () => {
  it('keeping // is idempotent, leaves no dot segment, and its merged reading is exactly the default normal form', () => {
    fc.assert(
      fc.property(rawPath, (p) => {
        const r = normalizePath(p, KEEP);
        if (!r.ok) return;
        expect(normalizePath(r.path, KEEP)).toEqual(r);
        expect(r.path).not.toMatch(/\/\.\.?(\/|$)/);
        // Rules are written in the default normal form: the merged reading is one of them.
        expect(normalizePath(r.path)).toEqual({ ok: true, path: collapsedView(r.path) ?? r.path });
        expect(pathViews(r.path)[0]).toBe(r.path);
      }),
      { numRuns: 3000 },
    );
  });
});

/** A gateway whose aws grant signs paths.example.test (its /ok/** allowed), other.example.test listed unsigned. */
function awsPathsHarness(): Promise<Harness> {
  return startHarness({
    policy: { policy: 'strict', rules: [{ 'paths.example.test': ['allow * /ok/**', 'deny * /**'] }, 'other.example.test'] },
    aws: createAwsResigner({
      grant: 'aws',
      placeholder: { accessKeyId: 'ASIAPLACEHOLDER00001', secretAccessKey: 'x'.repeat(40) },
      real: async () => ({ accessKeyId: 'AKIAREAL', secretAccessKey: 'y'.repeat(40) }),
      endpoints: ['paths.example.test'],
    }),
  });
}

describe('through the gateway, on a host an aws grant signs', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await awsPathsHarness();
  });
  afterAll(async () => h?.close());
  const seen = (host: string) => h.fake.requests.filter((r) => (r.host ?? '').startsWith(host)).map((r) => r.path);

  it('dir//file reaches the origin as dir//file; a host no grant signs still gets it merged', async () => {
    expect((await fetchVia(h, 'paths.example.test', { path: '/ok/dir//file?x=1' })).status).toBe(200);
    expect(seen('paths.example.test').at(-1)).toBe('/ok/dir//file?x=1');
    expect((await fetchVia(h, 'other.example.test', { path: '/dir//file' })).status).toBe(200);
    expect(seen('other.example.test').at(-1)).toBe('/dir/file');
  });

  it('//ok/x is refused: its forwarded reading is not under /ok/ even though its merged one is', async () => {
    const before = seen('paths.example.test').length;
    expect((await fetchVia(h, 'paths.example.test', { path: '//ok/x' })).status).toBe(403);
    expect((await fetchVia(h, 'paths.example.test', { path: '/x//../ok/y' })).status).toBe(403);
    expect(seen('paths.example.test').length).toBe(before);
  });

  it('property: the path forwarded is exactly the path decided on, and every reading of it is allowed', async () => {
    const allowed = globToRegex('/ok/**');
    await fc.assert(
      fc.asyncProperty(rawPath, async (p) => {
        const before = seen('paths.example.test').length;
        const res = await fetchVia(h, 'paths.example.test', { path: `/ok${p}` });
        const got = seen('paths.example.test').slice(before);
        const r = normalizePath(`/ok${p}`, KEEP);
        if (!r.ok) {
          expect(res.status).toBe(400);
          expect(got).toEqual([]);
          return;
        }
        const ok = pathViews(r.path).every((v) => allowed.test(v));
        expect(res.status).toBe(ok ? 200 : 403);
        expect(got).toEqual(ok ? [r.path] : []);
      }),
      { numRuns: 60 },
    );
  });
});

describe('a WebSocket upgrade to a host an aws grant signs', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await awsPathsHarness();
  });
  afterAll(async () => h?.close());

  /** The head of the origin's answer to a WebSocket upgrade of `path` on `host`, inside an intercepted CONNECT. */
  async function upgrade(host: string, path: string): Promise<string> {
    const t = await connectTunnel(h.socketPath, `${host}:443`);
    if (!('socket' in t)) throw new Error(`refused: ${t.refused.body}`);
    const sock = await tlsOver(t.socket, host, h.ca.certPem);
    return new Promise((resolve) => {
      let out = '';
      sock.on('data', (c: Buffer) => {
        out += c.toString('latin1');
        if (out.includes('\r\n\r\n')) sock.destroy();
      });
      sock.on('error', () => undefined);
      sock.once('close', () => resolve(out.split('\r\n')[0] ?? ''));
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }
  const upgrades = (host: string) => h.fake.requests.filter((r) => r.websocket && (r.host ?? '').startsWith(host)).map((r) => r.path);

  it('keeps // in the path like a plain request; a host no grant signs still gets it merged', async () => {
    expect(await upgrade('paths.example.test', '/ok/dir//ws?x=1')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(upgrades('paths.example.test').at(-1)).toBe('/ok/dir//ws?x=1');
    expect(await upgrade('other.example.test', '/dir//ws')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(upgrades('other.example.test').at(-1)).toBe('/dir/ws');
  });

  it('//ok/ws is refused: its forwarded reading is not under /ok/', async () => {
    const before = upgrades('paths.example.test').length;
    expect(await upgrade('paths.example.test', '//ok/ws')).toMatch(/^HTTP\/1\.1 403 /);
    expect(upgrades('paths.example.test').length).toBe(before);
  });
});
