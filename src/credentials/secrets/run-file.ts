import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MoatError, errnoCode } from '../../errors.js';
import { atomicWrite } from '../../home/fs.js';
import type { MoatHome } from '../../home/paths.js';
import { loadKey } from '../key.js';
import type { ResolvedSecret } from './types.js';

/**
 * `runs/<id>/secrets.enc`: a run's resolved secrets, from the CLI (which resolved them in the user's
 * environment) to the daemon (which substitutes them, and takes them over after a restart). Encrypted like
 * the credential store, with the run id bound in, so it never holds a value in plain text and a file
 * copied to another run does not decrypt. Outside every mount of the run; removed when the run ends.
 */

export const RUN_SECRETS_FILE = 'secrets.enc';
const VERSION = 1;
const NONCE = 12;
const TAG = 16;

const payload = z.array(
  z.object({
    name: z.string(),
    scheme: z.enum(['op', 'ssm', 'env']),
    ref: z.string(),
    value: z.string(),
    placeholder: z.string(),
    hosts: z.array(z.string()),
    expose: z.literal('env').optional(),
  }),
);

const aad = (runId: string): Buffer => Buffer.from(`moat-run-secrets:v${VERSION}:${runId}`, 'utf8');

export async function writeRunSecrets(home: MoatHome, runId: string, secrets: readonly ResolvedSecret[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const key = await loadKey(home, { env, create: true });
  if (!key) throw new MoatError("Could not create an encryption key for the run's secrets.", { code: 'E_CREDENTIAL' });
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad(runId));
  const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
  await atomicWrite(join(home.runDir(runId), RUN_SECRETS_FILE), Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]), 0o600);
}

/** The run's secrets; none when it has no file. Throws MoatError when the file does not decrypt. */
export async function readRunSecrets(home: MoatHome, runId: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedSecret[]> {
  let data: Buffer;
  try {
    data = await readFile(join(home.runDir(runId), RUN_SECRETS_FILE));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const bad = (why: string): MoatError =>
    new MoatError(`The secrets of run ${runId} cannot be read: ${why}.`, {
      code: 'E_CREDENTIAL',
      hint: 'Start the run again (moat resolves its secrets anew).',
    });
  const key = await loadKey(home, { env, create: false });
  if (!key) throw bad('the encryption key is missing');
  if (data.length <= 1 + NONCE + TAG || data[0] !== VERSION) throw bad('the file is damaged');
  let json: string;
  try {
    const d = createDecipheriv('aes-256-gcm', key.key, data.subarray(1, 1 + NONCE), { authTagLength: TAG });
    d.setAAD(aad(runId));
    d.setAuthTag(data.subarray(1 + NONCE, 1 + NONCE + TAG));
    json = Buffer.concat([d.update(data.subarray(1 + NONCE + TAG)), d.final()]).toString('utf8');
  } catch {
    throw bad('it does not decrypt (damaged, moved from another run, or a different key)');
  }
  const parsed = payload.safeParse(JSON.parse(json));
  if (!parsed.success) throw bad('its contents have an unexpected shape');
  return parsed.data.map((s) => ({ ...s, ...(s.expose ? { expose: s.expose } : {}) }));
}

export async function removeRunSecrets(home: MoatHome, runId: string): Promise<void> {
  await rm(join(home.runDir(runId), RUN_SECRETS_FILE), { force: true });
}
