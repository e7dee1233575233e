/**
 * Which built-in dependency provides a command: its own name (`make`, `git`, `jq`), or one of the
 * commands it brings (`rg` is ripgrep's, `npx` node's). Data only; used to suggest the dependency to
 * add when a run's command is not in the image.
 */
import { findEntry } from './registry.js';

const PROVIDERS: Readonly<Record<string, string>> = {
  nodejs: 'node',
  npm: 'node',
  npx: 'node',
  corepack: 'node',
  python3: 'python',
  pip: 'python',
  pip3: 'python',
  gofmt: 'go',
  cargo: 'rust',
  rustc: 'rust',
  rustup: 'rust',
  bunx: 'bun',
  rg: 'ripgrep',
  fdfind: 'fd',
  zip: 'unzip',
  gcc: 'build-essential',
  'g++': 'build-essential',
  cc: 'build-essential',
  'c++': 'build-essential',
  ssh: 'git',
  tsc: 'typescript',
  tsserver: 'typescript',
  claude: 'claude-code',
  uvx: 'uv',
  mysqldump: 'mysql',
  pg_dump: 'psql',
};

/** The dependency that provides `command` (a bare name), if a built-in one does. */
export function dependencyForCommand(command: string): string | undefined {
  const own = findEntry(command);
  if (own && own.type !== 'meta') return own.name;
  const dep = PROVIDERS[command];
  return dep !== undefined && findEntry(dep) ? dep : undefined;
}
