/** The per-home gateway CA: present, valid now and for a while, its key private (0600) and matching. */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { fail, ok, warn, type Check } from './types.js';

/** The file names of src/gateway/ca.ts (not imported: that module loads the certificate library). */
const CERT = 'ca.pem';
const KEY = 'ca.key';
const DAY_MS = 86_400_000;

async function readIf(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export const caCheck: Check = {
  name: 'ca',
  onTimeout: { detail: 'reading the CA took too long', fix: 'Check the disk holding your moat home' },
  async run(ctx) {
    const certFile = join(ctx.home.caDir, CERT);
    const keyFile = join(ctx.home.caDir, KEY);
    const renew = `rm ${certFile} ${keyFile} (the next run creates a new CA)`;
    const [certPem, keyPem] = await Promise.all([readIf(certFile), readIf(keyFile)]);
    if (certPem === undefined && keyPem === undefined) return ok('ca', 'not created yet (the first run creates it)');
    if (certPem === undefined || keyPem === undefined) {
      return fail('ca', `${certPem === undefined ? certFile : keyFile} is missing while ${certPem === undefined ? keyFile : certFile} exists`, renew);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      return fail('ca', `${certFile} is not a readable certificate`, renew);
    }
    const mode = (await stat(keyFile)).mode & 0o777;
    if ((mode & 0o077) !== 0)
      return fail('ca', `the CA key ${keyFile} is readable by other users (mode ${mode.toString(8).padStart(4, '0')})`, `chmod 600 ${keyFile}`);
    try {
      const a = cert.publicKey.export({ type: 'spki', format: 'der' });
      const b = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
      if (!a.equals(b)) return fail('ca', `the CA key ${keyFile} does not belong to ${certFile}`, renew);
    } catch {
      return fail('ca', `the CA key ${keyFile} is not a readable private key`, renew);
    }
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    const dates = `valid ${from.toISOString().slice(0, 10)} to ${to.toISOString().slice(0, 10)}`;
    const now = ctx.now.getTime();
    if (now < from.getTime()) return fail('ca', `${certFile} is not valid yet (${dates}); is the clock right?`, 'Set the system clock, or ' + renew);
    if (now >= to.getTime()) return fail('ca', `${certFile} expired (${dates})`, renew);
    if (to.getTime() - now < 30 * DAY_MS) return warn('ca', `${certFile} expires within 30 days (${dates})`, renew);
    return ok('ca', `${certFile}, ${dates}, key 0${mode.toString(8)}`);
  },
};
