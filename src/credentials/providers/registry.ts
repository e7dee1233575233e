import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../../errors.js';
import type { MoatHome } from '../../home/paths.js';
import { didYouMean } from '../../suggest.js';
import { CREDENTIAL_NAME_RE } from '../names.js';
import type { Provider } from '../types.js';
import { dataProvider, type DataProvider } from './data/provider.js';
import { parseProviderText, providerFileError } from './data/parse.js';
import { providers as codeProviders } from './index.js';

/**
 * Every provider a command may name: the providers that need code (OAuth refresh, AWS, SSH, .npmrc
 * registries), the built-in catalog of provider files shipped in the package, and the user's own files
 * in `<home>/providers/NAME.yaml`. A user file may not take a built-in's name: a name always means the
 * same hosts, so a dropped-in file can never redirect an existing grant's token (see README: providers).
 */

export interface ProviderEntry {
  name: string;
  /** 'built-in' (code or catalog) or the user file's path. */
  source: string;
  kind: 'code' | 'catalog' | 'file';
  hosts: string[];
  description: string;
  provider?: Provider;
  /** Why the file cannot be used (the entry is listed, never used). */
  error?: MoatError;
}

/** Names a provider file may not take: the grant subcommands and the code-only grant kinds. */
const RESERVED_NAMES = new Set(['list', 'show', 'providers', 'ssh', 'aws', 'help']);
const MAX_FILE_BYTES = 64 * 1024;
const CATALOG_DIR = new URL('./data/catalog/', import.meta.url);

let catalog: DataProvider[] | undefined;

/** The built-in catalog (parsed once per process; a broken entry is a packaging bug and throws). */
export function catalogProviders(): DataProvider[] {
  catalog ??= readdirSync(CATALOG_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -5);
      return dataProvider(name, parseProviderText(readFileSync(new URL(f, CATALOG_DIR), 'utf8'), `catalog/${f}`), 'built-in');
    });
  return catalog;
}

/** Every built-in provider name (code and catalog), for help text and completion. */
export function builtinProviderNames(): string[] {
  return [...codeProviders.map((p) => p.name), ...catalogProviders().map((p) => p.name)];
}

export function providersDir(home: MoatHome): string {
  return join(home.root, 'providers');
}

async function userEntry(dir: string, file: string, builtins: Set<string>): Promise<ProviderEntry> {
  const name = file.slice(0, -5);
  const path = join(dir, file);
  const display = `providers/${file}`;
  const base = { name, source: path, kind: 'file' as const, hosts: [] as string[], description: '' };
  const refuse = (message: string, hint: string): ProviderEntry => ({ ...base, error: new MoatError(`${display}: ${message}`, { code: 'E_CONFIG', hint }) });
  if (!CREDENTIAL_NAME_RE.test(name))
    return refuse(`"${name}" is not a provider name: use lowercase letters, digits, ".", "_" or "-".`, `Rename it, e.g. ${dir}/acme.yaml`);
  if (RESERVED_NAMES.has(name)) return refuse(`"${name}" is reserved by moat grant.`, `Rename it, e.g. ${dir}/${name}-api.yaml`);
  if (builtins.has(name))
    return refuse(
      `"${name}" is a built-in provider; a file cannot replace it (a grant named ${name} always goes to the built-in's hosts).`,
      `Rename it (e.g. ${dir}/${name}-custom.yaml) and grant that name.`,
    );
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_FILE_BYTES) return refuse(`the file is larger than ${MAX_FILE_BYTES / 1024} KiB.`, 'A provider file is a few lines of YAML.');
    text = buf.toString('utf8');
  } catch (err) {
    return refuse(`cannot be read (${errnoCode(err) ?? (err as Error).message}).`, `Check ${path}`);
  }
  try {
    const parsed = parseProviderText(text, display);
    // A file, which may come from anywhere, never makes moat grant read a host variable (it could name any).
    if (parsed.hostEnv)
      return refuse(
        'hostEnv is for the built-in catalog only.',
        `Remove hostEnv and pipe the token in: printf %s "$${parsed.hostEnv[0]}" | moat grant ${name} --token-stdin`,
      );
    const provider = dataProvider(name, parsed, path);
    return { ...base, hosts: [...parsed.hosts], description: provider.description, provider };
  } catch (err) {
    if (err instanceof MoatError) return { ...base, error: err };
    throw err;
  }
}

export class ProviderRegistry {
  constructor(readonly entries: readonly ProviderEntry[]) {}

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** The provider, undefined when none has this name; throws the file's problem when it is invalid. */
  find(name: string): Provider | undefined {
    const entry = this.entries.find((e) => e.name === name);
    if (entry?.error) throw entry.error;
    return entry?.provider;
  }

  get(name: string): Provider {
    const found = this.find(name);
    if (found) return found;
    const names = this.names();
    throw new MoatError(`Unknown credential provider "${name}". Known: ${names.join(', ')}.`, {
      code: 'E_NOT_FOUND',
      hint: didYouMean(name, names, 'moat grant {}') ?? `moat grant providers   (or describe it in ~/.moat/providers/${name}.yaml)`,
    });
  }
}

/** The registry of this home: code providers, the catalog, then the user's files (sorted by name). */
export async function loadProviders(home: MoatHome | undefined): Promise<ProviderRegistry> {
  const entries: ProviderEntry[] = codeProviders.map((p) => ({
    name: p.name,
    source: 'built-in',
    kind: 'code',
    hosts: CODE_PROVIDER_HOSTS[p.name] ?? [],
    description: p.description,
    provider: p,
  }));
  for (const p of catalogProviders())
    entries.push({ name: p.name, source: 'built-in', kind: 'catalog', hosts: [...p.hosts], description: p.description, provider: p });
  if (!home) return new ProviderRegistry(entries);
  const dir = providersDir(home);
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const builtins = new Set(entries.map((e) => e.name));
  for (const f of files) entries.push(await userEntry(dir, f, builtins));
  return new ProviderRegistry(entries);
}

/** Where each code provider's credential goes, as `moat grant providers` shows it (its module decides). */
const CODE_PROVIDER_HOSTS: Record<string, string[]> = {
  github: ['api.github.com', 'github.com', 'uploads.github.com'],
  claude: ['api.anthropic.com'],
  openai: ['api.openai.com', 'chatgpt.com'],
  npm: ['registry.npmjs.org', 'each registry of your .npmrc'],
  aws: ['*.amazonaws.com', '*.amazonaws.com.cn', '--endpoint hosts'],
};

export { providerFileError };
