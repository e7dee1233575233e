import { spawn } from 'node:child_process';
import { MoatError } from '../../errors.js';
import type { SecretReference } from '../../secret-reference.js';

/**
 * `op read --no-newline REF` (1Password CLI): the reference goes in argv (it names a place, not a value);
 * the value comes back on stdout only and is never echoed. op's own failure text (stderr, which never
 * holds the value) is mapped to the command that fixes it.
 */

const MAX_VALUE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 60_000;

type OpRef = Extract<SecretReference, { scheme: 'op' }>;

interface OpResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  missing: boolean;
}

function runOp(ref: string, env: NodeJS.ProcessEnv): Promise<OpResult> {
  return new Promise((resolve) => {
    const child = spawn('op', ['read', '--no-newline', ref], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes <= MAX_VALUE_BYTES) out.push(c);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (err.length < 4096) err += c;
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: Buffer.alloc(0), stderr: '', missing: e.code === 'ENOENT' });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: outBytes <= MAX_VALUE_BYTES ? Buffer.concat(out) : Buffer.alloc(0), stderr: err, missing: false });
    });
  });
}

/** op's message without its "[ERROR] date time" head, on one line, bounded (it names places, never values). */
function opMessage(stderr: string): string {
  const line =
    stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  return (
    line
      .replace(/^\[ERROR\]\s+\S+\s+\S+\s+/, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x1f\x7f]/g, ' ')
      .slice(0, 300)
  );
}

function opError(name: string, r: OpRef, result: Pick<OpResult, 'code' | 'stderr' | 'missing'>): MoatError {
  const what = `The secret ${name} (${r.ref})`;
  if (result.missing) {
    return new MoatError(`${what} needs the 1Password CLI, and "op" is not on PATH.`, {
      code: 'E_CREDENTIAL',
      hint: 'Install it (https://developer.1password.com/docs/cli/get-started/), then sign in: eval $(op signin)',
    });
  }
  const msg = opMessage(result.stderr);
  const low = msg.toLowerCase();
  if (/not (currently )?signed in|no accounts? (configured|found)|session (has )?expired|authentication required|sign in/.test(low)) {
    return new MoatError(`${what} cannot be read: the 1Password CLI is not signed in.`, { code: 'E_CREDENTIAL', hint: 'eval $(op signin)' });
  }
  if (/isn't a vault|vault .*not found|no vault/.test(low)) {
    return new MoatError(`${what} cannot be read: 1Password has no vault "${r.vault}" in this account.`, {
      code: 'E_NOT_FOUND',
      hint: 'op vault list   (then fix the vault in moat.yaml secrets)',
    });
  }
  if (/isn't an item|item .*not found|no item|could not find item/.test(low)) {
    return new MoatError(`${what} cannot be read: the vault "${r.vault}" has no item "${r.item}".`, {
      code: 'E_NOT_FOUND',
      hint: `op item list --vault ${JSON.stringify(r.vault)}`,
    });
  }
  if (/isn't a field|field .*not found|does not have a field|no field/.test(low)) {
    return new MoatError(`${what} cannot be read: the item "${r.item}" has no such field.`, {
      code: 'E_NOT_FOUND',
      hint: `op item get ${JSON.stringify(r.item)} --vault ${JSON.stringify(r.vault)}`,
    });
  }
  const code = result.code === null ? 'timed out or was killed' : `exited with ${result.code}`;
  return new MoatError(`${what} cannot be read: op read ${code}${msg ? `: ${msg}` : ''}.`, {
    code: 'E_CREDENTIAL',
    hint: `op read ${JSON.stringify(r.ref)}   (run it yourself to see what 1Password says)`,
  });
}

export async function readOp(name: string, r: OpRef, env: NodeJS.ProcessEnv): Promise<string> {
  const result = await runOp(r.ref, env);
  if (result.missing || result.code !== 0) throw opError(name, r, result);
  const value = result.stdout.toString('utf8');
  if (value === '')
    throw new MoatError(`The secret ${name} (${r.ref}) is empty in 1Password.`, {
      code: 'E_CREDENTIAL',
      hint: `op item get ${JSON.stringify(r.item)} --vault ${JSON.stringify(r.vault)}`,
    });
  return value;
}
