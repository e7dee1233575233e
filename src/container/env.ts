/**
 * The two environments of a run's container. moat-init runs as root with a few capabilities, so it
 * starts with a FIXED environment that nothing a run, a workspace or moat.yaml can set reaches: the
 * container's own Env only blanks the dynamic loader's and the shells' start-up variables (so a base
 * image's ENV cannot set them either), and the entrypoint is `env -i` with moat's numbers. The run's
 * environment (the image's ENV, moat.yaml's env:, -e, the gateway's and grants' variables) is a data
 * file on a read-only mount that moat-init applies only after dropping to the run's user.
 */
import { ENV_NAME_RE } from '../config/rules.js';
import { MoatError } from '../errors.js';

/** The PATH of the privileged start: system folders only. */
const INIT_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Variables that change what a program loads or runs before its first instruction (the dynamic loader's,
 * glibc's module and locale paths, the shells' start-up files), among those an empty value disables.
 * Blank in the container's Env, they override any value from the image's ENV for the first process,
 * `env -i`, which then leaves every variable behind.
 */
export const LOADER_VARIABLES = [
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'LD_DEBUG',
  'LD_DEBUG_OUTPUT',
  'LD_PROFILE',
  'LD_ORIGIN_PATH',
  'GLIBC_TUNABLES',
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'RES_OPTIONS',
  'LOCALDOMAIN',
  'MALLOC_TRACE',
  'TMPDIR',
  'TZDIR',
  'BASH_ENV',
  'ENV',
];

/** The container's Env: nothing but blanks (see LOADER_VARIABLES). */
export function privilegedEnv(): Record<string, string> {
  return Object.fromEntries(LOADER_VARIABLES.map((k) => [k, '']));
}

/** The entrypoint: moat-init under `env -i`, with moat's own values only (numbers, checked again by moat-init). */
export function initEntrypoint(values: { uid: number; gid: number; proxyPort?: number; servicePorts?: number[]; spare?: boolean }): string[] {
  const n = (what: string, v: number): string => {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what} must be a non-negative integer`);
    return String(v);
  };
  return [
    '/usr/bin/env',
    '-i',
    `PATH=${INIT_PATH}`,
    `MOAT_UID=${n('uid', values.uid)}`,
    `MOAT_GID=${n('gid', values.gid)}`,
    ...(values.proxyPort !== undefined ? [`MOAT_PROXY_PORT=${n('proxy port', values.proxyPort)}`] : []),
    // The services' ports (ports.ts): moat-init connects each one's tunnel to the daemon's socket.
    ...(values.servicePorts?.length ? [`MOAT_PORTS=${[...new Set(values.servicePorts)].map((p) => n('service port', p)).join(',')}`] : []),
    // A spare waits, prepared, for the run that claims it (moat-init.sh, daemon/spares.ts).
    ...(values.spare ? ['MOAT_SPARE=1'] : []),
    '/bin/sh',
    '/usr/local/bin/moat-init',
  ];
}

/** The image's ENV ("NAME=value" strings) as a record; a later duplicate wins, as in Docker. */
function imageEnvRecord(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list) {
    const at = e.indexOf('=');
    if (at > 0) out[e.slice(0, at)] = e.slice(at + 1);
  }
  return out;
}

/**
 * The run user's environment, lowest precedence first: a default PATH, the image's ENV, moat's USER,
 * then `layers` (moat.yaml/-e, the gateway's and grants' variables, the run's own), and HOME last.
 */
export function userEnvironment(imageEnv: readonly string[], layers: Array<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, USER: 'moat', ...imageEnvRecord(imageEnv) };
  for (const l of layers) Object.assign(env, l);
  env.HOME = '/home/moat';
  return env;
}

/** A value escaped for `printf %b`: backslash, and every control character as `\0ooo`. */
function escapeValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\\\x00-\x1f\x7f]/g, (c) => (c === '\\' ? '\\\\' : `\\0${c.charCodeAt(0).toString(8).padStart(3, '0')}`));
}

/**
 * The environment file: one `NAME=VALUE` a line, VALUE escaped for printf %b, so values with newlines,
 * `=`, quotes or backslashes round-trip exactly. Names are checked here (and again by moat-init).
 */
export function encodeEnvFile(env: Record<string, string>): string {
  let out = '';
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME_RE.test(name)) {
      throw new MoatError(`"${name}" is not a valid environment variable name.`, {
        code: 'E_CONFIG',
        hint: 'Use letters, digits and _, not starting with a digit.',
      });
    }
    if (value.includes('\0')) throw new MoatError(`The value of ${name} holds a NUL character, which no environment can carry.`, { code: 'E_CONFIG' });
    out += `${name}=${escapeValue(value)}\n`;
  }
  return out;
}

/**
 * A spare's command (container/plan.ts): one argument a line, escaped as the environment's values are,
 * read by moat-init after the privilege drop. An empty argument is an empty line.
 */
export function encodeArgvFile(argv: readonly string[]): string {
  let out = '';
  for (const arg of argv) {
    if (arg.includes('\0')) throw new MoatError('An argument of the command holds a NUL character, which no command line can carry.', { code: 'E_CONFIG' });
    out += `${escapeValue(arg)}\n`;
  }
  return out;
}
