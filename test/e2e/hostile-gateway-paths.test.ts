/**
 * A run's container against the path rules of a granted host: every spelling of a refused path that an
 * origin could serve as `/user` (`curl --path-as-is`, origin-form in CONNECT and absolute-form on plain
 * HTTP) is refused or reaches the fake upstream with its normalised path; a granted host with allow-only
 * rules refuses unmatched requests under strict; a grant applies on port 443 only. The fake upstream is
 * reached through the test-only upstream override, with the GitHub grant's real token injected.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, grantToken, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { makeWorkspace, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';

const TOKEN = `ghp_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'A').slice(0, 36)}`;

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;
let n = 0;

const ws = (yaml: string): Promise<string> => makeWorkspace(root, `ws${++n}`, yaml);
const run = (cwd: string, script: string) => moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env });
/** What the fake saw for api.github.com. */
const seenPaths = (): string[] => requestsTo(fake, 'api.github.com').map((r) => r.path);

beforeAll(async () => {
  home = await tempDir('gwpath-home');
  root = await tempDir('gwpath-ws');
  fake = await startFakeUpstream();
  env = await upstreamOverrideEnv(root, { 'api.github.com': fake.httpsPort }, [fake.ca.certPem]);
  const cwd = await ws('');
  await grantToken('github', TOKEN, { home, cwd, env });
  await warmImage(home, cwd, env);
});

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

/** Hostile spellings of GET /user and the status each must get (400: unreadable, 403: decided as /user). */
const SPELLINGS: [string, number][] = [
  ['/repos/../user', 403],
  ['/repos/%2e%2e/user', 403],
  ['/repos/%2E%2E/user', 403],
  ['/repos/.%2e/user', 403],
  ['/repos/o/../../user', 403],
  ['/repos//../user', 403],
  ['/repos/..%2fuser', 400],
  ['/repos/..%5cuser', 400],
  ['/repos/..;/user', 400],
  ['/repos/%c0%ae%c0%ae/user', 400],
  ['/repos/%252e%252e/user', 400],
];

