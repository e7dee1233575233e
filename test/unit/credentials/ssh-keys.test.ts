import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, keyObjectFromBlob, knownHostKeys, parsePublicKeyLine, verifySshSignature } from '../../../src/credentials/ssh-keys.js';
import { WireReader, WireWriter } from '../../../src/credentials/ssh-wire.js';
import { ecdsaKey, ed25519Key, pubLine, rsaKey } from './ssh-helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-sshkeys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** OpenSSH's SSHSIG (ssh-keygen -Y sign): the signed blob is built from the message's hash. */
function sshsigSignedData(message: Buffer, namespace: string): Buffer {
  return new WireWriter()
    .raw(Buffer.from('SSHSIG'))
    .string(namespace)
    .string('')
    .string('sha512')
    .string(createHash('sha512').update(message).digest())
    .toBuffer();
}

describe('SSH keys against OpenSSH itself', () => {
  for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
    it(`${type}: fingerprint matches ssh-keygen -l and a signature made by ssh-keygen -Y sign verifies`, async () => {
      const key = join(dir, `id_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'test', '-f', key]);
      const blob = parsePublicKeyLine(await readFile(`${key}.pub`, 'utf8'));
      expect(blob).toBeDefined();
      const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`]).toString();
      expect(listed.split(' ')[1]).toBe(fingerprint(blob!));
      const message = Buffer.from(`hello ${type}`);
      await writeFile(join(dir, 'msg'), message);
      execFileSync('ssh-keygen', ['-Y', 'sign', '-q', '-f', key, '-n', 'file', join(dir, 'msg')]);
      const armored = await readFile(join(dir, 'msg.sig'), 'utf8');
      await rm(join(dir, 'msg.sig'));
      const body = Buffer.from(armored.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      const r = new WireReader(body.subarray(6)); // "SSHSIG"
      r.uint32();
      expect(r.string().equals(blob!)).toBe(true);
      r.string(); // namespace
      r.string(); // reserved
      r.string(); // hash alg
      const sig = Buffer.from(r.string());
      expect(verifySshSignature(blob!, sshsigSignedData(message, 'file'), sig)).toBe(true);
      expect(verifySshSignature(blob!, sshsigSignedData(Buffer.from('other'), 'file'), sig)).toBe(false);
    });
  }
});

describe('SSH signature verification', () => {
  it('accepts each type only with its own key and data', () => {
    const keys = [ed25519Key(), ecdsaKey(), rsaKey()];
    const data = randomBytes(32);
    for (const k of keys) {
      expect(verifySshSignature(k.blob, data, k.sign(data))).toBe(true);
      expect(verifySshSignature(k.blob, randomBytes(32), k.sign(data))).toBe(false);
      for (const other of keys.filter((o) => o !== k)) expect(verifySshSignature(other.blob, data, k.sign(data))).toBe(false);
    }
  });

  it('refuses rsa ssh-rsa (SHA-1) signatures, a wrong algorithm name, and garbage', () => {
    const k = rsaKey();
    const data = randomBytes(32);
    const good = new WireReader(k.sign(data));
    good.string();
    const raw = Buffer.from(good.string());
    expect(verifySshSignature(k.blob, data, new WireWriter().string('ssh-rsa').string(raw).toBuffer())).toBe(false);
    const e = ed25519Key();
    const sig = new WireReader(e.sign(data));
    sig.string();
    expect(verifySshSignature(e.blob, data, new WireWriter().string('ecdsa-sha2-nistp256').string(sig.string()).toBuffer())).toBe(false);
    expect(verifySshSignature(e.blob, data, randomBytes(80))).toBe(false);
    expect(verifySshSignature(randomBytes(40), data, e.sign(data))).toBe(false);
  });

  it('refuses malformed and unsupported key blobs', () => {
    const bad = [
      new WireWriter().string('ssh-ed25519').string(randomBytes(31)).toBuffer(),
      new WireWriter().string('ssh-ed25519').string(randomBytes(32)).string('x').toBuffer(),
      new WireWriter().string('ssh-dss').string(randomBytes(32)).toBuffer(),
      new WireWriter().string('ecdsa-sha2-nistp256').string('nistp384').string(randomBytes(65)).toBuffer(),
      new WireWriter()
        .string('ssh-rsa')
        .mpint(Buffer.from([1, 0, 1]))
        .mpint(randomBytes(64))
        .toBuffer(),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    ];
    for (const b of bad) expect(() => keyObjectFromBlob(b)).toThrow();
  });
});

describe('known_hosts', () => {
  it('finds plain and hashed entries for exactly the host on port 22', () => {
    const a = ed25519Key();
    const b = ecdsaKey();
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('git.a.test').digest('base64')}`;
    const text = [
      '# comment',
      `git.a.test,10.0.0.1 ${pubLine(a.blob)}`,
      `${hashed} ${pubLine(b.blob)}`,
      `[git.a.test]:2222 ${pubLine(rsaKey().blob)}`,
      `*.test ${pubLine(ed25519Key().blob)}`,
      `@revoked git.a.test ${pubLine(ed25519Key().blob)}`,
      `git.b.test ${pubLine(ed25519Key().blob)}`,
    ].join('\n');
    const found = knownHostKeys(text, 'git.a.test');
    expect(found.map((k) => k.blob.toString('base64'))).toEqual([a.blob.toString('base64'), b.blob.toString('base64')]);
    expect(found[1]!.line).toBe(`git.a.test ${pubLine(b.blob)}`);
    expect(knownHostKeys(text, 'git.c.test')).toEqual([]);
  });
});
