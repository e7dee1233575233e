import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * The one place that wires @peculiar/x509 to Node's WebCrypto. Every certificate moat creates is
 * ECDSA P-256 signed with SHA-256, natively (Node 20 cannot create X.509 itself).
 */
x509.cryptoProvider.set(webcrypto as never);

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export { x509 };
const crypto = webcrypto;
const EC_ALG: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGN_ALG: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
}

export async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no PEM block in key file');
  return crypto.subtle.importKey('pkcs8', der, EC_ALG, true, ['sign']);
}

/** A random positive serial (16 bytes, top bit cleared so DER never reads it as negative). */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
