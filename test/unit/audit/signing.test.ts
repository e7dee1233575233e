import { chmod, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyFingerprint, loadOrCreateSigner, loadPublicKey, signingKeyPaths } from '../../../src/audit/index.js';
import { MoatHome } from '../../../src/home/paths.js';
import { cleanup, tmpRunDir } from './helpers.js';

afterEach(cleanup);

describe('home signing key', () => {
  it('is created on first use as a 0600 PKCS8 key with a public key next to it, then reused', async () => {
    const home = new MoatHome(dirname(await tmpRunDir()));
    expect(await loadPublicKey(home)).toBeUndefined();
    const [a, b] = await Promise.all([loadOrCreateSigner(home), loadOrCreateSigner(home)]);
    expect(a.keyId).toBe(b.keyId);
    const paths = signingKeyPaths(home);
    expect((await stat(paths.key)).mode & 0o777).toBe(0o600);
    expect(await readFile(paths.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(keyFingerprint((await loadPublicKey(home))!)).toBe(a.keyId);
    expect((await loadOrCreateSigner(home)).keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^SHA256:[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a key readable by group or others, naming the chmod that fixes it', async () => {
    const home = new MoatHome(dirname(await tmpRunDir()));
    await loadOrCreateSigner(home);
    const { key } = signingKeyPaths(home);
    await chmod(key, 0o640);
    await expect(loadOrCreateSigner(home)).rejects.toMatchObject({ name: 'MoatError', hint: `chmod 600 ${key}` });
  });
});
