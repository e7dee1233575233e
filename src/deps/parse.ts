/**
 * Parsing `dependencies:` entries (`name[@version]`, `npm:…`, `apt:…`, `pip:…`), validating versions,
 * and expanding requirements into a deduplicated, stably ordered list.
 *
 * One validator for an entry: `parseSpec` checks its form, that the name exists (with "did you mean")
 * and that the version is allowed. The moat.yaml schema runs it (`dependencyProblem`, so an error
 * points at moat.yaml:LINE:COL) and the image recipe runs it again to get the entries it installs.
 * No whitespace and no control character can pass, so nothing can add a line to the generated Dockerfile.
 */
import { distance } from 'fastest-levenshtein';
import { MoatError } from '../errors.js';
import { DYNAMIC_PREFIXES, dynamicEntry, type DynamicKind } from './dynamic.js';
import { GRANT_IMPLIES, REGISTRY, findEntry } from './registry.js';
import { packageName, packageSpec } from './substitute.js';
import type { DependencyEntry, ResolvedDependency } from './types.js';

export interface ParsedSpec {
  /** Registry name, or `npm:<pkg>` / `apt:<pkg>` / `pip:<pkg>` for dynamic forms. */
  name: string;
  /** The version asked for, if any (before defaults). */
  version: string | undefined;
  entry: DependencyEntry;
}

const ALIASES: Record<string, string> = {
  nodejs: 'node',
  python3: 'python',
  golang: 'go',
  rustc: 'rust',
  cargo: 'rust',
  rg: 'ripgrep',
  'fd-find': 'fd',
  postgres: 'psql',
  postgresql: 'psql',
  'postgresql-client': 'psql',
  'mysql-client': 'mysql',
  sqlite: 'sqlite3',
  redis: 'redis-cli',
  'redis-tools': 'redis-cli',
  tsc: 'typescript',
  claude: 'claude-code',
  'github-cli': 'gh',
};

/** The closest known names to an unknown one, for "did you mean". */
export function suggest(name: string): string[] {
  const alias = ALIASES[name.toLowerCase()];
  if (alias) return [alias];
  const limit = Math.max(2, Math.floor(name.length / 3));
  return REGISTRY.map((e) => ({ n: e.name, d: distance(name.toLowerCase(), e.name) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, 3)
    .map((x) => x.n);
}

function unknown(name: string, spec: string): MoatError {
  const close = suggest(name);
  const packaged = /^[a-z0-9][a-z0-9+.-]+$/.test(name) ? ` ("apt:${name}" or "npm:${name}" for a Debian or npm package)` : '';
  return new MoatError(`unknown dependency "${spec}"${close.length > 0 ? `; did you mean ${close.map((n) => `"${n}"`).join(' or ')}?` : ''}`, {
    code: 'E_CONFIG',
    hint: `moat deps list shows the built-in names${packaged}.`,
  });
}

/** Check a version against the entry's allowed list or pattern. */
function validateVersion(entry: DependencyEntry, version: string, spec: string): void {
  const { versions } = entry;
  if (versions === undefined) {
    throw new MoatError(`dependency "${spec}": ${entry.name} has no versions to choose from`, {
      code: 'E_CONFIG',
      hint:
        entry.type === 'apt'
          ? `Write ${entry.name} without a version (or apt:<package>=<version> for an exact Debian version).`
          : `Write ${entry.name} without a version.`,
    });
  }
  const ok = Array.isArray(versions) ? versions.includes(version) : new RegExp(versions.pattern).test(version);
  if (!ok) {
    const allowed = Array.isArray(versions) ? versions.join(', ') : `versions matching ${versions.pattern}`;
    throw new MoatError(`unsupported version "${version}" for ${entry.name} in dependency "${spec}"`, {
      code: 'E_CONFIG',
      hint: `Allowed: ${allowed}. moat deps info ${entry.name} lists them.`,
    });
  }
}

/** Parse one `dependencies:` entry. */
export function parseSpec(spec: string): ParsedSpec {
  const colon = spec.indexOf(':');
  if (colon > 0) {
    const prefix = spec.slice(0, colon);
    if ((DYNAMIC_PREFIXES as readonly string[]).includes(prefix)) {
      const { entry, version } = dynamicEntry(prefix as DynamicKind, spec.slice(colon + 1), spec);
      return { name: entry.name, version, entry };
    }
    throw new MoatError(`unknown dependency form "${spec}"`, {
      code: 'E_CONFIG',
      hint: 'The prefixed forms are npm:<package>[@version], apt:<package>[=version] and pip:<package>[==version].',
    });
  }
  if (/[\s\p{Cc}\p{Cf}]/u.test(spec)) {
    throw new MoatError(`dependency ${JSON.stringify(spec)} has a space, line break or control character`, {
      code: 'E_CONFIG',
      hint: 'Write one tool per entry, e.g. "node@20".',
    });
  }
  const at = spec.indexOf('@');
  const name = at < 0 ? spec : spec.slice(0, at);
  const version = at < 0 ? undefined : spec.slice(at + 1);
  const entry = findEntry(name);
  if (!entry) throw unknown(name, spec);
  if (version !== undefined) {
    if (entry.type === 'meta')
      throw new MoatError(`dependency "${spec}": the bundle ${name} has no version`, {
        code: 'E_CONFIG',
        hint: `Write ${name}, and name versions on its members (e.g. node@20).`,
      });
    validateVersion(entry, version, spec);
  }
  return { name, version, entry };
}

/**
 * Why `spec` is not a dependency entry (what is wrong and the fix, in one line for moat.yaml:LINE:COL),
 * or undefined when it is one: the schema's check, by the same parser the recipe uses.
 */
export function dependencyProblem(spec: string): string | undefined {
  return problemOf(() => parseSpec(spec));
}

/**
 * Why a list of valid entries cannot be installed together (two versions of one tool, one package in two
 * forms), or undefined: checked by the schema on the whole `dependencies:` list.
 */
export function dependenciesProblem(specs: readonly string[]): string | undefined {
  return problemOf(() => expand(specs));
}

/** Whether a sentence already ends the text (its punctuation, not its meaning, is read). */
function endsSentence(text: string): boolean {
  const last = text.at(-1);
  return last === '.' || last === '?' || last === '!';
}

function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof MoatError)) throw err;
    return err.hint === undefined ? err.message : `${err.message}${endsSentence(err.message) ? ' ' : '. '}${err.hint}`;
  }
}

