/* eslint-disable no-control-regex -- these tests look for control characters in what moat prints */
import { describe, expect, it } from 'vitest';
import { NetworkNotices, allowPattern, shown, type NetworkLine, type Notice } from '../../../src/run/network-notices.js';

const CONFIG = '~/.moat/config.yaml';
const strict = (host: string): NetworkLine => ({
  type: 'request',
  method: 'CONNECT',
  url: `${host}:443`,
  host,
  status: 403,
  blocked: true,
  refusal: 'strict',
  port: 443,
});
const refused = (host: string, error = 'ECONNREFUSED'): NetworkLine => ({
  type: 'request',
  method: 'GET',
  url: `https://${host}/v1`,
  host,
  status: 502,
  error,
});

function live(n: NetworkNotices, lines: NetworkLine[]): string[] {
  return lines
    .map((l) => n.observe(l))
    .filter((x): x is Notice => x !== undefined)
    .map((x) => n.line(x));
}

describe('network notices: one live line per refused or unreachable host, with the fix', () => {
  it('SSH refused for want of a grant suggests the grant, not --allow-host', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    const ssh: NetworkLine = { type: 'request', method: 'CONNECT', url: 'git.example:22', host: 'git.example', status: 403, blocked: true, port: 22 };
    expect(live(n, [ssh, ssh])).toEqual([
      'blocked SSH to git.example (no SSH grant) — grant it with: moat grant ssh --host git.example, then: moat run -g ssh:git.example',
    ]);
    expect(n.summary()).toEqual([
      'moat: the network refused or could not reach 1 host during this run:',
      '  git.example  blocked: no SSH grant, 2 requests',
      '  git.example: grant it with: moat grant ssh --host git.example, then: moat run -g ssh:git.example.',
    ]);
    expect(n.summary().join('\n')).not.toContain('--allow-host');
  });

  it('names the cause and the exact fix for each kind of refusal and failure', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    expect(
      live(n, [
        strict('www.google.com'),
        { type: 'request', method: 'GET', url: 'http://127.0.0.1:8080/x', host: '127.0.0.1', status: 403, blocked: true, refusal: 'internal', port: 8080 },
        { type: 'request', method: 'CONNECT', url: 'evil.example:443', host: 'evil.example', status: 403, blocked: true, refusal: 'deny', port: 443 },
        {
          type: 'request',
          method: 'DELETE',
          url: 'https://api.github.com/user/keys/1?token=s3cret',
          host: 'api.github.com',
          status: 403,
          blocked: true,
          refusal: 'path',
          port: 443,
        },
        {
          type: 'request',
          method: 'TRACE',
          url: 'https://api.openai.com/',
          host: 'api.openai.com',
          status: 403,
          blocked: true,
          refusal: 'credential',
          port: 443,
        },
        refused('api.example.com'),
        refused('tls.example', 'SELF_SIGNED_CERT_IN_CHAIN'),
        { type: 'request', host: 'slow.example', status: 504, error: 'UND_ERR_HEADERS_TIMEOUT' },
      ]),
    ).toEqual([
      'blocked www.google.com (strict policy) — allow it with --allow-host www.google.com',
      'blocked 127.0.0.1:8080 (this machine or a private network) — allow it with --allow-host 127.0.0.1:8080',
      'blocked evil.example (network.deny) — remove its entry from network.deny in moat.yaml to allow it',
      'blocked DELETE /user/keys/1 on api.github.com (its path rules in network.rules) — add a rule such as "allow DELETE /user/keys/1" to its entry in network.rules in moat.yaml',
      'blocked TRACE / on api.openai.com (it would echo the granted credential back)',
      'cannot reach api.example.com (connection refused) — check your network, or proxy.upstream in ~/.moat/config.yaml if this machine needs a proxy',
      'cannot reach tls.example securely (TLS certificate not trusted) — if a proxy on your network inspects TLS, add its CA certificate to build.ca_certs in ~/.moat/config.yaml',
      'slow.example did not answer in time (no answer in time) — it may be overloaded; try again later',
    ]);
  });

  it('announces each host once, however many requests it refuses', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    expect(live(n, [strict('a.test'), strict('a.test'), refused('b.test'), refused('b.test'), strict('a.test')])).toHaveLength(2);
  });

  it('ignores allowed requests, local answers and upstream errors that do not mean unreachable', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    expect(
      live(n, [
        { type: 'request', host: 'ok.test', status: 200 },
        { type: 'request', host: 'ok.test', status: 502 }, // the upstream's own 502
        { type: 'request', host: 'x.test', status: 502, error: 'SOMETHING_ELSE' },
        { type: 'request', host: 'api.github.com', status: 200, local: true },
        { type: 'trace-budget-reached' } as NetworkLine,
      ]),
    ).toEqual([]);
    expect(n.summary()).toEqual([]);
  });

  it("leaves the image build's refusals out: they were shown while the image built, and --allow-host does not fix them", () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    expect(
      live(n, [
        { ...strict('pypi.org'), phase: 'build' },
        { ...refused('127.0.0.1'), phase: 'build' },
      ]),
    ).toEqual([]);
    expect(n.summary()).toEqual([]);
  });
});