describe.concurrent('hostile paths on a granted host with path rules', () => {
  it('curl --path-as-is: each spelling of /user is refused, in origin-form and absolute-form alike; a dot segment under /repos reaches the fake normalised', async () => {
    const cwd = await ws('grants: [github]\nnetwork:\n  policy: strict\n  rules:\n    - "api.github.com": ["allow GET /repos/**", "deny * /**"]\n');
    const lines = ['echo RUN=$MOAT_RUN_ID'];
    SPELLINGS.forEach(([path], i) => {
      lines.push(`curl --path-as-is -sS -o /dev/null -w "tls${i}=%{http_code}\\n" 'https://api.github.com${path}'`);
      // Plain HTTP through the proxy: curl sends the absolute-form target.
      lines.push(`curl --path-as-is -sS -o /dev/null -w "abs${i}=%{http_code}\\n" 'http://api.github.com${path}'`);
    });
    lines.push(
      `curl --path-as-is -sS -o /dev/null -w "ok=%{http_code}\\n" 'https://api.github.com/repos/t1/x/../r/%2e/pulls?q=a/../b'`,
      `curl -sS -X TRACE -o /dev/null -w "trace=%{http_code}\\n" https://api.github.com/repos/t1/r/trace`,
      `curl -sS -o /dev/null -w "hdr=%{http_code}\\n" -H 'X-Original-URL: /user' -H 'X-HTTP-Method-Override: DELETE' https://api.github.com/repos/t1/r/hdr`,
    );
    const r = await run(cwd, lines.join('\n'));
    expect(r.code, r.stderr).toBe(0);
    SPELLINGS.forEach(([path, status], i) => {
      expect(r.stdout, path).toContain(`tls${i}=${status}\n`);
      expect(r.stdout, path).toContain(`abs${i}=${status}\n`);
    });
    expect(r.stdout).toContain('ok=200');
    expect(r.stdout).toContain('trace=403');
    expect(r.stdout).toContain('hdr=200');

    // The fake saw only paths under /repos, each normalised; the credential went with them.
    const got = requestsTo(fake, 'api.github.com').filter((q) => q.path.startsWith('/repos/t1/'));
    expect(got.map((q) => q.path).sort()).toEqual(['/repos/t1/r/hdr', '/repos/t1/r/pulls?q=a/../b']);
    for (const q of got) expect(q.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const hdr = got.find((q) => q.path === '/repos/t1/r/hdr')!;
    expect(hdr.headers['x-original-url']).toBeUndefined();
    expect(hdr.headers['x-http-method-override']).toBeUndefined();
    expect(seenPaths().filter((p) => !p.startsWith('/repos/'))).toEqual([]);
    expect(seenPaths().some((p) => p.includes('..') && !p.includes('?'))).toBe(false);

    // The request log records what was decided on and sent.
    const net = await waitNetLog(home, runIdOf(r.stdout), SPELLINGS.length * 2 + 3);
    expect(net.find((l) => l.status === 200 && l.url.includes('/pulls'))?.url).toBe('https://api.github.com/repos/t1/r/pulls?q=a/../b');
    expect(net.find((l) => l.url === 'https://api.github.com/user' && l.method === 'GET')?.reason).toContain('deny * /**');
  });

  it('strict: a granted host with allow-only rules refuses unmatched requests instead of sending them with the credential', async () => {
    const cwd = await ws('grants: [github]\nnetwork:\n  policy: strict\n  rules:\n    - "api.github.com": ["allow GET /repos/**"]\n');
    const script = [
      'curl -sS -o /dev/null -w "repos=%{http_code}\\n" https://api.github.com/repos/o/r/allowonly',
      'curl -sS -X DELETE -D - -o /dev/null -w "delete=%{http_code}\\n" https://api.github.com/user/keys/1',
      'curl -sS -X POST -o /dev/null -w "post=%{http_code}\\n" https://api.github.com/user/repos',
    ].join('\n');
    const r = await run(cwd, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('repos=200');
    expect(r.stdout).toContain('delete=403');
    expect(r.stdout).toContain('post=403');
    expect(r.stdout).toMatch(/^x-moat-blocked: DELETE \/user\/keys\/1 on api\.github\.com matches no rule of "api\.github\.com" and the policy is strict/im);
    expect(seenPaths()).toContain('/repos/o/r/allowonly');
    expect(seenPaths()).not.toContain('/user/keys/1');
    expect(seenPaths()).not.toContain('/user/repos');
  });

  it('a grant applies on port 443 only: another port of the same host gets no credential (permissive) or is refused (strict)', async () => {
    const permissive = await ws('grants: [github]\n');
    const p = await run(
      permissive,
      'curl -sS -o /dev/null -w "p8443=%{http_code}\\n" -H "Authorization: Bearer $GH_TOKEN" https://api.github.com:8443/repos/o/r/port8443',
    );
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('p8443=200');
    const got = requestsTo(fake, 'api.github.com', '/repos/o/r/port8443');
    expect(got).toHaveLength(1);
    expect(got[0]!.headers.authorization).not.toContain(TOKEN);
    expect(got[0]!.headers.authorization).toMatch(/^Bearer ghp_/); // the container's placeholder, untouched

    const strict = await ws('grants: [github]\nnetwork:\n  policy: strict\n');
    const s = await run(
      strict,
      'curl -sS -o /dev/null -w "s8443=%{http_code}\\n" https://api.github.com:8443/repos/o/r/strict8443; echo "s443=$(curl -sS -o /dev/null -w "%{http_code}" https://api.github.com/repos/o/r/strict443)"',
    );
    expect(s.stdout).toMatch(/s8443=(000|403)/); // refused at CONNECT: curl reports 000 or the 403
    expect(s.stdout).toContain('s443=200');
    expect(requestsTo(fake, 'api.github.com', '/repos/o/r/strict8443')).toHaveLength(0);
  });
});
