/**
 * Provider files (issue 17): the format, every refusal with its providers/NAME.yaml:LINE:COL, the
 * built-in catalog, and a user file granted from stdin and resolved into what the gateway gets.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { parseProviderText } from '../../../src/credentials/providers/data/parse.js';
import { catalogProviders, loadProviders, providersDir } from '../../../src/credentials/providers/registry.js';
import { grantCredential } from '../../../src/credentials/grant.js';
import { resolveGrants } from '../../../src/credentials/resolve.js';
import { fakeContext, tempHome, type TempHome } from './helpers.js';

const GOOD = ['hosts: [api.acme.test]', 'inject:', '  header: Authorization', '  format: "Bearer {token}"', 'env: ACME_TOKEN', ''].join('\n');

function problem(text: string): string {
  try {
    parseProviderText(text, 'providers/acme.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(MoatError);
    return (err as MoatError).message;
  }
  throw new Error('expected the file to be refused');
}

describe('provider file format', () => {
  it('parses a header provider and a substitute provider', () => {
    const p = parseProviderText(GOOD, 'providers/acme.yaml');
    expect(p.hosts).toEqual(['api.acme.test']);
    expect(p.env).toEqual(['ACME_TOKEN']);
    expect(p.inject).toEqual({ header: 'Authorization', format: 'Bearer {token}' });
    const s = parseProviderText('hosts: ["*.acme.test", "git.acme.test:8443"]\ninject: {substitute: true}\nenv: [A_TOKEN, B_TOKEN]\n', 'x');
    expect(s.inject).toEqual({ substitute: true });
    expect(s.env).toEqual(['A_TOKEN', 'B_TOKEN']);
  });

  it.each([
    [
      'CRLF in the format (header splitting)',
      GOOD.replace('"Bearer {token}"', '"Bearer {token}\\r\\nX-Evil: 1"'),
      '4:11: inject.format: the format holds a control character',
    ],
    ['a format without {token}', GOOD.replace('"Bearer {token}"', '"Bearer"'), '4:11: inject.format: the format has no {token}'],
    ['other braces in the format', GOOD.replace('"Bearer {token}"', '"Bearer {token} {user}"'), '4:11: inject.format: only {token} may appear in braces'],
    ['LF in the header name', GOOD.replace('header: Authorization', 'header: "X-A\\nX-B"'), '3:11: inject.header: the header name holds a control character'],
    ['a header name that is not a token', GOOD.replace('header: Authorization', 'header: "X A"'), '3:11: inject.header: "X A" is not a valid header name'],
    ['a framing header', GOOD.replace('header: Authorization', 'header: Host'), '3:11: inject.header: Host frames or routes the request'],
    ['a reserved env name (PATH)', GOOD.replace('env: ACME_TOKEN', 'env: PATH'), '5:6: env: "PATH" is reserved by moat'],
    ['an LD_ env name', GOOD.replace('env: ACME_TOKEN', 'env: [OK_TOKEN, LD_PRELOAD]'), '5:17: env[1]: "LD_PRELOAD" is reserved by moat (every LD_* variable)'],
    ['a MOAT_ env name', GOOD.replace('env: ACME_TOKEN', 'env: MOAT_X'), '5:6: env: "MOAT_X" is reserved by moat (every MOAT_* variable)'],
    ['HTTPS_PROXY', GOOD.replace('env: ACME_TOKEN', 'env: HTTPS_PROXY'), '5:6: env: "HTTPS_PROXY" is reserved by moat'],
    ['NODE_OPTIONS', GOOD.replace('env: ACME_TOKEN', 'env: NODE_OPTIONS'), '5:6: env: "NODE_OPTIONS" is reserved by moat'],
    ['a lower-case env name', GOOD.replace('env: ACME_TOKEN', 'env: acme_token'), '5:6: env: "acme_token" is not a valid variable name'],
    [
      'a host with a scheme',
      GOOD.replace('[api.acme.test]', '["https://api.acme.test"]'),
      '1:9: hosts[0]: host pattern "https://api.acme.test" has a URL scheme',
    ],
    ['a too broad wildcard', GOOD.replace('[api.acme.test]', '["*.test"]'), '1:9: hosts[0]: host pattern "*.test" is too broad'],
    ['no hosts', GOOD.replace('[api.acme.test]', '[]'), '1:8: hosts: Too small'],
    // A granted host counts as named, which lifts the internal-address refusal: a file must not open the host's own services.
    [
      'a loopback IP with a port',
      GOOD.replace('[api.acme.test]', '["127.0.0.1:2375"]'),
      '1:9: hosts[0]: "127.0.0.1:2375" is this machine or its private network',
    ],
    ['localhost', GOOD.replace('[api.acme.test]', '[api.acme.test, localhost]'), '1:24: hosts[1]: "localhost" is this machine or its private network'],
    ['a private network address', GOOD.replace('[api.acme.test]', '["10.0.0.5"]'), '1:9: hosts[0]: "10.0.0.5" is this machine or its private network'],
    ['an unknown key', `${GOOD}header: X\n`, '6:1: header: unknown key "header"'],
    ['a validate host not among hosts', `${GOOD}validate: {host: evil.test, path: /me}\n`, '6:18: validate.host: "evil.test" is not one of hosts'],
    ['a validate path with a space', `${GOOD}validate: {path: "/a b"}\n`, '6:18: validate.path: the path starts with "/"'],
    [
      'substitute without validate headers',
      'hosts: [a.test]\ninject: {substitute: true}\nenv: A_TOKEN\nvalidate: {path: /me}\n',
      '4:11: validate: with substitute: true, say where the check sends the token',
    ],
    ['too short a placeholder', `${GOOD}placeholder: {prefix: acme_, length: 21}\n`, '6:38: placeholder.length: leave at least 20 random characters'],
    ['a YAML syntax error', 'hosts: [a\n', '2:1: YAML syntax error'],
  ])('refuses %s with its line and column', (_what, text, expected) => {
    expect(problem(text)).toContain(`providers/acme.yaml:${expected}`);
  });

  it('every built-in catalog entry parses, with hosts and env', () => {
    const names = catalogProviders().map((p) => p.name);
    expect(names).toEqual(['anthropic', 'gitlab', 'huggingface', 'linear', 'sentry', 'stripe', 'vercel']);
    for (const p of catalogProviders()) {
      expect(p.hosts.length).toBeGreaterThan(0);
      expect(p.file.env.length).toBeGreaterThan(0);
      expect(p.file.validate).toBeDefined();
    }
  });
});

describe('anthropic, a built-in moved onto the catalog', () => {
  let t: TempHome;
  beforeEach(async () => {
    t = await tempHome();
  });
  afterEach(() => t.cleanup());

  it('moat grant anthropic reads $ANTHROPIC_API_KEY, stores the key, and a run gets x-api-key and an sk-ant-api03-…AA placeholder', async () => {
    const key = `sk-ant-api03-${'R'.repeat(93)}AA`;
    const ctx = fakeContext({ env: { ANTHROPIC_API_KEY: key } });
    const r = await grantCredential('anthropic', t.store, ctx, { validate: false });
    expect(ctx.logs).toContain('Using the Anthropic API key from $ANTHROPIC_API_KEY.');
    expect(r.credential).toMatchObject({ provider: 'anthropic', secret: { token: key }, source: 'env:ANTHROPIC_API_KEY' });
    const g = await resolveGrants(['anthropic'], t.store, { env: {} });
    expect(g.injections).toEqual([{ grant: 'anthropic', hosts: ['api.anthropic.com'], set: { 'x-api-key': key } }]);
    expect(g.placeholders.env.ANTHROPIC_API_KEY).toMatch(/^sk-ant-api03-[A-Za-z0-9_-]{93}AA$/);
    expect(g.placeholders.env.ANTHROPIC_API_KEY).toBe(r.credential.meta?.placeholder);
  });

  it('a credential stored by the code provider (kind api-key, no placeholder kept) still resolves', async () => {
    await t.store.put('anthropic', {
      provider: 'anthropic',
      kind: 'api-key',
      secret: { token: 'sk-ant-api03-OLDKEYOLDKEYOLDKEY' },
      scopes: [],
      createdAt: '2026-01-01T00:00:00Z',
      source: 'stdin',
    });
    const g = await resolveGrants(['anthropic'], t.store, { env: {} });
    expect(g.injections[0]?.set).toEqual({ 'x-api-key': 'sk-ant-api03-OLDKEYOLDKEYOLDKEY' });
    expect(g.placeholders.env.ANTHROPIC_API_KEY).toMatch(/^sk-ant-api03-[A-Za-z0-9_-]{93}AA$/);
    // One granted under other hosts of the built-in (a later moat changed them) asks for approval again.
    await t.store.put('anthropic', {
      provider: 'anthropic',
      kind: 'token',
      secret: { token: 'sk-ant-api03-OLDKEYOLDKEYOLDKEY' },
      scopes: [],
      createdAt: '2026-01-01T00:00:00Z',
      source: 'stdin',
      meta: { approved: 'sha256:00' },
    });
    await expect(resolveGrants(['anthropic'], t.store, { env: {} })).rejects.toThrow(
      'The built-in provider anthropic changed where the anthropic token goes (hosts or inject) since moat grant anthropic approved it',
    );
  });
});

describe('user provider files in the registry', () => {
  let t: TempHome;
  beforeEach(async () => {
    t = await tempHome();
    await mkdir(providersDir(t.home), { recursive: true });
  });
  afterEach(() => t.cleanup());

  it('a file named like a built-in is refused (never overrides it); a broken file is listed, not used', async () => {
    await writeFile(join(providersDir(t.home), 'stripe.yaml'), GOOD.replace('api.acme.test', 'evil.test'));
    await writeFile(join(providersDir(t.home), 'broken.yaml'), GOOD.replace('env: ACME_TOKEN', 'env: LD_PRELOAD'));
    const reg = await loadProviders(t.home);
    expect(reg.entries.filter((e) => e.name === 'stripe').map((e) => e.kind)).toEqual(['catalog', 'file']);
    // The name resolves to the built-in, whose hosts do not include the file's.
    expect((reg.find('stripe') as { hosts?: string[] }).hosts).toEqual(['api.stripe.com', 'files.stripe.com']);
    expect(reg.entries.find((e) => e.kind === 'file' && e.name === 'stripe')?.error?.message).toContain('"stripe" is a built-in provider');
    expect(() => reg.find('broken')).toThrow(/providers\/broken.yaml:5:6: env: "LD_PRELOAD" is reserved by moat/);
  });

  it('granted from stdin: stored with a fixed placeholder; a run gets it in env, the gateway a header for the hosts only', async () => {
    await writeFile(join(providersDir(t.home), 'acme.yaml'), GOOD);
    const token = 'acme_REALTOKENREALTOKENREALTOKEN42';
    const ctx = fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(`${token}\n`) });
    const r = await grantCredential('acme', t.store, ctx, { validate: false });
    const ph = r.credential.meta?.placeholder ?? '';
    expect(ph).toMatch(/^acme_[A-Za-z0-9]{29}$/);
    expect(ph).not.toBe(token);
    const g = await resolveGrants(['acme'], t.store, { env: {} });
    expect(g.placeholders.env).toEqual({ ACME_TOKEN: ph });
    expect(g.injections).toEqual([{ grant: 'acme', hosts: ['api.acme.test'], set: { Authorization: `Bearer ${token}` } }]);
    expect(g.scrub).toEqual([{ value: token, placeholder: ph }]);
    expect(g.secretsToRedact).toContain(token);
  });

  it('substitute: true gives the gateway a substitution with the same placeholder the container holds', async () => {
    await writeFile(join(providersDir(t.home), 'subst.yaml'), 'hosts: [git.acme.test]\ninject: {substitute: true}\nenv: [SUBST_TOKEN]\n');
    const token = 'glpat-REALTOKENREALTOKEN1234';
    await grantCredential('subst', t.store, fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(token) }), { validate: false });
    const g = await resolveGrants(['subst'], t.store, { env: {} });
    const ph = g.placeholders.env.SUBST_TOKEN ?? '';
    expect(ph).toMatch(/^glpat-[A-Za-z0-9]{22}$/);
    expect(g.injections).toEqual([]);
    expect(g.substitutions).toEqual([{ name: 'subst', placeholder: ph, value: token, hosts: ['git.acme.test'] }]);
  });

  it.each([
    ['a host added', GOOD.replace('[api.acme.test]', '[api.acme.test, collect.evil.test]')],
    ['the hosts replaced', GOOD.replace('[api.acme.test]', '[collect.evil.test]')],
    ['the header changed', GOOD.replace('header: Authorization', 'header: X-Forward-To-Evil')],
    ['the format changed', GOOD.replace('"Bearer {token}"', '"token {token}"')],
    ['substitute instead of a header', 'hosts: [api.acme.test]\ninject: {substitute: true}\nenv: ACME_TOKEN\n'],
  ])('ATTACK: the file edited after moat grant (%s) is refused at run start, naming moat grant acme', async (_what, edited) => {
    const file = join(providersDir(t.home), 'acme.yaml');
    await writeFile(file, GOOD);
    const token = 'acme_REALTOKENREALTOKENREALTOKEN42';
    await grantCredential('acme', t.store, fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(token) }), { validate: false });
    expect((await resolveGrants(['acme'], t.store, { env: {} })).injections).toHaveLength(1);
    await writeFile(file, edited);
    const err = await resolveGrants(['acme'], t.store, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toBe(
      'The provider file providers/acme.yaml changed where the acme token goes (hosts or inject) since moat grant acme approved it, so moat will not send it.',
    );
    expect((err as MoatError).hint).toBe('Check the file, then approve it again: moat grant acme');
    expect(JSON.stringify(err)).not.toContain(token);
    // Granting again approves the file as it is now.
    await grantCredential('acme', t.store, fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(token) }), { validate: false });
    expect(
      (await resolveGrants(['acme'], t.store, { env: {} })).substitutions.length + (await resolveGrants(['acme'], t.store, { env: {} })).injections.length,
    ).toBe(1);
  });

  it('edits that do not change where the token goes (description, prompt, env, placeholder, host order) keep the grant', async () => {
    const file = join(providersDir(t.home), 'acme.yaml');
    await writeFile(file, GOOD.replace('[api.acme.test]', '[api.acme.test, b.acme.test]'));
    await grantCredential('acme', t.store, fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve('acme_REALTOKENREALTOKEN') }), { validate: false });
    await writeFile(
      file,
      `${GOOD.replace('[api.acme.test]', '[b.acme.test, API.acme.test]').replace('env: ACME_TOKEN', 'env: OTHER_TOKEN')}description: renamed\n`,
    );
    expect((await resolveGrants(['acme'], t.store, { env: {} })).placeholders.env.OTHER_TOKEN).toMatch(/^acme_/);
  });

  it('ATTACK: a grant of a user file stored without the approval digest (or with a forged one) is refused', async () => {
    await writeFile(join(providersDir(t.home), 'acme.yaml'), GOOD);
    const base = {
      provider: 'acme',
      kind: 'token',
      secret: { token: 'acme_REALTOKENREALTOKEN' },
      scopes: [],
      createdAt: '2026-01-01T00:00:00Z',
      source: 'stdin',
    };
    await t.store.put('acme', base);
    await expect(resolveGrants(['acme'], t.store, { env: {} })).rejects.toThrow(/since moat grant acme approved it/);
    await t.store.put('acme', { ...base, meta: { approved: 'sha256:00' } });
    await expect(resolveGrants(['acme'], t.store, { env: {} })).rejects.toThrow(/since moat grant acme approved it/);
  });

  it('a file may not read a host variable at grant time (hostEnv is for the catalog only)', async () => {
    await writeFile(join(providersDir(t.home), 'harvest.yaml'), `${GOOD}hostEnv: [GITHUB_TOKEN]\n`);
    const reg = await loadProviders(t.home);
    expect(() => reg.find('harvest')).toThrow('providers/harvest.yaml: hostEnv is for the built-in catalog only.');
  });

  it('a constant validate header and a placeholder suffix are accepted; a check with no {token} is refused', () => {
    const p = parseProviderText(
      `${GOOD}placeholder: {prefix: k-, suffix: ZZ, length: 40}\nvalidate: {path: /me, headers: {Authorization: "Bearer {token}", X-Version: "2"}}\n`,
      'x',
    );
    expect(p.placeholder).toMatchObject({ prefix: 'k-', suffix: 'ZZ', length: 40 });
    expect(problem(`${GOOD}validate: {path: /me, headers: {X-Version: "2"}}\n`)).toContain('validate.headers: no header of the check holds {token}');
  });

  it('a token with a newline or space is refused (it could split a header)', async () => {
    await writeFile(join(providersDir(t.home), 'acme.yaml'), GOOD);
    const ctx = fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve('abcd1234\r\nX-Evil: 1') });
    await expect(grantCredential('acme', t.store, ctx, { validate: false })).rejects.toThrow(/holds a space or control character/);
    expect(await t.store.get('acme')).toBeUndefined();
  });

  it('two grants that set one container variable are refused before a run', async () => {
    await writeFile(join(providersDir(t.home), 'one.yaml'), GOOD);
    await writeFile(join(providersDir(t.home), 'two.yaml'), GOOD.replace('api.acme.test', 'api2.acme.test'));
    for (const n of ['one', 'two'])
      await grantCredential(n, t.store, fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(`${n}-REALTOKENREALTOKEN`) }), { validate: false });
    await expect(resolveGrants(['one', 'two'], t.store, { env: {} })).rejects.toThrow('The grants "one" and "two" both set ACME_TOKEN in the container.');
  });
});
