import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { claude, github, npm, openai } from '../../../src/credentials/providers/index.js';
import { catalogProviders } from '../../../src/credentials/providers/registry.js';
import { parseCodexAuth } from '../../../src/credentials/providers/codex-auth.js';
import { fakeContext, jwt, tempHome, type TempHome } from './helpers.js';

/** A catalog entry now (data/catalog/anthropic.yaml); `moat grant anthropic` behaves as when it was code. */
const anthropic = catalogProviders().find((p) => p.name === 'anthropic')!;

let t: TempHome;
beforeEach(async () => {
  t = await tempHome();
});
afterEach(async () => {
  await t.cleanup();
});

async function hostFile(rel: string, content: string): Promise<void> {
  const path = join(t.dir, rel);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
}

describe('grant flows without a terminal', () => {
  it('--token-stdin reads and trims stdin', async () => {
    const ctx = fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve('  ghp_fromstdin\n') });
    expect(await github.grant(ctx)).toEqual({ provider: 'github', kind: 'token', secret: { token: 'ghp_fromstdin' }, source: 'stdin' });
  });

  it('empty stdin is a clear error', async () => {
    const ctx = fakeContext({ tokenStdin: true });
    await expect(anthropic.grant(ctx)).rejects.toThrow(/No Anthropic API key on stdin/);
  });

  it('reads the provider env var, GITHUB_TOKEN before GH_TOKEN', async () => {
    const ctx = fakeContext({ env: { GH_TOKEN: 'ghp_b', GITHUB_TOKEN: 'ghp_a' } });
    expect(await github.grant(ctx)).toMatchObject({ secret: { token: 'ghp_a' }, source: 'env:GITHUB_TOKEN' });
    expect(await openai.grant(fakeContext({ env: { OPENAI_API_KEY: 'sk-env' } }))).toMatchObject({ kind: 'api-key', secret: { token: 'sk-env' } });
  });

  it('github falls back to `gh auth token`', async () => {
    const calls: string[] = [];
    const ctx = fakeContext({ capture: (cmd, args) => (calls.push([cmd, ...args].join(' ')), Promise.resolve('gho_fromgh\n')) });
    expect(await github.grant(ctx)).toMatchObject({ secret: { token: 'gho_fromgh' }, source: 'gh auth token' });
    expect(calls).toEqual(['gh auth token']);
  });

  it('with no source and no terminal, says how to pipe the token', async () => {
    const err = await anthropic.grant(fakeContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).hint).toBe('Pipe it in: moat grant anthropic --token-stdin or set ANTHROPIC_API_KEY');
  });

  it('npm takes literal tokens from the host .npmrc, or NPM_TOKEN', async () => {
    await hostFile('.npmrc', '//registry.npmjs.org/:_authToken=npm_fromrc\n');
    expect(await npm.grant(fakeContext({ hostHome: t.dir }))).toMatchObject({ secret: { '//registry.npmjs.org/': 'npm_fromrc' } });
    expect(await npm.grant(fakeContext({ hostHome: t.dir, env: { NPM_TOKEN: 'npm_env' } }))).toMatchObject({
      secret: { '//registry.npmjs.org/': 'npm_env' },
      source: 'env:NPM_TOKEN',
    });
  });
});

describe('grant flows on a terminal', () => {
  it('prompts for a hidden token', async () => {
    const asked: string[] = [];
    const ctx = fakeContext({ isTTY: true, promptSecret: (m) => (asked.push(m), Promise.resolve('sk-ant-typed')) });
    expect(await anthropic.grant(ctx)).toMatchObject({ secret: { token: 'sk-ant-typed' }, source: 'prompt' });
    expect(asked).toHaveLength(1);
  });

  it('lets Ctrl-C (ExitPromptError) propagate for the CLI to exit cleanly', async () => {
    const exit = Object.assign(new Error('User force closed the prompt with SIGINT'), { name: 'ExitPromptError' });
    const ctx = fakeContext({ isTTY: true, promptSecret: () => Promise.reject(exit) });
    await expect(github.grant(ctx)).rejects.toBe(exit);
  });

  it('claude: runs `claude setup-token` attached, then reads the pasted token', async () => {
    const ran: string[] = [];
    const ctx = fakeContext({
      isTTY: true,
      choose: <T extends string>() => Promise.resolve('setup' as T),
      runAttached: (cmd, args) => (ran.push([cmd, ...args].join(' ')), Promise.resolve(0)),
      promptSecret: () => Promise.resolve('sk-ant-oat01-pasted'),
    });
    expect(await claude.grant(ctx)).toEqual({ provider: 'claude', kind: 'oauth', secret: { token: 'sk-ant-oat01-pasted' }, source: 'claude setup-token' });
    expect(ran).toEqual(['claude setup-token']);
  });
});

