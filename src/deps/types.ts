/** The shapes of the dependency registry: plain data, read by parse.ts and rendered by dockerfile.ts. */

export type DependencyType = 'runtime' | 'tool' | 'npm' | 'apt' | 'pip' | 'meta';
export type Arch = 'amd64' | 'arm64';

/**
 * How one dependency is installed. Every string may hold the token `{version}`, replaced by the
 * resolved version; in `npm`/`pip`/`apt` package specs a `@{version}`, `=={version}` or `={version}`
 * suffix is dropped when no version is resolved. Scripts hold one shell command per line; the lines
 * run in order with `&&` under `sh -c`, wrapped by `moat-build-env` (the host's extra CA trusted).
 */
export interface InstallRecipe {
  /** Debian packages, installed in the one apt layer. */
  apt?: string[];
  /** Global npm packages, installed in the one npm layer. */
  npm?: string[];
  /** pip packages, installed in the one pip layer. */
  pip?: string[];
  /** Per-architecture install commands (runtimes layer for runtimes, registry tools layer otherwise). */
  script?: { amd64: string; arm64: string };
  /** ENV lines written after the script (e.g. PATH additions). */
  env?: Record<string, string>;
  /** Setup after every package layer (user-level setup): commands and ENV for the container user. */
  user?: { script?: string; env?: Record<string, string> };
}

export interface DependencyEntry {
  name: string;
  description: string;
  type: DependencyType;
  defaultVersion?: string;
  /** Allowed versions: an explicit list, or a regular expression (anchored, safe characters only). */
  versions?: string[] | { pattern: string };
  /** Dependencies added automatically (names, optionally `name@version`). */
  requires?: string[];
  /** True when install downloads from beyond package registries (apt, npm, PyPI). */
  needsInternet: boolean;
  /**
   * Hosts a script of the install downloads from (apt, npm and pip packages need none: their registries
   * come with them). Image builds reach only the hosts their recipe names (src/image/build-hosts.ts).
   */
  hosts?: string[];
  install: InstallRecipe;
}

/** One dependency after parsing and expansion: the entry and the version to install (if any). */
export interface ResolvedDependency {
  name: string;
  version: string | undefined;
  entry: DependencyEntry;
  /** The user asked for it (rather than it arriving as a requirement). */
  explicit: boolean;
}
