import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MoatError, errnoCode } from '../errors.js';
import { atomicWrite, withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import { loadKey, type KeyOptions, type LoadedKey } from './key.js';
import type { StoredCredential } from './types.js';
import { CREDENTIAL_NAME_RE } from './names.js';

/**
 * `<home>/credentials/<name>.enc`: version byte, 12-byte random nonce, 16-byte GCM tag, ciphertext of the
 * JSON payload. The credential name is bound in as additional data, so a file renamed to another
 * credential fails to decrypt instead of silently standing in for it.
 */

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;
const NAME_RE = CREDENTIAL_NAME_RE;

const payloadSchema = z.object({
  provider: z.string().min(1),
  kind: z.string().min(1),
  secret: z.record(z.string(), z.string()),
  scopes: z.array(z.string()),
  expiresAt: z.string().optional(),
  createdAt: z.string(),
  source: z.string(),
  meta: z.record(z.string(), z.string()).optional(),
});

export type CredentialListEntry =
  { name: string; status: 'ok'; credential: StoredCredential } | { name: string; status: 'corrupt'; error: string; fix: string };

export function validateCredentialName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new MoatError(`Invalid credential name "${name}": use lowercase letters, digits, ".", "_" or "-".`, {
      code: 'E_USAGE',
      hint: 'moat grant list',
    });
  }
  return name;
}

function corrupt(name: string, why: string, cause?: unknown): MoatError {
  return new MoatError(`The credential "${name}" cannot be read: ${why}.`, {
    code: 'E_CREDENTIAL',
    hint: `moat grant ${name}`,
    cause,
  });
}

export class CredentialStore {
  private key: LoadedKey | undefined;

  constructor(
    readonly home: MoatHome,
    private readonly keyOptions: Omit<KeyOptions, 'create'> = {},
  ) {}

  pathOf(name: string): string {
    return join(this.home.credentialsDir, `${validateCredentialName(name)}.enc`);
  }

  private async getKey(create: boolean): Promise<LoadedKey | undefined> {
    if (!this.key) this.key = await loadKey(this.home, { ...this.keyOptions, create });
    return this.key;
  }

  /** The credential, or undefined when there is none. Throws MoatError when the file is unreadable. */
  async get(name: string): Promise<StoredCredential | undefined> {
    let data: Buffer;
    try {
      data = await readFile(this.pathOf(name));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw corrupt(name, (err as Error).message, err);
    }
    const key = await this.getKey(false);
    if (!key) throw corrupt(name, 'the encryption key is missing (keychain entry and encryption.key both absent)');
    return decode(name, data, key.key);
  }

  async put(name: string, cred: StoredCredential): Promise<void> {
    const path = this.pathOf(name);
    const checked = payloadSchema.parse(cred);
    const key = await this.getKey(true);
    if (!key) throw new MoatError('Could not create an encryption key.', { code: 'E_CREDENTIAL' });
    await withLock(path, () => atomicWrite(path, encode(name, checked, key.key), 0o600));
  }

  /** Every credential; a file that cannot be read is reported, never thrown. */
  async list(): Promise<CredentialListEntry[]> {
    let files: string[];
    try {
      files = await readdir(this.home.credentialsDir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const names = files
      .filter((f) => f.endsWith('.enc'))
      .map((f) => f.slice(0, -4))
      .filter((n) => NAME_RE.test(n));
    const out: CredentialListEntry[] = [];
    for (const name of names.sort()) {
      try {
        const credential = await this.get(name);
        if (credential) out.push({ name, status: 'ok', credential });
      } catch (err) {
        out.push({ name, status: 'corrupt', error: (err as Error).message, fix: `moat grant ${name}` });
      }
    }
    return out;
  }

  /** Delete a credential; false when there was none. */
  async remove(name: string): Promise<boolean> {
    const path = this.pathOf(name);
    return withLock(path, async () => {
      try {
        await rm(path);
        return true;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return false;
        throw err;
      }
    });
  }
}

function aad(name: string): Buffer {
  return Buffer.from(`moat-credential:v${VERSION}:${name}`, 'utf8');
}

function encode(name: string, cred: StoredCredential, key: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(name));
  const body = Buffer.concat([cipher.update(JSON.stringify(cred), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]);
}

function decode(name: string, data: Buffer, key: Buffer): StoredCredential {
  if (data.length <= HEADER_BYTES) throw corrupt(name, 'the file is truncated');
  if (data[0] !== VERSION) throw corrupt(name, `unknown file format version ${String(data[0])}`);
  const nonce = data.subarray(1, 1 + NONCE_BYTES);
  const tag = data.subarray(1 + NONCE_BYTES, HEADER_BYTES);
  let json: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(name));
    decipher.setAuthTag(tag);
    json = Buffer.concat([decipher.update(data.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
  } catch (err) {
    throw corrupt(name, 'it does not decrypt (damaged file, or encrypted with a different key)', err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw corrupt(name, 'its contents are not valid JSON', err);
  }
  const result = payloadSchema.safeParse(parsed);
  if (!result.success) throw corrupt(name, 'its contents have an unexpected shape');
  return result.data;
}
