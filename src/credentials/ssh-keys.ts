import { createHash, createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { WireError, WireReader } from './ssh-wire.js';

/**
 * SSH public keys as the agent and known_hosts carry them (wire blobs): the SHA256 fingerprint, the
 * conversion to a node:crypto KeyObject, verification of an SSH signature, and known_hosts lines.
 * Supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (signatures rsa-sha2-256/512).
 */

/** `SHA256:<unpadded base64>`, as ssh-keygen -l and ssh-add -l print it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of a key blob ('ssh-ed25519', …), or undefined when unreadable. */
export function keyType(blob: Buffer): string | undefined {
  try {
    return new WireReader(blob).name('key type');
  } catch {
    return undefined;
  }
}

const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  nistp256: { crv: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { crv: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { crv: 'P-521', size: 66, hash: 'sha512' },
};

const b64url = (b: Buffer): string => b.toString('base64url');

/** A key blob as a KeyObject. Throws WireError for an unsupported or malformed blob. */
export function keyObjectFromBlob(blob: Buffer): KeyObject {
  const r = new WireReader(blob);
  const type = r.name('key type');
  try {
    if (type === 'ssh-ed25519') {
      const pk = r.string('ed25519 key');
      r.end('ed25519 key');
      if (pk.length !== 32) throw new WireError('ed25519 key must be 32 bytes');
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }, format: 'jwk' });
    }
    if (type.startsWith('ecdsa-sha2-')) {
      const curveName = r.name('curve');
      const curve = CURVES[curveName];
      if (!curve || type !== `ecdsa-sha2-${curveName}`) throw new WireError(`unsupported curve ${curveName}`);
      const q = r.string('ecdsa point');
      r.end('ecdsa key');
      if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new WireError('ecdsa point must be uncompressed');
      return createPublicKey({
        key: { kty: 'EC', crv: curve.crv, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) },
        format: 'jwk',
      });
    }
    if (type === 'ssh-rsa') {
      const e = r.mpint('rsa exponent');
      const n = r.mpint('rsa modulus');
      r.end('rsa key');
      if (n.length < 256 || n.length > 2048 || e.length === 0 || e.length > 8) throw new WireError('rsa key size out of range (2048-16384 bits)');
      return createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' });
    }
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`invalid ${type} key: ${(err as Error).message}`);
  }
  throw new WireError(`unsupported key type ${type}`);
}

/** Whether `sigBlob` (an SSH signature: string alg, string bytes) is `blob`'s signature over `data`. */
export function verifySshSignature(blob: Buffer, data: Buffer, sigBlob: Buffer): boolean {
  try {
    const key = keyObjectFromBlob(blob);
    const type = keyType(blob);
    const r = new WireReader(sigBlob);
    const alg = r.name('signature algorithm');
    const sig = r.string('signature');
    r.end('signature');
    if (type === 'ssh-ed25519') return alg === 'ssh-ed25519' && sig.length === 64 && verify(null, data, key, sig);
    if (type?.startsWith('ecdsa-sha2-')) {
      if (alg !== type) return false;
      const curve = CURVES[type.slice('ecdsa-sha2-'.length)]!;
      const s = new WireReader(sig);
      const rr = s.mpint('ecdsa r');
      const ss = s.mpint('ecdsa s');
      s.end('ecdsa signature');
      if (rr.length > curve.size || ss.length > curve.size) return false;
      const p1363 = Buffer.concat([Buffer.alloc(curve.size - rr.length), rr, Buffer.alloc(curve.size - ss.length), ss]);
      return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
    }
    if (type === 'ssh-rsa') {
      const hash = alg === 'rsa-sha2-256' ? 'sha256' : alg === 'rsa-sha2-512' ? 'sha512' : undefined;
      return hash !== undefined && verify(hash, data, key, sig);
    }
    return false;
  } catch {
    return false;
  }
}

/** `TYPE BASE64 [comment]` (a .pub file, an authorized_keys line without options) as a key blob. */
export function parsePublicKeyLine(line: string): Buffer | undefined {
  const m = /^([a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/.exec(line.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const blob = Buffer.from(m[2], 'base64');
  return keyType(blob) === m[1] ? blob : undefined;
}

/** Whether one known_hosts host pattern list (`a,b`, `[h]:2222`, `|1|salt|hash`) names host (port 22). */
function knownHostsNames(field: string, host: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(host).digest();
    const want = Buffer.from(hash, 'base64');
    return want.length === mac.length && timingSafeEqual(mac, want);
  }
  // Negations and wildcards are not followed: moat stages only entries that name the host exactly.
  return field.split(',').some((p) => p.toLowerCase() === host);
}

export interface KnownHostKey {
  /** The key blob. */
  blob: Buffer;
  /** The line as moat stages it for the container: `host TYPE BASE64`. */
  line: string;
}

/** The host keys a known_hosts text holds for host (port 22); @cert-authority and @revoked lines are skipped. */
export function knownHostKeys(text: string, host: string): KnownHostKey[] {
  const out: KnownHostKey[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64 || !knownHostsNames(hosts, host)) continue;
    const blob = parsePublicKeyLine(`${type} ${b64}`);
    if (!blob || out.some((k) => k.blob.equals(blob))) continue;
    out.push({ blob, line: `${host} ${type} ${b64}` });
  }
  return out;
}
