import { describe, expect, it } from 'vitest';
import { compilePolicy, globToRegex, parsePathRule, validatePattern, validatePolicy } from '../../../src/gateway/policy.js';
import { createRedactor, redact, compileInjections } from '../../../src/gateway/injection.js';

describe('host patterns', () => {
  const strict = compilePolicy({ policy: 'strict', rules: ['api.github.com', '*.example.com', 'local.test:8443', '[::1]:9000', '10.0.0.1'] });
  it.each([
    ['api.github.com', 443, true],
    ['API.GitHub.com.', 443, true],
    ['github.com', 443, false],
    ['x.api.github.com', 443, false],
    ['a.example.com', 443, true],
    ['a.b.example.com', 443, false],
    ['example.com', 443, false],
    ['local.test', 8443, true],
    ['local.test', 443, false],
    ['::1', 9000, true],
    ['::1', 9001, false],
    ['10.0.0.1', 80, true],
    ['10.0.0.2', 80, false],
  ])('%s:%i -> %s', (host, port, allowed) => {
    expect(strict.checkHost(host, port).allowed).toBe(allowed);
  });

  it.each([
    ['', /empty/],
    ['https://api.github.com', /scheme.*"api\.github\.com"/],
    ['api.github.com/repos', /path/],
    ['*.com', /too broad/],
    ['a.*.com', /whole first label/],
    ['**.github.com', /whole first label/],
    ['host:99999', /invalid port/],
    ['host:abc', /invalid port/],
    ['bad host', /whitespace/],
    ['-bad.com', /not a valid host/],
  ])('rejects %j', (pattern, message) => {
    expect(() => validatePattern(pattern)).toThrow(message);
  });
});

describe('path rules', () => {
  it.each([
    ['/repos/**', '/repos', true],
    ['/repos/**', '/repos/a/b/c', true],
    ['/repos/**', '/reposx', false],
    ['/repos/*', '/repos/a', true],
    ['/repos/*', '/repos/a/b', false],
    ['/repos/*/issues', '/repos/x/issues', true],
    ['/a/**/z', '/a/z', true],
    ['/a/**/z', '/a/b/c/z', true],
    ['/v1/*.json', '/v1/data.json', true],
    ['/v1/*.json', '/v1/dataxjson', false],
    ['/', '/', true],
    ['/**', '/anything/at/all', true],
  ])('%s matches %s: %s', (glob, path, ok) => {
    expect(globToRegex(glob).test(path)).toBe(ok);
  });

  it.each([
    ['allow GET', /three parts/],
    ['permit GET /x', /"allow" or "deny"/],
    ['allow get /x', /upper-case/],
    ['allow GET x', /start with "\/"/],
    ['allow GET /x?y=1', /query/],
    ['allow GET /repos/../user', /write "\/user"/],
    ['allow GET /a//b', /write "\/a\/b"/],
    ['allow GET /%7euser', /write "\/~user"/],
    ['allow GET /@s%2fp', /write "\/@s%2Fp"/],
    ['allow GET /a/..;/b', /dot segment/],
    ['allow GET /a%zz', /percent-escape/],
  ])('rejects %j', (rule, message) => {
    expect(() => parsePathRule(rule)).toThrow(message);
  });

  const p = compilePolicy({
    policy: 'permissive',
    rules: [{ 'api.github.com': ['deny DELETE /**', 'allow GET /repos/**', 'allow * /user', 'deny * /**'] }],
  });
  it.each([
    ['GET', '/repos/o/r?per_page=100', true, 'allow GET /repos/**'],
    ['DELETE', '/repos/o/r', false, 'deny DELETE /**'],
    ['POST', '/user', true, 'allow * /user'],
    ['POST', '/repos/o/r', false, 'deny * /**'],
  ])('%s %s -> %s (first match wins)', (method, path, allowed, rule) => {
    const d = p.checkRequest('api.github.com', 443, method, path);
    expect(d.allowed).toBe(allowed);
    expect(d.rule).toBe(rule);
  });

  it('a path with an encoded slash must be allowed both as written and with it read as "/"', () => {
    const q = compilePolicy({ policy: 'strict', rules: [{ 'r.test': ['deny * /repos/*/keys', 'allow GET /repos/*', 'allow GET /@scope*/**'] }] });
    // A decoding origin routes /repos/x%2Fkeys as /repos/x/keys: the deny applies.
    expect(q.checkRequest('r.test', 443, 'GET', '/repos/x%2Fkeys')).toMatchObject({ allowed: false, rule: 'deny * /repos/*/keys' });
    // Allowed as written, but not with the slash decoded: the policy default (strict) refuses.
    expect(q.checkRequest('r.test', 443, 'GET', '/repos/a%2Fb').allowed).toBe(false);
    expect(q.checkRequest('r.test', 443, 'GET', '/@scope%2Fpkg')).toMatchObject({ allowed: true, rule: 'allow GET /@scope*/**' });
  });

  it('allows a host with path rules at CONNECT and checks paths per request', () => {
    expect(p.checkHost('api.github.com', 443).allowed).toBe(true);
  });

  it('falls back to the policy when no path rule matches', () => {
    const s = compilePolicy({ policy: 'strict', rules: [{ 'h.test': ['allow GET /a'] }] });
    expect(s.checkRequest('h.test', 443, 'GET', '/a').allowed).toBe(true);
    const d = s.checkRequest('h.test', 443, 'GET', '/b?x=1');
    expect(d.allowed).toBe(false);
    expect(d.suggestion).toBe('network:\n  rules:\n    - "h.test":\n        - "allow GET /b"');
    expect(compilePolicy({ rules: [{ 'h.test': ['allow GET /a'] }] }).checkRequest('h.test', 443, 'GET', '/b').allowed).toBe(true);
  });
});

