import { chmod, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { loadKey, type KeychainEntry } from '../../../src/credentials/key.js';
import { CredentialStore } from '../../../src/credentials/store.js';
import { FILE_ENV, cred, tempHome, type TempHome } from './helpers.js';

let t: TempHome;
beforeEach(async () => {
  t = await tempHome();
});
afterEach(async () => {
  await t.cleanup();
});

async function thrown(p: Promise<unknown>): Promise<MoatError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MoatError);
  return err as MoatError;
}

describe('credential store', () => {
  it('round-trips a credential and keeps files private', async () => {
    const c = cred({ scopes: ['repo'], expiresAt: '2030-01-01T00:00:00.000Z', meta: { login: 'octocat' } });
    await t.store.put('github', c);
    expect(await t.store.get('github')).toEqual(c);
    expect(await new CredentialStore(t.home, { env: FILE_ENV }).get('github')).toEqual(c);
    expect((await stat(t.store.pathOf('github'))).mode & 0o777).toBe(0o600);
    expect((await stat(t.home.encryptionKeyFile)).mode & 0o777).toBe(0o600);
    const raw = await readFile(t.store.pathOf('github'));
    expect(raw.toString('latin1')).not.toContain('REALSECRET');
    expect(await t.store.get('missing')).toBeUndefined();
  });

  it('uses a fresh nonce on every write', async () => {
    await t.store.put('github', cred());
    const a = await readFile(t.store.pathOf('github'));
    await t.store.put('github', cred());
    const b = await readFile(t.store.pathOf('github'));
    expect(a.subarray(1, 13).equals(b.subarray(1, 13))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('reports a file encrypted with another key, naming the credential and the fix', async () => {
    await t.store.put('github', cred());
    await writeFile(t.home.encryptionKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const err = await thrown(new CredentialStore(t.home, { env: FILE_ENV }).get('github'));
    expect(err.message).toContain('"github"');
    expect(err.hint).toBe('moat grant github');
  });

  it('reports a truncated file', async () => {
    await t.store.put('github', cred());
    await truncate(t.store.pathOf('github'), 10);
    const err = await thrown(t.store.get('github'));
    expect(err.message).toMatch(/github.*truncated/);
    expect(err.hint).toBe('moat grant github');
    await truncate(t.store.pathOf('github'), 40);
    expect((await thrown(t.store.get('github'))).hint).toBe('moat grant github');
  });

  it('refuses a file renamed to another credential', async () => {
    await t.store.put('github', cred());
    await writeFile(t.store.pathOf('npm'), await readFile(t.store.pathOf('github')));
    expect((await thrown(t.store.get('npm'))).hint).toBe('moat grant npm');
  });

  it('refuses a key file readable by group or other, with the exact chmod', async () => {
    await t.store.put('github', cred());
    await chmod(t.home.encryptionKeyFile, 0o644);
    const err = await thrown(new CredentialStore(t.home, { env: FILE_ENV }).get('github'));
    expect(err.message).toContain('readable by other users');
    expect(err.hint).toBe(`chmod 600 ${t.home.encryptionKeyFile}`);
  });

  it('refuses a damaged key file', async () => {
    await t.store.put('github', cred());
    await writeFile(t.home.encryptionKeyFile, 'short\n', { mode: 0o600 });
    const err = await thrown(new CredentialStore(t.home, { env: FILE_ENV }).get('github'));
    expect(err.message).toContain('damaged');
  });

  it('survives 20 concurrent writers (fresh home, separate stores, same and different names)', async () => {
    const names = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'shared' : `cred-${i}`));
    await Promise.all(names.map((name, i) => new CredentialStore(t.home, { env: FILE_ENV }).put(name, cred({ secret: { token: `secret-number-${i}` } }))));
    const reader = new CredentialStore(t.home, { env: FILE_ENV });
    const list = await reader.list();
    expect(list.every((e) => e.status === 'ok')).toBe(true);
    expect(list.map((e) => e.name).sort()).toEqual([...new Set(names)].sort());
    const shared = await reader.get('shared');
    expect(shared?.secret.token).toMatch(/^secret-number-\d+$/);
    const leftovers = (await readdir(t.home.credentialsDir)).filter((f) => !f.endsWith('.enc'));
    expect(leftovers).toEqual([]);
  });

  it('lists every credential and reports a corrupt one without throwing', async () => {
    await t.store.put('github', cred());
    await t.store.put('anthropic', cred({ provider: 'anthropic', kind: 'api-key' }));
    await writeFile(t.store.pathOf('broken'), 'garbage that is not a credential file at all');
    const list = await t.store.list();
    expect(list.map((e) => [e.name, e.status])).toEqual([
      ['anthropic', 'ok'],
      ['broken', 'corrupt'],
      ['github', 'ok'],
    ]);
    const broken = list.find((e) => e.name === 'broken');
    expect(broken?.status === 'corrupt' && broken.fix).toBe('moat grant broken');
  });

  it('list on an empty home creates nothing', async () => {
    expect(await t.store.list()).toEqual([]);
    await expect(stat(t.home.encryptionKeyFile)).rejects.toThrow();
  });

  it('removes credentials', async () => {
    await t.store.put('github', cred());
    expect(await t.store.remove('github')).toBe(true);
    expect(await t.store.remove('github')).toBe(false);
    expect(await t.store.get('github')).toBeUndefined();
  });

  it('rejects names that could escape the directory', async () => {
    await thrown(t.store.put('../evil', cred()));
    await thrown(t.store.get('a/b'));
  });
});

describe('encryption key', () => {
  function memoryKeychain(): KeychainEntry & { value: string | null } {
    const k = {
      value: null as string | null,
      getPassword: () => k.value,
      setPassword: (v: string) => void (k.value = v),
    };
    return k;
  }

  it('uses the keychain when one is available, and writes no key file', async () => {
    const kc = memoryKeychain();
    const store = new CredentialStore(t.home, { env: {}, keychain: () => kc });
    await store.put('github', cred());
    expect(kc.value).toBeTruthy();
    await expect(stat(t.home.encryptionKeyFile)).rejects.toThrow();
    expect((await loadKey(t.home, { env: {}, keychain: () => kc }))?.backend).toBe('keychain');
    expect(await new CredentialStore(t.home, { env: {}, keychain: () => kc }).get('github')).toEqual(cred());
  });

  it('falls back to the file silently when no keychain is available', async () => {
    const broken = (): KeychainEntry => {
      throw new Error('org.freedesktop.DBus.Error.ServiceUnknown');
    };
    const store = new CredentialStore(t.home, { env: {}, keychain: broken });
    await store.put('github', cred());
    expect((await stat(t.home.encryptionKeyFile)).mode & 0o777).toBe(0o600);
    const failing: KeychainEntry = {
      getPassword: () => {
        throw new Error('no D-Bus');
      },
      setPassword: () => {
        throw new Error('no D-Bus');
      },
    };
    expect(await new CredentialStore(t.home, { env: {}, keychain: () => failing }).get('github')).toEqual(cred());
  });

  it('keeps using an existing key file when a keychain appears later', async () => {
    await t.store.put('github', cred());
    const kc = memoryKeychain();
    expect(await new CredentialStore(t.home, { env: {}, keychain: () => kc }).get('github')).toEqual(cred());
    expect(kc.value).toBeNull();
  });

  it('MOAT_KEYRING_BACKEND=file never touches the keychain', async () => {
    const kc = memoryKeychain();
    kc.getPassword = () => {
      throw new Error('keychain must not be used');
    };
    const key = await loadKey(t.home, { env: FILE_ENV, keychain: () => kc, create: true });
    expect(key?.backend).toBe('file');
    expect(key?.key.length).toBe(32);
  });
});
