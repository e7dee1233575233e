/**
 * Loading moat.yaml (or the legacy agent.yaml) from a workspace, and ~/.moat/config.yaml.
 * Errors carry FILE:LINE:COL (see parse.ts); the loaded config is normalised into a ResolvedConfig:
 * env as a record, mounts as {source, target, readOnly} with sources made absolute.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { MoatError, errnoCode } from '../errors.js';
import { mountProblem } from './rules.js';
import type { GlobalConfig, MoatConfig } from './schema.js';
import type { Mount } from '../runtime/types.js';

/** The YAML parser and the schema load only when there is a file to read (a bare run never needs them). */
async function validator() {
  const [{ parseConfigText }, { globalConfigSchema, moatConfigSchema }] = await Promise.all([import('./parse.js'), import('./schema.js')]);
  return { parseConfigText, globalConfigSchema, moatConfigSchema };
}

/** Looked up in this order; the first that exists wins. */
const WORKSPACE_CONFIG_FILES = ['moat.yaml', 'agent.yaml'] as const;

/** moat.yaml after normalisation: what the rest of Moat consumes. */
export type ResolvedConfig = Omit<MoatConfig, 'env' | 'mounts'> & {
  env: Record<string, string>;
  mounts: Mount[];
};

export interface LoadedWorkspaceConfig {
  config: ResolvedConfig;
  /** The validated file exactly as written (before normalisation). */
  raw: MoatConfig;
  /** Absolute path of the file read, or undefined when the workspace has none. */
  file: string | undefined;
}

export interface LoadOptions {
  /** Used to expand "~/" in mount sources; defaults to os.homedir(). */
  homeDir?: string;
}

/** Reads `moat.yaml`, falling back to `agent.yaml`; a workspace without either gets an empty config. */
export async function loadWorkspaceConfig(workspaceDir: string, opts: LoadOptions = {}): Promise<LoadedWorkspaceConfig> {
  const dir = path.resolve(workspaceDir);
  for (const name of WORKSPACE_CONFIG_FILES) {
    const file = path.join(dir, name);
    const text = await readIfExists(file);
    if (text === undefined) continue;
    const { parseConfigText, moatConfigSchema } = await validator();
    const raw = parseConfigText(text, moatConfigSchema, name);
    return { config: resolveConfig(raw, dir, opts), raw, file };
  }
  return { config: resolveConfig({}, dir, opts), raw: {}, file: undefined };
}

/**
 * Reads the global config (normally ~/.moat/config.yaml); a missing file is an empty config.
 * A relative `build.ca_certs` is resolved against the config file's directory.
 */
export async function loadGlobalConfig(file: string, opts: LoadOptions = {}): Promise<GlobalConfig> {
  const text = await readIfExists(file);
  if (text === undefined) return {};
  const { parseConfigText, globalConfigSchema } = await validator();
  const config = parseConfigText(text, globalConfigSchema, file);
  const caCerts = config.build?.ca_certs;
  if (caCerts !== undefined) {
    const home = opts.homeDir ?? homedir();
    return { ...config, build: { ...config.build, ca_certs: resolveHostPath(caCerts, path.dirname(path.resolve(file)), home) } };
  }
  return config;
}

/** Normalises a validated config: env to a record, mounts parsed with absolute sources. */
export function resolveConfig(raw: MoatConfig, workspaceDir: string, opts: LoadOptions = {}): ResolvedConfig {
  const home = opts.homeDir ?? homedir();
  const { env, mounts, ...rest } = raw;
  return {
    ...rest,
    env: normaliseEnv(env),
    mounts: (mounts ?? []).map((spec) => parseMount(spec, workspaceDir, home)),
  };
}

/** `{A: "1"}` or `["A=1"]` -> `{A: "1"}`. Later entries win. */
function normaliseEnv(env: MoatConfig['env']): Record<string, string> {
  if (env === undefined) return {};
  if (!Array.isArray(env)) return { ...env };
  const out: Record<string, string> = {};
  for (const entry of env) {
    const [key, value] = splitEnvEntry(entry);
    out[key] = value;
  }
  return out;
}

/** Splits "KEY=VAL" at the first "="; the value may itself contain "=". */
export function splitEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/**
 * Parses "source:target[:ro|rw]". A relative source is resolved against `baseDir`, "~/" against `homeDir`.
 * Throws a MoatError for a malformed spec (the schema has already rejected those in moat.yaml).
 */
export function parseMount(spec: string, baseDir: string, homeDir: string = homedir()): Mount {
  const problem = mountProblem(spec);
  if (problem)
    throw new MoatError(`invalid mount "${spec}": ${problem}`, {
      code: 'E_CONFIG',
      hint: 'Use "source:target" or "source:target:ro", e.g. "./data:/data:ro".',
    });
  const [source, target, mode] = spec.split(':') as [string, string, string | undefined];
  return { source: resolveHostPath(source, baseDir, homeDir), target: path.posix.normalize(target), readOnly: mode === 'ro' };
}

function resolveHostPath(p: string, baseDir: string, homeDir: string): string {
  if (p === '~') return homeDir;
  if (p.startsWith('~/')) return path.join(homeDir, p.slice(2));
  return path.resolve(baseDir, p);
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return undefined;
    throw new MoatError(`cannot read ${file}: ${code ?? String(err)}`, { code: 'E_CONFIG', cause: err });
  }
}