interface Pending {
  parsed: ParsedSpec;
  from: string;
  explicit: boolean;
}

/**
 * Expand specs into the dependencies to install: requirements added recursively, duplicates merged,
 * defaults applied, bundles dropped, sorted by name. Two different versions of one dependency, or one
 * package asked for twice in different forms, is an error.
 */
export function expand(specs: readonly string[]): ResolvedDependency[] {
  const byName = new Map<string, { dep: ResolvedDependency; from: string }>();
  const queue: Pending[] = specs.map((s) => ({ parsed: parseSpec(s), from: `"${s}"`, explicit: true }));
  while (queue.length > 0) {
    const { parsed, from, explicit } = queue.shift() as Pending;
    const seen = byName.get(parsed.name);
    if (seen) {
      const a = seen.dep.version;
      const b = parsed.version;
      if (a !== undefined && b !== undefined && a !== b) {
        throw new MoatError(`conflicting versions of ${parsed.name}: ${a} (from ${seen.from}) and ${b} (from ${from})`, {
          code: 'E_CONFIG',
          hint: `Keep one version of ${parsed.name} in the dependencies of moat.yaml.`,
        });
      }
      if (a === undefined && b !== undefined) {
        seen.dep.version = b;
        seen.from = from;
      }
      if (explicit) seen.dep.explicit = true;
      continue;
    }
    byName.set(parsed.name, { dep: { name: parsed.name, version: parsed.version, entry: parsed.entry, explicit }, from });
    for (const req of parsed.entry.requires ?? []) {
      queue.push({ parsed: parseSpec(req), from: `${parsed.name} (requires ${req})`, explicit: false });
    }
  }
  const out = [...byName.values()]
    .map(({ dep }) => ({ ...dep, version: dep.version ?? dep.entry.defaultVersion }))
    .filter((d) => d.entry.type !== 'meta')
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  checkPackageClashes(out);
  return out;
}

/** One npm/pip/apt package must not be asked for twice with different versions (e.g. typescript and npm:typescript@5.9). */
function checkPackageClashes(deps: readonly ResolvedDependency[]): void {
  for (const kind of ['apt', 'npm', 'pip'] as const) {
    const seen = new Map<string, { spec: string; dep: string }>();
    for (const dep of deps) {
      for (const tpl of dep.entry.install[kind] ?? []) {
        const spec = packageSpec(tpl, dep);
        const prev = seen.get(packageName(spec));
        if (prev && prev.spec !== spec) {
          throw new MoatError(`the ${kind} package ${packageName(spec)} is asked for twice: ${prev.spec} (by ${prev.dep}) and ${spec} (by ${dep.name})`, {
            code: 'E_CONFIG',
            hint: 'Keep one of the two in the dependencies of moat.yaml.',
          });
        }
        seen.set(packageName(spec), { spec, dep: dep.name });
      }
    }
  }
}

/** Dependencies implied by grants: `github` → git, gh. Grants may carry a scope (`github:org/repo`). */
export function impliedByGrants(grants: readonly string[]): string[] {
  const out = new Set<string>();
  for (const g of grants) for (const d of GRANT_IMPLIES[g.split(':')[0] ?? g] ?? []) out.add(d);
  return [...out].sort();
}
