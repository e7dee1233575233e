import { describe, expect, it } from 'vitest';
import { claude, github, npm, openai, providers } from '../../../src/credentials/providers/index.js';
import { catalogProviders } from '../../../src/credentials/providers/registry.js';
import { FAR_FUTURE_MS } from '../../../src/credentials/providers/claude.js';
import { parseNpmrcTokens } from '../../../src/credentials/providers/npm.js';
import type { Placeholders, StoredCredential } from '../../../src/credentials/types.js';
import { cred, jwt } from './helpers.js';

const GH = 'ghp_REALSECRETREALSECRETREALSECRET1234';
const ACCESS = jwt({ exp: 2_000_000_000, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-real-1', chatgpt_plan_type: 'pro' } });

const anthropic = catalogProviders().find((p) => p.name === 'anthropic')!;

const samples: Record<string, StoredCredential[]> = {
  github: [cred({ secret: { token: GH } })],
  anthropic: [cred({ provider: 'anthropic', kind: 'api-key', secret: { token: 'sk-ant-api03-REALKEYREALKEYREALKEY-AA' } })],
  claude: [cred({ provider: 'claude', kind: 'oauth', secret: { token: 'sk-ant-oat01-REALOAUTHREALOAUTH-AA', refreshToken: 'sk-ant-ort01-REALREFRESH' } })],
  openai: [
    cred({ provider: 'openai', kind: 'api-key', secret: { token: 'sk-proj-REALOPENAIKEYREALOPENAIKEY' } }),
    cred({
      provider: 'openai',
      kind: 'chatgpt',
      secret: { accessToken: ACCESS, idToken: 'REAL-ID-TOKEN-VALUE', refreshToken: 'rt_REALREFRESHTOKEN' },
      meta: { accountId: 'acct-real-1', planType: 'pro' },
    }),
  ],
  npm: [
    cred({
      provider: 'npm',
      kind: 'token',
      secret: { '//registry.npmjs.org/': 'npm_REALNPMTOKENREALNPMTOKEN1234567890', '//npm.pkg.github.com/': 'ghp_REALGHPKGTOKEN' },
    }),
  ],
  // An aws grant stores no real secret at all: only the placeholder key pair the gateway verifies against.
  aws: [
    cred({
      provider: 'aws',
      kind: 'role',
      secret: { placeholderAccessKeyId: 'ASIAPLACEHOLDERPLACE', placeholderSecretAccessKey: 'p'.repeat(40), placeholderSessionToken: 't'.repeat(300) },
      meta: { roleArn: 'arn:aws:iam::123456789012:role/r', region: 'eu-west-1' },
    }),
  ],
};
/** Providers whose placeholder is random per call (aws keeps one stored pair: signatures are checked with it). */
const randomPlaceholders = providers.filter((p) => p.name !== 'aws');

function allText(p: Placeholders): string {
  return JSON.stringify(p.env) + p.files.map((f) => f.path + f.content).join('\n');
}

function b64urlJson(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('providers', () => {
  it('registry lists one module per provider', () => {
    expect(providers.map((p) => p.name)).toEqual(['github', 'claude', 'openai', 'npm', 'aws']);
  });

  it('github injects Bearer on the API and uploads.github.com, Basic x-access-token on github.com, nothing on githubusercontent.com', () => {
    const inj = github.injections(samples.github![0]!);
    expect(inj).toEqual([
      { grant: 'github', hosts: ['api.github.com'], set: { authorization: `Bearer ${GH}` } },
      { grant: 'github', hosts: ['github.com'], set: { authorization: `Basic ${Buffer.from(`x-access-token:${GH}`).toString('base64')}` } },
      { grant: 'github', hosts: ['uploads.github.com'], set: { authorization: `Bearer ${GH}` } },
    ]);
    expect(inj.flatMap((i) => i.hosts).some((h) => h.includes('githubusercontent'))).toBe(false);
    const p = github.placeholder(samples.github![0]!);
    expect(p.env.GH_TOKEN).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(p.env.GITHUB_TOKEN).toBe(p.env.GH_TOKEN);
    expect(p.files).toEqual([]);
  });

  it('anthropic (a catalog entry) injects x-api-key; placeholder is sk-ant-api03-…', () => {
    const c = samples.anthropic![0]!;
    expect(anthropic.envVars).toEqual(['ANTHROPIC_API_KEY']);
    expect(anthropic.injections(c)).toEqual([{ grant: 'anthropic', hosts: ['api.anthropic.com'], set: { 'x-api-key': c.secret.token } }]);
    expect(anthropic.placeholder(c).env.ANTHROPIC_API_KEY).toMatch(/^sk-ant-api03-[A-Za-z0-9_-]{93}AA$/);
  });

  it('claude injects Bearer + oauth beta and removes x-api-key; placeholder is a Claude Code credentials file', () => {
    const c = samples.claude![0]!;
    expect(claude.injections(c)).toEqual([
      {
        grant: 'claude',
        hosts: ['api.anthropic.com'],
        set: { authorization: `Bearer ${c.secret.token}`, 'anthropic-beta': 'oauth-2025-04-20' },
        remove: ['x-api-key'],
      },
    ]);
    const p = claude.placeholder(c);
    expect(p.env).toEqual({});
    expect(p.files).toHaveLength(1);
    const f = p.files[0]!;
    expect(f.path).toBe('.claude/.credentials.json');
    expect(f.mode).toBe(0o600);
    const o = (JSON.parse(f.content) as { claudeAiOauth: Record<string, unknown> }).claudeAiOauth;
    expect(o.accessToken).toMatch(/^sk-ant-oat01-[A-Za-z0-9_-]{93}AA$/);
    expect(o.refreshToken).toMatch(/^sk-ant-ort01-/);
    expect(o.expiresAt).toBe(FAR_FUTURE_MS);
    expect(new Date(o.expiresAt as number).getUTCFullYear()).toBe(2099);
    expect(o.scopes).toEqual(['user:inference', 'user:profile']);
    expect(o.subscriptionType).toBe('max');
  });

  it('openai API key: Bearer on api.openai.com; placeholder sk-…', () => {
    const c = samples.openai![0]!;
    expect(openai.injections(c)).toEqual([{ grant: 'openai', hosts: ['api.openai.com'], set: { authorization: `Bearer ${c.secret.token}` } }]);
    expect(openai.placeholder(c).env.OPENAI_API_KEY).toMatch(/^sk-[A-Za-z0-9_-]{20,}$/);
  });

  it('openai ChatGPT sign-in: Bearer + ChatGPT-Account-Id on chatgpt.com and api.openai.com; placeholder auth.json', () => {
    const c = samples.openai![1]!;
    expect(openai.injections(c)).toEqual([
      { grant: 'openai', hosts: ['chatgpt.com', 'api.openai.com'], set: { authorization: `Bearer ${ACCESS}`, 'chatgpt-account-id': 'acct-real-1' } },
    ]);
    const p = openai.placeholder(c);
    expect(p.env).toEqual({});
    const f = p.files[0]!;
    expect(f.path).toBe('.codex/auth.json');
    expect(f.mode).toBe(0o600);
    const auth = JSON.parse(f.content) as { OPENAI_API_KEY: null; tokens: Record<string, string>; last_refresh: string };
    expect(auth.OPENAI_API_KEY).toBeNull();
    expect(Number.isNaN(Date.parse(auth.last_refresh))).toBe(false);
    for (const t of [auth.tokens.id_token!, auth.tokens.access_token!]) {
      expect(t).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      const [h, payload] = t.split('.');
      expect(b64urlJson(h!).alg).toBe('RS256');
      const claims = b64urlJson(payload!);
      expect(new Date((claims.exp as number) * 1000).getUTCFullYear()).toBeGreaterThanOrEqual(2099);
      const authClaim = claims['https://api.openai.com/auth'] as Record<string, string>;
      expect(authClaim.chatgpt_account_id).toBe(auth.tokens.account_id);
      expect(authClaim.chatgpt_plan_type).toBe('pro');
    }
    expect(b64urlJson(auth.tokens.id_token!.split('.')[1]!).email).toMatch(/@/);
    expect(auth.tokens.refresh_token).toMatch(/^rt_/);
    // The account id is an identifier Codex must match against the backend's account list; the tokens are not real.
    expect(auth.tokens.account_id).toBe('acct-real-1');
    for (const secret of Object.values(c.secret)) expect(f.content).not.toContain(secret);
  });

  it('npm injects Bearer per registry host; placeholder .npmrc', () => {
    const c = samples.npm![0]!;
    expect(npm.injections(c)).toEqual([
      { grant: 'npm', hosts: ['registry.npmjs.org'], set: { authorization: `Bearer ${c.secret['//registry.npmjs.org/']}` } },
      { grant: 'npm', hosts: ['npm.pkg.github.com'], set: { authorization: 'Bearer ghp_REALGHPKGTOKEN' } },
    ]);
    const p = npm.placeholder(c);
    const f = p.files[0]!;
    expect(f.path).toBe('.npmrc');
    expect(f.content).toMatch(/^\/\/registry\.npmjs\.org\/:_authToken=npm_[A-Za-z0-9]{36}$/m);
    expect(f.content).toMatch(/^\/\/npm\.pkg\.github\.com\/:_authToken=npm_[A-Za-z0-9]{36}$/m);
    expect(p.env.NPM_TOKEN).toMatch(/^npm_[A-Za-z0-9]{36}$/);
    expect(f.content).toContain(p.env.NPM_TOKEN);
  });

  it('placeholders never contain any part of the secret and differ on every call', () => {
    for (const p of randomPlaceholders) {
      for (const c of samples[p.name]!) {
        const a = p.placeholder(c);
        const b = p.placeholder(c);
        expect(allText(a)).not.toEqual(allText(b));
        for (const secret of Object.values(c.secret)) {
          expect(allText(a)).not.toContain(secret);
          expect(allText(a)).not.toContain(secret.slice(-12));
          expect(allText(a)).not.toContain(Buffer.from(secret).toString('base64'));
        }
      }
    }
  });

  it('aws: the stored placeholder pair, ASIA-shaped, with the region; no header injection', () => {
    const c = samples.aws![0]!;
    expect(providers.find((p) => p.name === 'aws')!.placeholder(c).env).toEqual({
      AWS_ACCESS_KEY_ID: 'ASIAPLACEHOLDERPLACE',
      AWS_SECRET_ACCESS_KEY: 'p'.repeat(40),
      AWS_SESSION_TOKEN: 't'.repeat(300),
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
    });
  });

  it('every injection is plain data targeting exact hosts or *.suffix', () => {
    for (const p of providers) {
      for (const c of samples[p.name]!) {
        for (const inj of p.injections(c)) {
          expect(JSON.parse(JSON.stringify(inj))).toEqual(inj);
          for (const h of inj.hosts) expect(h).toMatch(/^(\*\.)?[a-z0-9.-]+$/);
        }
      }
    }
  });

  it('parses .npmrc tokens and skips ${VAR} references', () => {
    const text = [
      '//registry.npmjs.org/:_authToken=npm_abc',
      '//npm.pkg.github.com/:_authToken = "ghp_x"',
      '//private.example.com/repo/:_authToken=${PRIVATE_TOKEN}',
      'registry=https://registry.npmjs.org/',
    ].join('\n');
    expect(parseNpmrcTokens(text)).toEqual({ '//registry.npmjs.org/': 'npm_abc', '//npm.pkg.github.com/': 'ghp_x' });
  });
});
