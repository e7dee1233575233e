import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoatError } from '../../../../src/errors.js';
import { parseSecretReference, type SecretReference } from '../../../../src/secret-reference.js';
import { resolveSecrets, secretEnv, secretWarnings } from '../../../../src/credentials/secrets/resolve.js';
import { recognisablePrefix, shapedPlaceholder } from '../../../../src/credentials/secrets/placeholder.js';
import { secretSpecs } from '../../../../src/credentials/secrets/specs.js';
import { parseConfigText } from '../../../../src/config/parse.js';
import { moatConfigSchema } from '../../../../src/config/schema.js';
import type { SecretSpec } from '../../../../src/credentials/secrets/types.js';

const OP_BIN = resolve(__dirname, '../../../fakes/op-bin');
const VALUE = 'sk_test_51Hq8xTQ2eZvKYlo2C0ffeeRealValue7h2kq';

const spec = (name: string, from: string, hosts: string[] = []): SecretSpec => ({ name, from: parseSecretReference(from) as SecretReference, hosts });

async function failure(p: Promise<unknown>): Promise<MoatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MoatError) return err;
    throw err;
  }
  throw new Error('expected a MoatError');
}

describe('secret references and moat.yaml secrets:', () => {
  it('parses the three schemes and refuses anything else', () => {
    expect(parseSecretReference('op://Dev/Stripe/test-key')).toEqual({ scheme: 'op', ref: 'op://Dev/Stripe/test-key', vault: 'Dev', item: 'Stripe' });
    expect(parseSecretReference('ssm:///team/stripe/key')).toEqual({ scheme: 'ssm', ref: 'ssm:///team/stripe/key', name: '/team/stripe/key' });
    expect(parseSecretReference('ssm://eu-west-1/team/key')).toMatchObject({ scheme: 'ssm', region: 'eu-west-1', name: '/team/key' });
    expect(parseSecretReference('env://LEGACY_TOKEN')).toMatchObject({ scheme: 'env', variable: 'LEGACY_TOKEN' });
    expect(parseSecretReference('vault://x')).toMatch(/expected "op:\/\/vault\/item\/field"/);
    expect(parseSecretReference('op://Dev/Stripe')).toMatch(/op:\/\/vault\/item\/field/);
    expect(parseSecretReference('ssm://not a region/x')).toMatch(/no spaces/);
    expect(parseSecretReference('ssm://moon/x')).toMatch(/not an AWS region/);
    expect(parseSecretReference('env://BAD-NAME')).toMatch(/variable name/);
  });

  it('moat.yaml accepts the shorthand and the long form, and points at a bad reference by line', () => {
    const cfg = parseConfigText(
      'secrets:\n  STRIPE_KEY:\n    from: op://Dev/Stripe/test-key\n    hosts: [api.stripe.com]\n  LEGACY:\n    from: env://LEGACY\n    expose: env\n  SHORT: env://OTHER\n',
      moatConfigSchema,
      'moat.yaml',
    );
    expect(cfg.secrets).toEqual({
      STRIPE_KEY: { from: 'op://Dev/Stripe/test-key', hosts: ['api.stripe.com'] },
      LEGACY: { from: 'env://LEGACY', expose: 'env' },
      SHORT: 'env://OTHER',
    });
    expect(() => parseConfigText('secrets:\n  X: file:///etc/passwd\n', moatConfigSchema, 'moat.yaml')).toThrow(
      /moat\.yaml:2:\d+: .*expected "op:\/\/vault\/item\/field"/,
    );
    expect(() => parseConfigText('secrets:\n  X:\n    from: env://A\n    expose: file\n', moatConfigSchema, 'moat.yaml')).toThrow(/moat\.yaml:4/);
    expect(() => parseConfigText('secrets:\n  X:\n    from: env://A\n    hosts: ["http://x/"]\n', moatConfigSchema, 'moat.yaml')).toThrow(/moat\.yaml:4/);
  });

  it('a name set both in env: and secrets: is refused, naming both', () => {
    expect(() => secretSpecs({ TOKEN: 'env://A' }, { TOKEN: 'x' })).toThrow(/TOKEN is set both in env: and in secrets:/);
    expect(secretSpecs({ T: { from: 'env://A', hosts: ['API.Stripe.com'] } }, {})).toEqual([
      { name: 'T', from: parseSecretReference('env://A'), hosts: ['api.stripe.com'] },
    ]);
  });
});

