/**
 * moat.yaml + command-line flags -> the options of one run.
 * Scalars given as flags replace the file's; list flags (grants, -e KEY=VAL, allowed hosts) add to it.
 */
import { MoatError } from '../errors.js';
import { splitEnvEntry, type ResolvedConfig } from './load.js';
import { imageReferenceProblem } from '../image/reference.js';
import { cpusProblem, envEntryProblem, memoryProblem, pidsProblem, runNameProblem } from './rules.js';
import { validatePattern } from '../gateway/policy.js';
import { MAX_PORTS, parsePortFlags } from './ports.js';

/** Run flags as the CLI parsed them; every field optional (absent = not given). */
export interface RunFlags {
  /** --name */
  name?: string;
  /** Command after `--`; replaces the file's `command`. */
  command?: string[];
  /** -i / --interactive. */
  interactive?: boolean;
  /** -e KEY=VAL, repeatable; adds to (and overrides keys of) the file's env. */
  env?: string[];
  /** --grant NAME, repeatable; adds to the file's grants. */
  grants?: string[];
  /** --allow-host PATTERN, repeatable; adds to network.rules. */
  allowHosts?: string[];
  /** --base-image */
  baseImage?: string;
  /** --memory, e.g. "2g". */
  memory?: string;
  /** --cpus */
  cpus?: number;
  /** --pids: most processes and threads in the container. */
  pids?: number;
  /** -p NAME=PORT, repeatable; adds to (and overrides names of) the file's ports. */
  ports?: string[];
}

/** The merged options of one run: the same shape as a resolved moat.yaml. */
export type RunOptions = ResolvedConfig;

export function mergeRunOptions(config: ResolvedConfig, flags: RunFlags): RunOptions {
  const out: RunOptions = { ...config, env: { ...config.env, ...parseEnvFlags(flags.env ?? []) } };

  if (flags.name !== undefined) {
    const problem = runNameProblem(flags.name);
    if (problem) throw flagError('--name', flags.name, problem);
    out.name = flags.name;
  }
  if (flags.command !== undefined && flags.command.length > 0) out.command = [...flags.command];
  if (flags.interactive !== undefined) out.interactive = flags.interactive;
  if (flags.baseImage !== undefined) {
    const problem = imageReferenceProblem(flags.baseImage);
    if (problem) throw flagError('--base-image', flags.baseImage, problem);
    out.base_image = flags.baseImage;
  }

  if (flags.memory !== undefined || flags.cpus !== undefined || flags.pids !== undefined) {
    const container = { ...config.container };
    if (flags.memory !== undefined) {
      const problem = memoryProblem(flags.memory);
      if (problem) throw flagError('--memory', flags.memory, problem);
      container.memory = flags.memory;
    }
    if (flags.cpus !== undefined) {
      const problem = cpusProblem(flags.cpus);
      if (problem) throw flagError('--cpus', String(flags.cpus), problem);
      container.cpus = flags.cpus;
    }
    if (flags.pids !== undefined) {
      const problem = pidsProblem(flags.pids);
      if (problem) throw flagError('--pids', String(flags.pids), problem);
      container.pids = flags.pids;
    }
    out.container = container;
  }

  if (flags.grants !== undefined && flags.grants.length > 0) {
    for (const g of flags.grants) if (g.trim() === '') throw flagError('--grant', g, 'grant name is empty');
    out.grants = union(config.grants ?? [], flags.grants);
  }

  if (flags.allowHosts !== undefined && flags.allowHosts.length > 0) {
    // Checked here, so a bad pattern is named by its flag (not as the network.rules entry it becomes).
    for (const h of flags.allowHosts) {
      try {
        validatePattern(h);
      } catch (err) {
        throw flagError('--allow-host', h, err instanceof Error ? err.message : String(err));
      }
    }
    const rules = config.network?.rules ?? [];
    const present = new Set(rules.filter((r): r is string => typeof r === 'string'));
    out.network = { ...config.network, rules: [...rules, ...unique(flags.allowHosts).filter((h) => !present.has(h))] };
  }

  if (flags.ports !== undefined && flags.ports.length > 0) {
    const parsed = parsePortFlags(flags.ports);
    if ('problem' in parsed) throw flagError('-p', parsed.entry, parsed.problem);
    out.ports = { ...config.ports, ...parsed.ports };
    if (Object.keys(out.ports).length > MAX_PORTS) throw flagError('-p', flags.ports.join(' '), `at most ${MAX_PORTS} services per run`);
  }

  return out;
}

/** Parses repeated `-e KEY=VAL` flags; a bad name or a missing "=" is an error naming the flag. */
export function parseEnvFlags(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const problem = envEntryProblem(entry);
    if (problem) throw flagError('-e', entry, problem);
    const [key, value] = splitEnvEntry(entry);
    env[key] = value;
  }
  return env;
}

function flagError(flag: string, value: string, problem: string): MoatError {
  return new MoatError(`invalid ${flag} ${JSON.stringify(value)}: ${problem}`, { code: 'E_CONFIG', hint: flagHint(flag) });
}

function flagHint(flag: string): string | undefined {
  switch (flag) {
    case '-e':
      return 'Example: -e LOG_LEVEL=debug';
    case '--name':
      return 'Example: --name my-run';
    case '--memory':
      return 'Example: --memory 2g';
    case '--pids':
      return 'Example: --pids 1024';
    case '--cpus':
      return 'Example: --cpus 1.5';
    case '-p':
      return 'Example: -p web=3000 (the service inside the run listens on port 3000)';
    case '--allow-host':
      return 'Example: --allow-host api.example.com (or *.example.com, host:8443)';
    default:
      return undefined;
  }
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return unique([...a, ...b]);
}
