/**
 * One validator per rule: what moat.yaml's schema accepts in `network:` is exactly what the gateway
 * compiles, and a rule the gateway would refuse is refused when the file is read, at its LINE:COL.
 * Before, path rules were checked by a looser regex of their own: "allow get /x", "allow GET /a/../b" or a
 * mapping of two hosts passed the schema and failed later in the gateway, with no position in moat.yaml.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse.js';
import { globalConfigSchema, moatConfigSchema } from '../../../src/config/schema.js';
import { compilePolicy, validatePolicy } from '../../../src/gateway/policy.js';

function problems(yaml: string, schema: typeof moatConfigSchema | typeof globalConfigSchema = moatConfigSchema, name = 'moat.yaml'): string[] {
  try {
    parseConfigText(yaml, schema, name);
  } catch (err) {
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  return [];
}

const rulesFor = (rule: string): string => `network:\n  rules:\n    - api.example.com:\n        - "${rule}"\n`;

describe('a path rule the gateway refuses is refused at its moat.yaml:LINE:COL', () => {
  it('a lower-case method (the old regex accepted it)', () => {
    expect(problems(rulesFor('allow get /repos/**'))).toEqual([
      'moat.yaml:4:11: network.rules[0]["api.example.com"][0]: path rule "allow get /repos/**": method "get" must be an upper-case HTTP method or "*"',
    ]);
  });

  it('a path that is not in its normalised form, with the spelling to use', () => {
    expect(problems(rulesFor('allow GET /repos/../admin'))).toEqual([
      'moat.yaml:4:11: network.rules[0]["api.example.com"][0]: path rule "allow GET /repos/../admin": requests are matched on their normalised path, so write "/admin" instead of "/repos/../admin"',
    ]);
  });

  it('a query string, which matching ignores', () => {
    expect(problems(rulesFor('allow GET /search?q=1'))).toEqual([
      'moat.yaml:4:11: network.rules[0]["api.example.com"][0]: path rule "allow GET /search?q=1": query strings are ignored when matching; remove "?q=1"',
    ]);
  });

  it('a path the gateway cannot read unambiguously', () => {
    const [line] = problems(rulesFor('deny * /a/%2e%2e%2fb'));
    expect(line).toMatch(
      /^moat\.yaml:4:11: network\.rules\[0\]\["api\.example\.com"\]\[0\]: path rule "deny \* \/a\/%2e%2e%2fb": the path cannot be read unambiguously/,
    );
  });

  it('a wrong action and a missing path', () => {
    expect(problems('network:\n  rules:\n    - h.example:\n        - permit GET /x\n        - allow GET\n')).toEqual([
      'moat.yaml:4:11: network.rules[0]["h.example"][0]: path rule "permit GET /x" must start with "allow" or "deny", not "permit"',
      'moat.yaml:5:11: network.rules[0]["h.example"][1]: path rule "allow GET" must have three parts: "allow|deny METHOD /path", e.g. "allow GET /repos/**"',
    ]);
  });

  it('a mapping of two hosts in one entry (the gateway takes one host per entry)', () => {
    expect(problems('network:\n  rules:\n    - a.example: ["allow GET /**"]\n      b.example: ["allow GET /**"]\n')).toEqual([
      'moat.yaml:3:7: network.rules[0]: a rules entry with path rules maps exactly one host to its list of rules, this one has 2; write each host as its own "- host:" entry',
    ]);
    expect(problems('network:\n  rules:\n    - {}\n')).toEqual([
      'moat.yaml:3:7: network.rules[0]: a rules entry with path rules maps exactly one host to its list of rules, this one has 0; write each host as its own "- host:" entry',
    ]);
  });
});

describe("a host pattern is refused at its LINE:COL, once, by the gateway's own parser", () => {
  it('in rules, as a host with path rules (at the key), and in deny', () => {
    expect(
      problems('network:\n  rules:\n    - https://api.example.com\n    - "*.com":\n        - allow GET /\n  deny: ["a b.example", "h.example:99999"]\n'),
    ).toEqual([
      'moat.yaml:3:7: network.rules[0]: host pattern "https://api.example.com" has a URL scheme; write only the host, e.g. "api.example.com"',
      'moat.yaml:4:7: network.rules[1]["*.com"]: host pattern "*.com" is too broad; use a wildcard under a domain, e.g. "*.example.com"',
      'moat.yaml:6:10: network.deny[0]: host pattern "a b.example" contains whitespace',
      'moat.yaml:6:25: network.deny[1]: invalid port "99999" in "h.example:99999" (expected 1-65535)',
    ]);
  });

  it('an empty pattern gets one message, not a length error besides it', () => {
    expect(problems('network:\n  deny: [""]\n')).toEqual(['moat.yaml:2:10: network.deny[0]: empty host pattern']);
  });

  it("in the global config's build.allow_hosts", () => {
    expect(problems('build:\n  allow_hosts:\n    - apt.corp.example/debian\n', globalConfigSchema, 'config.yaml')).toEqual([
      'config.yaml:3:7: build.allow_hosts[0]: host pattern "apt.corp.example/debian" contains a path; write only the host (path rules go under the host)',
    ]);
  });
});

describe('what the schema accepts in network: is what the gateway compiles', () => {
  const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
  const host = fc.oneof(
    pick(['api.example.com', '*.example.com', 'h.example:8443', '[::1]:8080', '10.0.0.1', 'localhost', '*.x:443']),
    pick(['', ' ', '*.com', 'a b', 'http://h.example', 'h.example/p', 'h.example:0', 'a*.example', '-bad.example', '*']),
    fc.string({ maxLength: 12 }),
  );
  const method = fc.oneof(pick(['GET', 'POST', '*', 'get', 'PATCH-X', 'G3T', '']), fc.string({ maxLength: 5 }));
  const path = fc.oneof(
    pick(['/', '/**', '/repos/*/issues', '/a/../b', '/a//b', '/x?y', '/%2e%2e/', '/@scope%2Fname', 'rel', '/a b', '/ü', '/a/%zz']),
    fc.string({ maxLength: 10 }).map((s) => `/${s}`),
  );
  const rule = fc.oneof(
    fc.tuple(pick(['allow', 'deny', 'permit', 'ALLOW']), method, path).map(([a, m, p]) => `${a} ${m} ${p}`),
    fc.string({ maxLength: 16 }),
  );
  const entry = fc.oneof(host, fc.dictionary(host, fc.array(rule, { maxLength: 3 }), { minKeys: 0, maxKeys: 2 }));
  const network = fc.record(
    { policy: pick(['permissive', 'strict'] as const), rules: fc.array(entry, { maxLength: 4 }), deny: fc.array(host, { maxLength: 3 }) },
    { requiredKeys: [] },
  );

  it('accepted by the schema <=> valid for the gateway, and then it compiles', () => {
    fc.assert(
      fc.property(network, (n) => {
        const accepted = moatConfigSchema.safeParse({ network: n }).success;
        const gatewayProblems = validatePolicy({ ...n, allowHosts: [] });
        expect(accepted).toBe(gatewayProblems.length === 0);
        if (accepted) expect(() => compilePolicy({ ...n, allowHosts: [] })).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
