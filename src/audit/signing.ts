import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../errors.js';
import { atomicWrite, withLock } from '../home/fs.js';
import type { MoatHome } from '../home/paths.js';
import { canonicalJson } from './canonical.js';
import type { Checkpoint, CheckpointBody } from './types.js';

/** Signs checkpoints. The home key (loadOrCreateSigner) in production; generateSigner() in tests. */
export interface AuditSigner {
  readonly keyId: string;
  readonly publicKeyPem: string;
  sign(bytes: Uint8Array): string;
}

export function signingKeyPaths(home: MoatHome): { key: string; pub: string } {
  return { key: join(home.auditDir, 'signing.key'), pub: join(home.auditDir, 'signing.pub') };
}

/** `SHA256:` + base64url(sha256(SPKI DER)) of an Ed25519 public key. */
export function keyFingerprint(key: KeyObject | string): string {
  const obj = typeof key === 'string' ? createPublicKey(key) : key;
  const der = obj.export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64url')}`;
}

export function parsePublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new MoatError('not a valid public key (expected an Ed25519 SPKI PEM)', { code: 'E_USAGE', cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new MoatError(`audit keys are Ed25519, got ${key.asymmetricKeyType ?? 'unknown'}`, { code: 'E_USAGE' });
  return key;
}

function signerFromPrivate(priv: KeyObject): AuditSigner {
  const pub = createPublicKey(priv);
  const publicKeyPem = pub.export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyId: keyFingerprint(pub),
    publicKeyPem,
    sign: (bytes) => sign(null, bytes, priv).toString('base64'),
  };
}

/** An in-memory key (tests, "another machine's key"). */
export function generateSigner(): AuditSigner {
  return signerFromPrivate(generateKeyPairSync('ed25519').privateKey);
}

async function readPrivateKey(path: string): Promise<KeyObject | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new MoatError(`audit signing key ${path} is readable by other users (mode ${(mode & 0o777).toString(8)})`, {
      code: 'E_REFUSED',
      hint: `chmod 600 ${path}`,
    });
  }
  try {
    return createPrivateKey(await readFile(path, 'utf8'));
  } catch (err) {
    throw new MoatError(`audit signing key ${path} is not a valid PKCS8 PEM key`, { code: 'E_AUDIT', cause: err });
  }
}

/**
 * The home's Ed25519 signing key at <home>/audit/signing.key (0600, PKCS8 PEM) with signing.pub next to
 * it; created on first use under a cross-process lock so two processes never mint two keys.
 */
export async function loadOrCreateSigner(home: MoatHome): Promise<AuditSigner> {
  const paths = signingKeyPaths(home);
  const existing = await readPrivateKey(paths.key);
  if (existing) return signerFromPrivate(existing);
  await mkdir(home.auditDir, { recursive: true, mode: 0o700 });
  return withLock(paths.key, async () => {
    const again = await readPrivateKey(paths.key);
    if (again) return signerFromPrivate(again);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await atomicWrite(paths.pub, publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644);
    await atomicWrite(paths.key, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    return signerFromPrivate(privateKey);
  });
}

/** The home's public key (read-only; never creates one). */
export async function loadPublicKey(home: MoatHome): Promise<KeyObject | undefined> {
  try {
    return parsePublicKey(await readFile(signingKeyPaths(home).pub, 'utf8'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function bodyBytes(b: CheckpointBody): Buffer {
  return Buffer.from(canonicalJson({ count: b.count, final: b.final, root: b.root, runId: b.runId, ts: b.ts }));
}

export function signCheckpoint(body: CheckpointBody, signer: AuditSigner): Checkpoint {
  return { ...body, sig: signer.sign(bodyBytes(body)), keyId: signer.keyId };
}

/** Checks the signature only (not the key id): true when `key` signed exactly this body. */
export function checkpointSignatureValid(cp: Checkpoint, key: KeyObject): boolean {
  const sig = Buffer.from(cp.sig, 'base64');
  // Strict: exactly the canonical base64 of 64 bytes (lenient decoding would accept altered text).
  if (sig.length !== 64 || sig.toString('base64') !== cp.sig) return false;
  try {
    return verify(null, bodyBytes(cp), key, sig);
  } catch {
    return false;
  }
}