describe('imports of host logins', () => {
  it('claude --import reads ~/.claude/.credentials.json', async () => {
    await hostFile(
      '.claude/.credentials.json',
      JSON.stringify({
        claudeAiOauth: {
          accessToken: 'sk-ant-oat01-host',
          refreshToken: 'sk-ant-ort01-host',
          expiresAt: Date.UTC(2030, 0, 1),
          scopes: ['user:inference'],
          subscriptionType: 'pro',
        },
      }),
    );
    const got = await claude.grant(fakeContext({ hostHome: t.dir, import: true }));
    expect(got).toMatchObject({
      provider: 'claude',
      kind: 'oauth',
      secret: { token: 'sk-ant-oat01-host', refreshToken: 'sk-ant-ort01-host' },
      expiresAt: '2030-01-01T00:00:00.000Z',
      meta: { subscriptionType: 'pro' },
    });
    expect(got.source).toBe(`import:${join(t.dir, '.claude/.credentials.json')}`);
  });

  it('claude --import without a login names the alternative', async () => {
    await expect(claude.grant(fakeContext({ hostHome: t.dir, import: true }))).rejects.toThrow(/No Claude Code login found/);
  });

  it('openai --import reads the current Codex auth.json shape (tokens)', async () => {
    const access = jwt({ exp: 1_900_000_000, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-1', chatgpt_plan_type: 'plus' } });
    await hostFile(
      '.codex/auth.json',
      JSON.stringify({
        OPENAI_API_KEY: null,
        tokens: { id_token: jwt({ email: 'a@b.c' }), access_token: access, refresh_token: 'rt_host', account_id: 'acct-1' },
        last_refresh: '2025-01-01T00:00:00Z',
      }),
    );
    const got = await openai.grant(fakeContext({ hostHome: t.dir, import: true }));
    expect(got).toMatchObject({
      provider: 'openai',
      kind: 'chatgpt',
      secret: { accessToken: access, refreshToken: 'rt_host' },
      meta: { accountId: 'acct-1', planType: 'plus' },
      expiresAt: new Date(1_900_000_000_000).toISOString(),
    });
    expect(got.secret.idToken).toBeDefined();
  });

  it('openai --import reads the older Codex auth.json shape ({token})', async () => {
    const access = jwt({ exp: 1_900_000_000, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-old' } });
    await hostFile('.codex/auth.json', JSON.stringify({ token: access }));
    expect(await openai.grant(fakeContext({ hostHome: t.dir, import: true }))).toMatchObject({
      kind: 'chatgpt',
      secret: { accessToken: access },
      meta: { accountId: 'acct-old' },
    });
    expect(parseCodexAuth(JSON.stringify({ token: 'sk-old-key' }), 'x')).toMatchObject({ kind: 'api-key', secret: { token: 'sk-old-key' } });
    expect(parseCodexAuth(JSON.stringify({ OPENAI_API_KEY: 'sk-k', tokens: null }), 'x')).toMatchObject({ kind: 'api-key' });
  });

  it('openai --import honours CODEX_HOME and reports a missing or broken file', async () => {
    await hostFile('alt/auth.json', '{not json');
    await expect(openai.grant(fakeContext({ hostHome: t.dir, import: true, env: { CODEX_HOME: join(t.dir, 'alt') } }))).rejects.toThrow(/not valid JSON/);
    await expect(openai.grant(fakeContext({ hostHome: t.dir, import: true }))).rejects.toThrow(/No Codex login found/);
    expect(() => parseCodexAuth('{}', 'p')).toThrow(/holds no Codex login/);
  });
});
