import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../../src/home/paths.js';
import { RUN_SECRETS_FILE, readRunSecrets, removeRunSecrets, writeRunSecrets } from '../../../../src/credentials/secrets/run-file.js';
import { gatewaySecrets } from '../../../../src/credentials/secrets/gateway.js';
import type { ResolvedSecret } from '../../../../src/credentials/secrets/types.js';

const VALUE = 'sk_test_runFileValue0123456789abcdef';
const SECRETS: ResolvedSecret[] = [
  {
    name: 'STRIPE_KEY',
    scheme: 'op',
    ref: 'op://Dev/Stripe/test-key',
    value: VALUE,
    placeholder: 'sk_test_placeholder0123456789abcdef',
    hosts: ['api.stripe.com'],
  },
  { name: 'LEGACY', scheme: 'env', ref: 'env://LEGACY', value: 'legacy-exposed-value', placeholder: 'x'.repeat(20), hosts: [], expose: 'env' },
];

let dir: string;
let home: MoatHome;
const env = { MOAT_KEYRING_BACKEND: 'file' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-runsecrets-'));
  home = new MoatHome(dir);
  await mkdir(home.runDir('run-a'), { recursive: true });
  await mkdir(home.runDir('run-b'), { recursive: true });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("a run's secrets file (CLI → daemon)", () => {
  it('round-trips, and holds no value in plain text', async () => {
    await writeRunSecrets(home, 'run-a', SECRETS, env);
    const raw = await readFile(join(home.runDir('run-a'), RUN_SECRETS_FILE));
    expect(raw.toString('latin1')).not.toContain(VALUE);
    expect(raw.toString('latin1')).not.toContain('legacy-exposed-value');
    expect(await readRunSecrets(home, 'run-a', env)).toEqual(SECRETS);
  });
  it('ATTACK: the file copied into another run does not decrypt there', async () => {
    await copyFile(join(home.runDir('run-a'), RUN_SECRETS_FILE), join(home.runDir('run-b'), RUN_SECRETS_FILE));
    await expect(readRunSecrets(home, 'run-b', env)).rejects.toThrow(/moved from another run/);
  });
  it('is gone once removed, and a run without one has no secrets', async () => {
    await removeRunSecrets(home, 'run-a');
    expect(await readRunSecrets(home, 'run-a', env)).toEqual([]);
  });
  it('the gateway substitutes only placeholders with hosts that are not exposed, and masks every value', () => {
    const g = gatewaySecrets(SECRETS);
    expect(g.substitutions.map((s) => s.name)).toEqual(['STRIPE_KEY']);
    expect(g.redact).toEqual([VALUE, 'legacy-exposed-value']);
    expect(g.audit).toEqual([
      { name: 'STRIPE_KEY', scheme: 'op', hosts: ['api.stripe.com'], exposed: false },
      { name: 'LEGACY', scheme: 'env', hosts: [], exposed: true },
    ]);
  });
});
