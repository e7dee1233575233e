import { isIP } from 'node:net';
import tls from 'node:tls';
import type { CA } from './ca.js';
import { type CryptoKeyPair, exportKeyPem, generateKeyPair, randomSerial, SIGN_ALG, x509 } from './x509.js';

export interface LeafPem {
  certPem: string;
  keyPem: string;
  /** Leaf then CA, joined with "\n": what a TLS server presents. */
  chainPem: string;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Issue a server certificate for one host (DNS name or IP literal), signed by `ca`. `keys` lets a
 * caller reuse one key pair across leaves (the proxy does: the CA signature is what makes a leaf).
 */
export async function issueLeaf(ca: CA, host: string, opts: { keys?: CryptoKeyPair; keyPem?: string; now?: Date } = {}): Promise<LeafPem> {
  const keys = opts.keys ?? (await generateKeyPair());
  const now = opts.now ?? new Date();
  const name = host.replace(/^\[|\]$/g, '');
  const san = isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name };
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${isIP(name) ? 'moat-ip' : name.slice(0, 64)}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 365 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([san]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const certPem = cert.toString('pem');
  const keyPem = opts.keyPem ?? (await exportKeyPem(keys.privateKey));
  return { certPem, keyPem, chainPem: `${certPem}\n${ca.certPem}` };
}

/**
 * Per-host TLS contexts for interception. One generation per host: concurrent callers for the same
 * host share the pending promise; a failed generation is forgotten so the next call retries. The map
 * is bounded (oldest entry evicted first).
 */
export class LeafCache {
  private readonly contexts = new Map<string, Promise<tls.SecureContext>>();
  private sharedKeys: Promise<{ keys: CryptoKeyPair; keyPem: string }> | undefined;

  constructor(
    private readonly ca: CA,
    private readonly maxEntries = 2000,
  ) {}

  get size(): number {
    return this.contexts.size;
  }

  get(host: string): Promise<tls.SecureContext> {
    const key = host.toLowerCase();
    const hit = this.contexts.get(key);
    if (hit) return hit;
    const pending = this.generate(key);
    this.contexts.set(key, pending);
    pending.catch(() => {
      if (this.contexts.get(key) === pending) this.contexts.delete(key);
    });
    if (this.contexts.size > this.maxEntries) {
      const oldest = this.contexts.keys().next().value;
      if (oldest !== undefined) this.contexts.delete(oldest);
    }
    return pending;
  }

  private async generate(host: string): Promise<tls.SecureContext> {
    this.sharedKeys ??= generateKeyPair().then(async (keys) => ({ keys, keyPem: await exportKeyPem(keys.privateKey) }));
    const { keys, keyPem } = await this.sharedKeys;
    const leaf = await issueLeaf(this.ca, host, { keys, keyPem });
    return tls.createSecureContext({ key: leaf.keyPem, cert: leaf.chainPem });
  }
}
