import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCA, loadOrCreateCA } from '../../../src/gateway/ca.js';
import { issueLeaf, LeafCache } from '../../../src/gateway/leaf.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('CA', () => {
  it('creates an ECDSA P-256 CA valid for 10 years, key 0600, and loads the same one again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-ca-'));
    dirs.push(dir);
    const [a, b] = await Promise.all([loadOrCreateCA(join(dir, 'ca')), loadOrCreateCA(join(dir, 'ca'))]);
    expect(a.certPem).toBe(b.certPem);
    const again = await loadOrCreateCA(join(dir, 'ca'));
    expect(again.certPem).toBe(a.certPem);
    expect((await stat(join(dir, 'ca', 'ca.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'ca', 'ca.pem'), 'utf8')).toBe(a.certPem);
    const cert = new X509Certificate(a.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (Date.parse(cert.validTo) - Date.now()) / (365 * 24 * 3600e3);
    expect(years).toBeGreaterThan(9.9);
    expect(cert.serialNumber[0]).toMatch(/[0-7]/);
    expect(a.certPem).not.toContain('PRIVATE KEY');
  });
});

describe('leaf certificates', () => {
  it('issues a leaf for a DNS name and an IP that verify against the CA', async () => {
    const ca = await createCA('t');
    const caCert = new X509Certificate(ca.certPem);
    for (const [host, san] of [
      ['api.example.test', 'DNS:api.example.test'],
      ['127.0.0.1', 'IP Address:127.0.0.1'],
      ['::1', 'IP Address:0:0:0:0:0:0:0:1'],
    ]) {
      const leaf = await issueLeaf(ca, host!);
      const cert = new X509Certificate(leaf.certPem);
      expect(cert.subjectAltName).toBe(san);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.ca).toBe(false);
      expect(leaf.chainPem).toBe(`${leaf.certPem}\n${ca.certPem}`);
    }
  });

  it('caches one context per host and shares a pending generation', async () => {
    const cache = new LeafCache(await createCA('t'));
    const [a, b] = await Promise.all([cache.get('x.test'), cache.get('X.TEST')]);
    expect(a).toBe(b);
    expect(await cache.get('x.test')).toBe(a);
    expect(cache.size).toBe(1);
    expect(a).toHaveProperty('context');
  });
});