describe('policy decisions', () => {
  it('strict refuses unlisted hosts with the exact moat.yaml line', () => {
    const d = compilePolicy({ policy: 'strict' }).checkHost('example.com', 443);
    expect(d).toMatchObject({ allowed: false, suggestion: 'network:\n  rules:\n    - "example.com"' });
    expect(d.reason).toContain('example.com');
  });

  it('permissive allows by default', () => {
    expect(compilePolicy({}).checkHost('example.com', 443).allowed).toBe(true);
  });

  it('deny wins over rules and grants in either policy', () => {
    for (const policy of ['permissive', 'strict'] as const) {
      const d = compilePolicy({ policy, rules: ['evil.test'], allowHosts: ['evil.test'], deny: ['evil.test'] }).checkHost('evil.test', 443);
      expect(d.allowed).toBe(false);
      expect(d.rule).toBe('evil.test');
      expect(d.suggestion).toContain('network.deny');
    }
  });

  describe('a granted host with allow-only path rules: an unmatched request falls to the policy default', () => {
    const rules = [{ 'api.github.com': ['allow GET /repos/**', 'allow GET /user'] }];
    const allowHosts = ['api.github.com:443'];
    it.each([
      ['strict', 'DELETE', '/user/keys/1', false],
      ['strict', 'POST', '/user/repos', false],
      ['strict', 'GET', '/repos/o/r', true],
      ['permissive', 'DELETE', '/user/keys/1', true],
      ['permissive', 'POST', '/user/repos', true],
    ] as const)('%s: %s %s -> %s', (policy, method, path, allowed) => {
      const d = compilePolicy({ policy, rules, allowHosts }).checkRequest('api.github.com', 443, method, path);
      expect(d.allowed).toBe(allowed);
      if (!allowed) {
        expect(d.reason).toBe(`${method} ${path} on api.github.com matches no rule of "api.github.com" and the policy is strict`);
        expect(d.suggestion).toBe(`network:\n  rules:\n    - "api.github.com":\n        - "allow ${method} ${path}"`);
      }
    });
    it('the grant still opens the host at CONNECT', () => {
      expect(compilePolicy({ policy: 'strict', rules, allowHosts }).checkHost('api.github.com', 443).allowed).toBe(true);
    });
  });

  it('granted hosts are allowed under strict', () => {
    const p = compilePolicy({ policy: 'strict', allowHosts: ['api.github.com', '*.githubusercontent.com'] });
    expect(p.checkHost('api.github.com', 443).allowed).toBe(true);
    expect(p.checkHost('raw.githubusercontent.com', 443).allowed).toBe(true);
    expect(p.checkHost('github.com', 443).allowed).toBe(false);
  });

  it('validatePolicy reports every problem with its location', () => {
    expect(validatePolicy({ rules: ['ok.test', 'http://x', { 'y.test': ['allow GET /', 'nope'] }], deny: ['*'] })).toEqual([
      { path: ['rules', 1], message: expect.stringContaining('scheme') as unknown as string },
      { path: ['rules', 2, 'y.test', 1], message: expect.stringContaining('three parts') as unknown as string },
      { path: ['deny', 0], message: expect.any(String) as unknown as string },
    ]);
    expect(() => compilePolicy({ rules: ['http://x'] })).toThrow(/network\.rules\.0/);
  });
});

