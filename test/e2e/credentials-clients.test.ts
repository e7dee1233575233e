/**
 * Credentials with real clients (issue 5, "Proof"): `git clone`/`git push` over HTTPS through the gateway
 * to a fake smart-HTTP `github.com` (the real `git http-backend`) that requires the Basic credential;
 * `gh api user` reaching a fake `api.github.com`; an npm grant reaching a fake `registry.npmjs.org`. The
 * containers only ever hold placeholders. Upstreams are a local fake HTTPS server reached through the
 * test-only upstream override.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeGitHttp, type FakeGitHttp } from '../fakes/git-http.js';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, grantToken, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { filesContaining, makeWorkspace, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';

const HOSTS = ['api.github.com', 'github.com', 'registry.npmjs.org'];
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const rand62 = (n: number): string => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');

/** Distinctive fake secrets, fresh per test run. */
const GITHUB_TOKEN = `ghp_${rand62(36)}`;
const NPM_TOKEN = `npm_${rand62(36)}`;
const GITHUB_BASIC = Buffer.from(`x-access-token:${GITHUB_TOKEN}`).toString('base64');
const GITHUB_FORMS = [GITHUB_TOKEN, GITHUB_BASIC, Buffer.from(GITHUB_TOKEN).toString('base64')];

let home: string;
let root: string;
let fake: FakeUpstream;
let gitFake: FakeGitHttp;
let env: NodeJS.ProcessEnv;
let n = 0;

const ws = (yaml = ''): Promise<string> => makeWorkspace(root, `ws${++n}`, yaml);
const seen = (host: string, path?: string) => requestsTo(fake, host, path);

/** Git inside the container: no prompts, no user config needed, an identity for commits. */
const GIT_ENV = [
  'export GIT_TERMINAL_PROMPT=0 GCM_INTERACTIVE=never',
  'export GIT_AUTHOR_NAME=Moat GIT_AUTHOR_EMAIL=moat@example.test GIT_COMMITTER_NAME=Moat GIT_COMMITTER_EMAIL=moat@example.test',
  'cd "$(mktemp -d)"',
].join('\n');