describe('network notices: host names are hostile input', () => {
  it('a host with terminal controls is shown inert, on one line, capped, and never offered as a flag', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    const host = `\x1b]52;c;ZXZpbA==\x07evil\nmoat: fake line${'a'.repeat(300)}`;
    const [line] = live(n, [strict(host)]);
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(line).toContain('^[]52;c;ZXZpbA==^Gevil^Jmoat: fake line');
    expect(line).not.toContain('--allow-host');
    expect(line!.length).toBeLessThan(160);
    expect(n.summary().join('\n')).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });

  it('only a valid host pattern is offered as --allow-host', () => {
    expect(allowPattern('api.example.com')).toBe('api.example.com');
    expect(allowPattern('::1', 8080)).toBe('[::1]:8080');
    expect(allowPattern('a.test; rm -rf ~')).toBeUndefined();
    expect(allowPattern('a.test$(id)')).toBeUndefined();
    expect(shown('x'.repeat(500)).length).toBe(100);
  });

  it('keeps a bounded number of hosts and counts the rest', () => {
    const n = new NetworkNotices({ configPath: CONFIG, maxHosts: 3, shownHosts: 2 });
    const ann = live(
      n,
      Array.from({ length: 50 }, (_, i) => strict(`h${i}.test`)),
    );
    expect(ann).toHaveLength(3);
    const s = n.summary();
    expect(s[0]).toBe('moat: the network refused or could not reach 50 hosts during this run:');
    expect(s).toContain('  and 48 more hosts (`moat trace` lists them)');
    expect(s.filter((l) => /^ {2}h\d+\.test/.test(l))).toHaveLength(2);
  });
});

describe('network notices: one summary at the end', () => {
  it('lists every host once and groups the fixes, not three lines per host', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    live(n, [
      strict('www.google.com'),
      strict('www.google.com'),
      strict('registry.example'),
      { type: 'request', method: 'CONNECT', url: 'evil.example:443', host: 'evil.example', status: 403, blocked: true, refusal: 'deny', port: 443 },
      refused('api.example.com'),
      refused('api.example.com'),
      refused('api.example.com', 'ENOTFOUND'),
      { type: 'refusals', host: 'www.google.com', status: 403, count: 40 },
      { type: 'refusals', host: '*', status: 403, count: 7 },
      { type: 'request', host: 'api.github.com', status: 401, grant: 'github:repo' },
    ]);
    expect(n.summary()).toEqual([
      'moat: the network refused or could not reach 4 hosts during this run:',
      '  www.google.com    blocked: strict policy, 42 requests',
      '  registry.example  blocked: strict policy, 1 request',
      '  evil.example      blocked: network.deny, 1 request',
      '  api.example.com   unreachable: connection refused and DNS lookup failed, 3 requests',
      '  and 7 more refused requests (`moat trace` lists them)',
      '  To allow them, run again with --allow-host www.google.com --allow-host registry.example',
      '    or add to moat.yaml: network: { rules: [ "www.google.com", "registry.example" ] }',
      '  evil.example: in network.deny of moat.yaml; remove the entry to allow it.',
      '  api.example.com: check your network, or proxy.upstream in ~/.moat/config.yaml if this machine needs a proxy.',
      '  The github:repo grant was refused (api.github.com answered 401): it may be expired or lack a scope. Renew it with: moat grant github',
    ]);
  });

  it('a host that answered after failing is not called unreachable', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    live(n, [refused('api.anthropic.com', 'ECONNRESET'), { type: 'request', host: 'api.anthropic.com', status: 200 }]);
    expect(n.summary()).toEqual([]);
  });

  it('a refused grant alone still gets its line', () => {
    const n = new NetworkNotices({ configPath: CONFIG });
    live(n, [
      { type: 'request', host: 'api.github.com', status: 403, grant: 'github' },
      { type: 'request', host: 'api.openai.com', status: 403, grant: 'openai', blocked: true, refusal: 'strict' },
    ]);
    expect(n.summary()).toEqual([
      'moat: the network refused or could not reach 1 host during this run:',
      '  api.openai.com  blocked: strict policy, 1 request',
      '  To allow it, run again with --allow-host api.openai.com',
      '    or add to moat.yaml: network: { rules: [ "api.openai.com" ] }',
      '  The github grant was refused (api.github.com answered 403): it may be expired or lack a scope. Renew it with: moat grant github',
    ]);
  });
});