describe('injection and redaction', () => {
  it('matches exact hosts and one-label wildcards only', () => {
    const inj = compileInjections([{ grant: 'github', hosts: ['api.github.com', '*.githubusercontent.com'], set: { Authorization: 'Bearer t' } }]);
    expect(inj.find('api.github.com', 443)?.grant).toBe('github');
    expect(inj.find('raw.githubusercontent.com', 443)?.grant).toBe('github');
    expect(inj.find('a.b.githubusercontent.com', 443)).toBeUndefined();
    expect(inj.find('api.github.com.evil.test', 443)).toBeUndefined();
    expect(inj.find('github.com', 443)).toBeUndefined();
    expect(inj.hosts).toEqual(['api.github.com:443', '*.githubusercontent.com:443']);
  });

  it('a grant applies on port 443 unless its host names a port', () => {
    const inj = compileInjections([
      { grant: 'github', hosts: ['api.github.com'], set: { authorization: 'Bearer t' } },
      { grant: 'npm', hosts: ['registry.corp.test:8443', '[::1]'], set: { authorization: 'Bearer n' } },
    ]);
    expect(inj.find('api.github.com', 443)?.grant).toBe('github');
    for (const port of [80, 444, 8443, undefined]) expect(inj.find('api.github.com', port)).toBeUndefined();
    expect(inj.find('registry.corp.test', 8443)?.grant).toBe('npm');
    expect(inj.find('registry.corp.test', 443)).toBeUndefined();
    expect(inj.find('::1', 443)?.grant).toBe('npm');
    expect(inj.hosts).toEqual(['api.github.com:443', 'registry.corp.test:8443', '[::1]:443']);
    // What the proxy allows under strict for a grant: its hosts on their ports, no other port.
    const p = compilePolicy({ policy: 'strict', allowHosts: inj.hosts });
    expect(p.checkHost('api.github.com', 443).allowed).toBe(true);
    expect(p.checkHost('api.github.com', 8080).allowed).toBe(false);
    expect(p.checkHost('registry.corp.test', 8443).allowed).toBe(true);
  });

  it('masks every secret, longest first', () => {
    expect(redact('a sk-ant-123456 b sk-ant-123456789 c', ['sk-ant-123456', 'sk-ant-123456789'])).toBe('a [REDACTED] b [REDACTED] c');
    expect(createRedactor(['x'])('x marks')).toBe('x marks');
    expect(createRedactor(['a.b*c'])('value a.b*c and aXbbc')).toBe('value [REDACTED] and aXbbc');
  });
});

describe('each refusal says which step refused it (the CLI names the fix from it)', () => {
  it('strict, deny, internal, path and credential refusals carry their kind; allowed decisions none', async () => {
    const { credentialedRefusal } = await import('../../../src/gateway/credentialed.js');
    const { refusalFields } = await import('../../../src/gateway/policy.js');
    const p = compilePolicy({ policy: 'strict', rules: ['ok.test', { 'api.github.com': ['allow GET /repos/**', 'deny * /admin/**'] }], deny: ['evil.test'] });
    expect(p.checkHost('unlisted.test', 443)).toMatchObject({ allowed: false, kind: 'strict' });
    expect(p.checkHost('evil.test', 443)).toMatchObject({ allowed: false, kind: 'deny' });
    expect(p.checkHost('127.0.0.1', 8080)).toMatchObject({ allowed: false, kind: 'internal' });
    expect(p.checkRequest('api.github.com', 443, 'GET', '/admin/x')).toMatchObject({ allowed: false, kind: 'path' });
    expect(p.checkRequest('api.github.com', 443, 'POST', '/user')).toMatchObject({ allowed: false, kind: 'path' });
    expect(credentialedRefusal('api.github.com', 'TRACE')).toMatchObject({ allowed: false, kind: 'credential' });
    expect(p.checkHost('ok.test', 443).kind).toBeUndefined();
    expect(refusalFields(p.checkHost('127.0.0.1', 8080), 8080)).toEqual({
      blocked: true,
      reason: expect.stringContaining('127.0.0.1') as string,
      refusal: 'internal',
      port: 8080,
    });
  });
});
