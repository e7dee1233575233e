import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Entry } from '@napi-rs/keyring';
import { MoatError, errnoCode } from '../errors.js';
import { withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';

/**
 * The 32-byte store key. It lives in the OS keychain (on Linux the Secret Service only: keyutils loses
 * keys on reboot) and otherwise in `<home>/encryption.key` (0600). `MOAT_KEYRING_BACKEND=file` forces
 * the file. A keychain that is unavailable (no D-Bus, locked) falls back to the file silently.
 */

const KEY_BYTES = 32;
const SERVICE = 'moat';
const ACCOUNT = 'encryption-key';

/** The slice of @napi-rs/keyring's Entry we use, so tests can fake it. */
export interface KeychainEntry {
  getPassword(): string | null;
  setPassword(password: string): void;
}

export interface KeyOptions {
  env?: NodeJS.ProcessEnv;
  /** Create the key when none exists. Read-only commands pass false. */
  create?: boolean;
  /** Build the keychain entry; throws when no keychain is available. */
  keychain?: () => KeychainEntry;
}

export type KeyBackend = 'keychain' | 'file';

export interface LoadedKey {
  key: Buffer;
  backend: KeyBackend;
}

function defaultKeychain(): KeychainEntry {
  return new Entry(SERVICE, ACCOUNT, { linux: { store: 'secret-service' } });
}

/** Load the key; undefined when none exists and `create` is false. */
export async function loadKey(home: MoatHome, opts: KeyOptions = {}): Promise<LoadedKey | undefined> {
  const env = opts.env ?? process.env;
  const file = home.encryptionKeyFile;
  const useKeychain = (env.MOAT_KEYRING_BACKEND ?? '').toLowerCase() !== 'file';
  const entry = useKeychain ? openKeychain(opts.keychain ?? defaultKeychain) : undefined;

  const existing = await findKey(file, entry);
  if (existing || !opts.create) return existing;

  // Create under a lock so two first-time grants never make two different keys.
  return withLock(join(home.root, 'encryption-key'), async () => {
    const again = await findKey(file, entry);
    if (again) return again;
    const key = randomBytes(KEY_BYTES);
    if (entry && keychainSet(entry, key)) return { key, backend: 'keychain' as const };
    return { key: await createKeyFile(file, key), backend: 'file' as const };
  });
}

async function findKey(file: string, entry: KeychainEntry | undefined): Promise<LoadedKey | undefined> {
  const fromKeychain = entry ? keychainGet(entry) : undefined;
  if (fromKeychain) return { key: fromKeychain, backend: 'keychain' };
  // A key file made while the keychain was unavailable stays authoritative: never orphan credentials.
  const fromFile = await readKeyFile(file);
  return fromFile ? { key: fromFile, backend: 'file' } : undefined;
}

function openKeychain(make: () => KeychainEntry): KeychainEntry | undefined {
  try {
    return make();
  } catch {
    return undefined;
  }
}

function keychainGet(entry: KeychainEntry): Buffer | undefined {
  try {
    const value = entry.getPassword();
    if (!value) return undefined;
    const key = Buffer.from(value, 'base64');
    return key.length === KEY_BYTES ? key : undefined;
  } catch {
    return undefined;
  }
}

function keychainSet(entry: KeychainEntry, key: Buffer): boolean {
  try {
    entry.setPassword(key.toString('base64'));
    const back = keychainGet(entry);
    return back !== undefined && back.equals(key);
  } catch {
    return false;
  }
}

/** Read `encryption.key`, refusing one that group or other can read. */
async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new MoatError(`Cannot read the encryption key ${file}: ${(err as Error).message}`, { code: 'E_CREDENTIAL' });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new MoatError(`The encryption key ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); moat refuses to use it.`, {
      code: 'E_REFUSED',
      hint: `chmod 600 ${file}`,
    });
  }
  const text = (await readFile(file, 'utf8')).trim();
  const key = Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new MoatError(`The encryption key ${file} is damaged (expected ${KEY_BYTES} bytes, base64).`, {
      code: 'E_CREDENTIAL',
      hint: `Move ${file} aside and run \`moat grant <provider>\` again for each grant`,
    });
  }
  return key;
}

/** Create the key file exclusively (link fails if another process won), 0600. Returns the key in effect. */
async function createKeyFile(file: string, key: Buffer): Promise<Buffer> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${key.toString('base64')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
    return key;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    const other = await readKeyFile(file);
    if (!other) throw err;
    return other;
  } finally {
    await rm(tmp, { force: true });
  }
}