describe('placeholders shaped like the secret', () => {
  it('keep a recognisable prefix and the length, never the secret material', () => {
    const p = shapedPlaceholder(VALUE);
    expect(p.startsWith('sk_test_')).toBe(true);
    expect(p).toHaveLength(VALUE.length);
    expect(p).not.toBe(VALUE);
    expect(p.slice(8)).not.toContain(VALUE.slice(8, 16));
    expect(shapedPlaceholder(VALUE)).not.toBe(p);
    expect(recognisablePrefix('sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123')).toBe('sk-ant-api03-');
    expect(recognisablePrefix('ghp_0123456789abcdefghijklmnopqrstuvwxyz')).toBe('ghp_');
    expect(recognisablePrefix('a8f_k29x')).toBe(''); // digits first: material, not a prefix
    expect(shapedPlaceholder('deadbeefdeadbeefdeadbeefdeadbeef')).toMatch(/^[0-9a-f]{32}$/);
    expect(shapedPlaceholder('hunter2')).toMatch(/^[A-Za-z0-9]{20}$/); // short secrets get a longer random part
  });
});

describe('env:// resolves from the environment moat runs in', () => {
  it('resolves, and the container sees the placeholder (or the value with expose: env)', async () => {
    const [a, b] = await resolveSecrets([spec('STRIPE', 'env://HOST_STRIPE', ['api.stripe.com']), { ...spec('LEGACY', 'env://HOST_LEGACY'), expose: 'env' }], {
      env: { HOST_STRIPE: VALUE, HOST_LEGACY: 'legacy-value-123' },
    });
    expect(a).toMatchObject({ name: 'STRIPE', scheme: 'env', value: VALUE, hosts: ['api.stripe.com'] });
    expect(secretEnv([a!, b!])).toEqual({ STRIPE: a!.placeholder, LEGACY: 'legacy-value-123' });
    const warnings = secretWarnings([a!, b!, { ...a!, name: 'NOWHERE', hosts: [] }]);
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toContain('LEGACY is exposed');
    expect(warnings.join('\n')).toContain('NOWHERE has no hosts');
    expect(warnings.join('\n')).not.toContain('legacy-value-123');
  });
  it('a variable that is not set names it and the export that fixes it', async () => {
    const e = await failure(resolveSecrets([spec('STRIPE', 'env://HOST_STRIPE')], { env: {} }));
    expect(e.message).toBe('The secret STRIPE (env://HOST_STRIPE) cannot be read: HOST_STRIPE is not set in the environment moat runs in.');
    expect(e.hint).toBe('export HOST_STRIPE=…   (then run moat again from that shell)');
  });
});

describe('op:// through `op read` (a stand-in with its interface and exit codes)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-op-'));
    await mkdir(join(dir, 'items', 'Dev', 'Stripe'), { recursive: true });
    await writeFile(join(dir, 'items', 'Dev', 'Stripe', 'test-key'), VALUE);
    env = { PATH: `${OP_BIN}:/usr/bin:/bin`, FAKE_OP_ITEMS: join(dir, 'items'), FAKE_OP_SIGNED_IN: '1', FAKE_OP_ARGV: join(dir, 'argv') };
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("reads the value from op's stdout (no newline added), never passing a value on its command line", async () => {
    const [s] = await resolveSecrets([spec('STRIPE_KEY', 'op://Dev/Stripe/test-key', ['api.stripe.com'])], { env });
    expect(s!.value).toBe(VALUE);
    const argv = await readFile(join(dir, 'argv'), 'utf8');
    expect(argv).toBe('read --no-newline op://Dev/Stripe/test-key\n');
    expect(argv).not.toContain(VALUE);
  });

  const cases: Array<[string, NodeJS.ProcessEnv | ((e: NodeJS.ProcessEnv) => NodeJS.ProcessEnv), string, RegExp, string]> = [
    [
      'op is missing',
      (e) => ({ ...e, PATH: '/nonexistent' }),
      'op://Dev/Stripe/test-key',
      /needs the 1Password CLI, and "op" is not on PATH/,
      'eval $(op signin)',
    ],
    ['not signed in', (e) => ({ ...e, FAKE_OP_SIGNED_IN: '0' }), 'op://Dev/Stripe/test-key', /the 1Password CLI is not signed in/, 'eval $(op signin)'],
    ['no such vault', (e) => e, 'op://Prod/Stripe/test-key', /has no vault "Prod"/, 'op vault list'],
    ['no such item', (e) => e, 'op://Dev/Linear/test-key', /the vault "Dev" has no item "Linear"/, 'op item list --vault "Dev"'],
    ['no such field', (e) => e, 'op://Dev/Stripe/live-key', /the item "Stripe" has no such field/, 'op item get "Stripe" --vault "Dev"'],
  ];
  for (const [what, envOf, ref, message, hint] of cases) {
    it(`${what}: the error names the secret and the command that fixes it`, async () => {
      const e = await failure(resolveSecrets([spec('STRIPE_KEY', ref)], { env: typeof envOf === 'function' ? envOf(env) : envOf }));
      expect(e.message).toMatch(/^The secret STRIPE_KEY \(op:\/\//);
      expect(e.message).toMatch(message);
      expect(e.hint).toContain(hint);
      expect(`${e.message} ${e.hint ?? ''}`).not.toContain(VALUE);
    });
  }
});
