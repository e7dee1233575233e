/**
 * The key that encrypts the grants (src/credentials/key.ts): in the OS keychain or in the 0600 key file.
 * Only where it is and whether it is usable; the key itself never leaves loadKey.
 */
import { readdir, stat } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { fail, ok, type Check } from './types.js';

async function grantFiles(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.enc')).length;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
}

export const keyCheck: Check = {
  name: 'key',
  onTimeout: {
    detail: 'the OS keychain did not answer',
    fix: 'Unlock the keychain, or set MOAT_KEYRING_BACKEND=file to use the key file (only for a new home: existing grants stay with the keychain key)',
  },
  async run(ctx) {
    const { loadKey } = await import('../credentials/key.js');
    const file = ctx.home.encryptionKeyFile;
    const forced = (ctx.env.MOAT_KEYRING_BACKEND ?? '').toLowerCase() === 'file';
    let loaded;
    try {
      loaded = await loadKey(ctx.home, { env: ctx.env, create: false });
    } catch (err) {
      const e = err as { message?: string; hint?: string };
      return fail('key', e.message ?? String(err), e.hint ?? `chmod 600 ${file}`);
    }
    const grants = await grantFiles(ctx.home.credentialsDir);
    if (!loaded) {
      if (grants > 0) {
        return fail(
          'key',
          `${grants} grant${grants === 1 ? '' : 's'} stored but no key to decrypt them (neither the keychain entry nor ${file})`,
          `Restore ${file} from a backup, or run moat grant <provider> again for each grant`,
        );
      }
      return ok('key', `none yet (the first grant creates it, in ${forced ? file : 'the OS keychain, else ' + file})`);
    }
    if (loaded.backend === 'keychain') return ok('key', 'in the OS keychain (service "moat")');
    const mode = (await stat(file)).mode & 0o777;
    return ok('key', `${file} (mode 0${mode.toString(8)})${forced ? ', MOAT_KEYRING_BACKEND=file' : ''}`);
  },
};