beforeAll(async () => {
  home = await tempDir('credcli-home');
  root = await tempDir('credcli-ws');
  gitFake = await createFakeGitHttp({ root, repo: 'acme/repo', token: GITHUB_TOKEN });
  fake = await startFakeUpstream({
    routes: {
      ...gitFake.routes,
      '/user': (req, res) => {
        req.resume();
        const body = JSON.stringify({ login: 'octo', id: 1 });
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      '/-/whoami': (req, res) => {
        req.resume();
        const body = JSON.stringify({ username: 'npm-octo' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    },
  });
  env = await upstreamOverrideEnv(root, Object.fromEntries(HOSTS.map((h) => [h, fake.httpsPort])), [fake.ca.certPem]);
  const cwd = await ws();
  await grantToken('github', GITHUB_TOKEN, { home, cwd, env });
  await grantToken('npm', NPM_TOKEN, { home, cwd, env });
  await warmImage(home, cwd, env);
}, 600_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe.concurrent('real clients through the gateway', () => {
  it('git clone, commit and push over HTTPS with the github grant: unprompted, the fake saw the real Basic credential', async () => {
    const cwd = await ws('grants: [github]\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      GIT_ENV,
      'git clone -q https://github.com/acme/repo.git repo && echo CLONED',
      'cd repo',
      'cat README.md',
      'echo "from the container" > container.txt',
      'git add container.txt && git commit -q -m "commit from the container" && echo COMMITTED',
      'git push -q origin HEAD:main && echo PUSHED',
      'echo "CONFIG=$(git config --list --show-origin | base64 -w0)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env, timeoutMs: 90_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('CLONED');
    expect(r.stdout).toContain('# fake repo');
    expect(r.stdout).toContain('COMMITTED');
    expect(r.stdout).toContain('PUSHED');

    // The push landed in the bare repository on the host.
    expect(await gitFake.git(['log', '--format=%s', 'main'])).toBe('commit from the container\ninitial commit\n');
    expect(await gitFake.git(['show', 'main:container.txt'])).toBe('from the container\n');

    // Every request that reached the fake carried the real credential; both services were used.
    // (The concurrent no-grant test marks its requests with X-Moat-Test.) No request was ever refused:
    // the credential was there from the first one, so git never had to ask.
    const mine = gitFake.requests.filter((q) => q.headers['x-moat-test'] === undefined);
    expect(mine.filter((q) => q.status !== 200)).toEqual([]);
    expect(mine.some((q) => q.path === '/acme/repo.git/info/refs?service=git-upload-pack')).toBe(true);
    expect(mine.some((q) => q.path === '/acme/repo.git/git-upload-pack')).toBe(true);
    expect(mine.some((q) => q.path === '/acme/repo.git/info/refs?service=git-receive-pack')).toBe(true);
    expect(mine.some((q) => q.path === '/acme/repo.git/git-receive-pack' && q.method === 'POST')).toBe(true);
    for (const q of mine) expect(q.authorization).toBe(`Basic ${GITHUB_BASIC}`);

    // Nothing in the container's git configuration, nor in the run's files, holds the secret.
    const config = Buffer.from(/^CONFIG=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64').toString('utf8');
    for (const f of GITHUB_FORMS) expect(config).not.toContain(f);
    for (const f of GITHUB_FORMS) expect(r.stdout + r.stderr).not.toContain(f);
    const id = runIdOf(r.stdout);
    const lines = await waitNetLog(home, id, 4);
    expect(lines.find((l) => l.host.split(':')[0] === 'github.com')?.grant).toBe('github');
    expect(await filesContaining(join(home, 'runs', id), GITHUB_FORMS)).toEqual([]);
  });

  it('git clone without the github grant fails at once with 401 (no prompt, no hang)', async () => {
    const cwd = await ws();
    const started = Date.now();
    // A marker header tells this test's requests from the concurrent granted clone's.
    const script = [GIT_ENV, 'git -c http.extraHeader="X-Moat-Test: no-grant" clone https://github.com/acme/repo.git repo; echo "CLONE_EXIT=$?"'].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(r.stdout).toMatch(/CLONE_EXIT=(?!0\b)\d+/);
    // git reports the refused authentication rather than waiting for a username.
    expect(r.stdout + r.stderr).toContain("fatal: could not read Username for 'https://github.com': terminal prompts disabled");
    const mine = gitFake.requests.filter((q) => q.headers['x-moat-test'] === 'no-grant');
    expect(mine.length).toBeGreaterThan(0);
    for (const q of mine) {
      expect(q.status).toBe(401);
      expect(q.authorization).toBeUndefined(); // no grant: the gateway adds nothing
    }
  });

  it('gh api user with the github grant reaches the fake api.github.com and prints octo; the fake got the gateway Bearer', async () => {
    const cwd = await ws('grants: [github]\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'export GH_NO_UPDATE_NOTIFIER=1 GH_PROMPT_DISABLED=1 GH_SPINNER_DISABLED=1',
      'echo "GH_TOKEN=$GH_TOKEN"',
      'gh api user --jq .login',
    ].join('\n');
    const before = seen('api.github.com', '/user').length;
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^octo$/m);
    const placeholder = /^GH_TOKEN=(.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(placeholder).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(placeholder).not.toBe(GITHUB_TOKEN);
    const got = seen('api.github.com', '/user').slice(before);
    expect(got.length).toBeGreaterThanOrEqual(1);
    for (const q of got) {
      // gh sends `token <placeholder>`; the gateway replaces the whole header with its own value.
      expect(q.headers.authorization).toBe(`Bearer ${GITHUB_TOKEN}`);
      expect(q.headers['user-agent'] ?? '').toMatch(/GitHub CLI/);
    }
    expect(r.stdout + r.stderr).not.toContain(GITHUB_TOKEN);
  });

  it('npm grant: the fake registry.npmjs.org gets Bearer <real npm token>; ~/.npmrc in the container holds only a placeholder', async () => {
    const cwd = await ws('grants: [npm]\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'echo "NPM_TOKEN=$NPM_TOKEN"',
      'echo "WHOAMI=$(curl -s https://registry.npmjs.org/-/whoami)"',
      'echo "NPMRC=$(base64 -w0 < ~/.npmrc)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('WHOAMI={"username":"npm-octo"}');
    const got = seen('registry.npmjs.org', '/-/whoami');
    expect(got).toHaveLength(1);
    expect(got[0]!.headers.authorization).toBe(`Bearer ${NPM_TOKEN}`);

    const npmrc = Buffer.from(/^NPMRC=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64').toString('utf8');
    const m = /^\/\/registry\.npmjs\.org\/:_authToken=(npm_[A-Za-z0-9]{36})$/m.exec(npmrc);
    expect(m, npmrc).not.toBeNull();
    expect(m![1]).not.toBe(NPM_TOKEN);
    expect(npmrc).not.toContain(NPM_TOKEN);
    expect(/^NPM_TOKEN=(.*)$/m.exec(r.stdout)?.[1]).toBe(m![1]);
    expect(r.stdout + r.stderr).not.toContain(NPM_TOKEN);

    const id = runIdOf(r.stdout);
    const lines = await waitNetLog(home, id, 1);
    expect(lines.find((l) => l.url === 'https://registry.npmjs.org/-/whoami')?.grant).toBe('npm');
    expect(await filesContaining(join(home, 'runs', id), [NPM_TOKEN])).toEqual([]);
  });
});
