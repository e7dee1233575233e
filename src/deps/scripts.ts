/**
 * Install scripts of the runtimes that are not plain packages, one shell command per line (see
 * InstallRecipe). `{version}` is replaced by the validated version. Everything resolved from the
 * network (the newest release of a major, download URLs, checksums) is resolved inside the build,
 * so generating the Dockerfile stays offline and deterministic.
 */

const ABBREVIATED = `-H 'Accept: application/vnd.npm.install-v1+json'`;

/** Verify a tarball against the sha512 `integrity` the npm registry publishes for version `$var`. */
function npmIntegrity(json: string, versionVar: string, file: string): string {
  return `echo "$(jq -r --arg v "$${versionVar}" '.versions[$v].dist.integrity' ${json} | sed 's/^sha512-//' | base64 -d | od -An -v -tx1 | tr -d ' \\n')  ${file}" | sha512sum -c -`;
}

/** Node from the npm registry's `node-linux-<arch>` package, plus npm from the `npm` package. */
export function nodeScript(arch: 'x64' | 'arm64'): string {
  return [
    'mkdir -p /tmp/moat-node && cd /tmp/moat-node',
    `curl -fsSL ${ABBREVIATED} -o node.json https://registry.npmjs.org/node-linux-${arch}`,
    `v=$(jq -r '.versions | keys[]' node.json | grep -E '^{version}\\.[0-9]+\\.[0-9]+$' | sort -V | tail -n 1)`,
    `if [ -z "$v" ]; then echo "moat: Version {version} was not found: no node-linux-${arch} {version}.x in the npm registry" >&2; exit 1; fi`,
    `echo "moat: installing node $v (node-linux-${arch})"`,
    `curl -fsSL -o node.tgz "$(jq -r --arg v "$v" '.versions[$v].dist.tarball' node.json)"`,
    npmIntegrity('node.json', 'v', 'node.tgz'),
    'tar -xzf node.tgz',
    'install -m 0755 package/bin/node /usr/local/bin/node',
    'if [ -d package/include/node ]; then mkdir -p /usr/local/include && cp -r package/include/node /usr/local/include/; fi',
    // The node-linux-* packages carry no npm: add the newest npm that supports this Node major.
    'case "{version}" in 18) m=10;; *) m=11;; esac',
    `curl -fsSL ${ABBREVIATED} -o npm.json https://registry.npmjs.org/npm`,
    `nv=$(jq -r '.versions | keys[]' npm.json | grep -E "^$m\\.[0-9]+\\.[0-9]+$" | sort -V | tail -n 1)`,
    `curl -fsSL -o npm.tgz "$(jq -r --arg v "$nv" '.versions[$v].dist.tarball' npm.json)"`,
    npmIntegrity('npm.json', 'nv', 'npm.tgz'),
    'mkdir -p /usr/local/lib/node_modules/npm',
    'tar -xzf npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1',
    'ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm',
    'ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
    'cd / && rm -rf /tmp/moat-node',
    'node --version && npm --version',
  ].join('\n');
}

/** Go from go.dev's release index (sha256 published there); `latest` is the newest stable release. */
export function goScript(arch: 'amd64' | 'arm64'): string {
  const select =
    `[.[] | select(.stable) | .files[] | select(.os == "linux" and .arch == "${arch}" and .kind == "archive")` +
    ` | select($w == "latest" or .version == "go" + $w or (.version | startswith("go" + $w + ".")))][0] | .filename + " " + .sha256`;
  return [
    'mkdir -p /tmp/moat-go && cd /tmp/moat-go',
    `curl -fsSL -o go.json 'https://go.dev/dl/?mode=json&include=all'`,
    `set -- $(jq -r --arg w '{version}' '${select}' go.json)`,
    `if [ "$1" = "null" ] || [ -z "$2" ]; then echo "moat: Version {version} was not found: no Go {version} for linux-${arch} on go.dev" >&2; exit 1; fi`,
    'curl -fsSL -o "$1" "https://dl.google.com/go/$1"',
    'echo "$2  $1" | sha256sum -c -',
    'rm -rf /usr/local/go && tar -C /usr/local -xzf "$1"',
    'cd / && rm -rf /tmp/moat-go',
    '/usr/local/go/bin/go version',
  ].join('\n');
}

/** Rust through rustup-init (sha256 published next to it), toolchain `{version}`, profile minimal. */
export function rustScript(triple: string): string {
  const base = `https://static.rust-lang.org/rustup/dist/${triple}/rustup-init`;
  return [
    'mkdir -p /tmp/moat-rust && cd /tmp/moat-rust',
    `curl -fsSL -o rustup-init ${base}`,
    `curl -fsSL -o rustup-init.sha256 ${base}.sha256`,
    `echo "$(cut -d ' ' -f 1 rustup-init.sha256)  rustup-init" | sha256sum -c -`,
    'chmod 0755 rustup-init',
    'RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo ./rustup-init -y --no-modify-path --profile minimal --default-toolchain {version}',
    'chmod -R a+rwX /usr/local/rustup /usr/local/cargo',
    'cd / && rm -rf /tmp/moat-rust',
    'RUSTUP_HOME=/usr/local/rustup /usr/local/cargo/bin/rustc --version',
  ].join('\n');
}

/** Bun from its GitHub release (SHASUMS256.txt). */
export function bunScript(asset: string): string {
  const base = 'https://github.com/oven-sh/bun/releases/download/bun-v{version}';
  return [
    'mkdir -p /tmp/moat-bun && cd /tmp/moat-bun',
    `curl -fsSLO ${base}/${asset}.zip`,
    `curl -fsSLO ${base}/SHASUMS256.txt`,
    `grep " ${asset}.zip$" SHASUMS256.txt | sha256sum -c -`,
    `unzip -q ${asset}.zip`,
    `install -m 0755 ${asset}/bun /usr/local/bin/bun`,
    'ln -sf bun /usr/local/bin/bunx',
    'cd / && rm -rf /tmp/moat-bun',
    'bun --version',
  ].join('\n');
}

/** Deno from its GitHub release (a .sha256sum file per asset). */
export function denoScript(triple: string): string {
  const url = `https://github.com/denoland/deno/releases/download/v{version}/deno-${triple}.zip`;
  return [
    'mkdir -p /tmp/moat-deno && cd /tmp/moat-deno',
    `curl -fsSL -o deno.zip ${url}`,
    `curl -fsSL -o deno.sha256sum ${url}.sha256sum`,
    `echo "$(grep -oE '[0-9a-f]{64}' deno.sha256sum | head -n 1)  deno.zip" | sha256sum -c -`,
    'unzip -q deno.zip',
    'install -m 0755 deno /usr/local/bin/deno',
    'cd / && rm -rf /tmp/moat-deno',
    'deno --version',
  ].join('\n');
}
