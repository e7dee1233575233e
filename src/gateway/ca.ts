import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { MoatError, errnoCode } from '../errors.js';
import { atomicWrite, withLock } from '../home/fs.js';
import { type CryptoKey, exportKeyPem, generateKeyPair, importKeyPem, randomSerial, SIGN_ALG, x509 } from './x509.js';

/** A certificate authority: PEMs for files and containers, parsed forms for signing leaves. */
export interface CA {
  certPem: string;
  /** Never leaves the host: never mounted, never logged. */
  keyPem: string;
  cert: x509.X509Certificate;
  key: CryptoKey;
}

import { CA_CERT_FILE } from './ca-names.js';
export { CA_CERT_FILE };
export const CA_KEY_FILE = 'ca.key';
const TEN_YEARS_MS = 10 * 365.25 * 24 * 3600 * 1000;

/** Create a fresh ECDSA P-256 CA, valid for 10 years (one hour of back-dating for clock skew). */
export async function createCA(commonName = 'Moat Gateway CA', now = new Date(), extra: readonly x509.Extension[] = []): Promise<CA> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}, O=Moat`,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + TEN_YEARS_MS),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...extra,
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey), cert, key: keys.privateKey };
}

/** Parse a CA from its PEMs. */
export async function parseCA(certPem: string, keyPem: string): Promise<CA> {
  return { certPem, keyPem, cert: new x509.X509Certificate(certPem), key: await importKeyPem(keyPem) };
}

/**
 * Load `<dir>/ca.pem` + `<dir>/ca.key`, creating both (key 0600) on first use. Creation runs under a
 * cross-process lock so two processes starting at once agree on one CA.
 */
export async function loadOrCreateCA(dir: string, create: () => Promise<CA> = () => createCA()): Promise<CA> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  const existing = await readPair(certPath, keyPath);
  if (existing) return existing;
  return withLock(certPath, async () => {
    const again = await readPair(certPath, keyPath);
    if (again) return again;
    const ca = await create();
    await atomicWrite(keyPath, ca.keyPem, 0o600);
    await atomicWrite(certPath, ca.certPem, 0o644);
    return ca;
  });
}

async function readPair(certPath: string, keyPath: string): Promise<CA | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return await parseCA(certPem, keyPem);
  } catch (err) {
    throw new MoatError(`The moat CA in ${certPath} is unreadable: ${(err as Error).message}`, {
      code: 'E_CREDENTIAL',
      hint: `remove ${certPath} and ${keyPath} to create a new CA (containers must then trust the new one)`,
      cause: err,
    });
  }
}
