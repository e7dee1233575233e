/** The per-home gateway CA: present, valid now and for a while, its key private (0600) and matching. */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { fail, ok, warn, type Check, type CheckResult } from './types.js';

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

/** What differs between the two CAs a home keeps: the check's name, its folder, how to renew it, and one extra look. */
export interface CaFiles {
  name: string;
  dir: string;
  /** The exact command that replaces the CA. */
  renew: string;
  /** What to say when neither file exists. */
  absent: string;
  /** A problem of this CA's certificate beyond its files, dates and key (undefined: none). */
  inspect?(cert: X509Certificate, certFile: string): CheckResult | undefined;
}

/** One CA folder: both files present, the certificate readable and valid now, the key 0600 and its own. */
export async function checkCaFiles(f: CaFiles, nowDate: Date): Promise<CheckResult> {
  const { name, renew } = f;
  const certFile = join(f.dir, CERT);
  const keyFile = join(f.dir, KEY);
  const [certPem, keyPem] = await Promise.all([readIf(certFile), readIf(keyFile)]);
  if (certPem === undefined && keyPem === undefined) return ok(name, f.absent);
  if (certPem === undefined || keyPem === undefined) {
    return fail(name, `${certPem === undefined ? certFile : keyFile} is missing while ${certPem === undefined ? keyFile : certFile} exists`, renew);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return fail(name, `${certFile} is not a readable certificate`, renew);
  }
  const mode = (await stat(keyFile)).mode & 0o777;
  if ((mode & 0o077) !== 0)
    return fail(name, `the CA key ${keyFile} is readable by other users (mode ${mode.toString(8).padStart(4, '0')})`, `chmod 600 ${keyFile}`);
  try {
    const a = cert.publicKey.export({ type: 'spki', format: 'der' });
    const b = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    if (!a.equals(b)) return fail(name, `the CA key ${keyFile} does not belong to ${certFile}`, renew);
  } catch {
    return fail(name, `the CA key ${keyFile} is not a readable private key`, renew);
  }
  const extra = f.inspect?.(cert, certFile);
  if (extra) return extra;
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  const dates = `valid ${from.toISOString().slice(0, 10)} to ${to.toISOString().slice(0, 10)}`;
  const now = nowDate.getTime();
  if (now < from.getTime()) return fail(name, `${certFile} is not valid yet (${dates}); is the clock right?`, 'Set the system clock, or ' + renew);
  if (now >= to.getTime()) return fail(name, `${certFile} expired (${dates})`, renew);
  if (to.getTime() - now < 30 * DAY_MS) return warn(name, `${certFile} expires within 30 days (${dates})`, renew);
  return ok(name, `${certFile}, ${dates}, key 0${mode.toString(8)}`);
}

export const caCheck: Check = {
  name: 'ca',
  onTimeout: { detail: 'reading the CA took too long', fix: 'Check the disk holding your moat home' },
  run(ctx) {
    const d = ctx.home.caDir;
    return checkCaFiles(
      {
        name: 'ca',
        dir: d,
        renew: `rm ${join(d, CERT)} ${join(d, KEY)} (the next run creates a new CA)`,
        absent: 'not created yet (the first run creates it)',
      },
      ctx.now,
    );
  },
};
