#!/usr/bin/env bash
# One-command set-up for a fresh Debian/Ubuntu machine: dependencies, build, a running Docker engine,
# the default base image, and `moat` on PATH. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${MOAT_BASE_IMAGE:-debian:bookworm-slim}"
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# 1. Node
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' \
  || die "Node $(node --version) is too old; install Node 20.18 or newer (https://nodejs.org) and run this again."

# 2. Dependencies and build
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund; fi
npm run build --silent

# 3. Docker engine
docker_ok() { docker info >/dev/null 2>&1; }
if ! docker_ok; then
  if ! command -v dockerd >/dev/null 2>&1; then
    is_root || die "No Docker engine is installed. Run: sudo apt-get install -y docker.io && sudo systemctl start docker && sudo usermod -aG docker \$USER (then log in again)."
    say "installing Docker (docker.io)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if ! docker_ok; then
    is_root || die "The Docker engine is not running. Run: sudo systemctl start docker"
    if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
      say "started docker with systemctl"
    else
      say "starting dockerd in the background (log: /var/log/moat-dockerd.log)"
      (cd / && exec nohup dockerd >/var/log/moat-dockerd.log 2>&1) &
    fi
    for _ in $(seq 1 60); do docker_ok && break; sleep 1; done
    docker_ok || die "dockerd did not come up within 60 s; see /var/log/moat-dockerd.log."
  fi
fi
say "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is running"

# 4. Base image: pull it, or build it locally with debootstrap when no registry answers.
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "pulling $BASE_IMAGE"
  if ! timeout 90 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    [ "$BASE_IMAGE" = "debian:bookworm-slim" ] || die "Cannot pull $BASE_IMAGE; pull it by hand or set MOAT_BASE_IMAGE."
    is_root || die "Cannot pull $BASE_IMAGE and building it locally needs root. Run: sudo bash scripts/setup.sh"
    command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    mirror="$(grep -rhoE '^(URIs:|deb) +(\[[^]]*\] +)?https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | head -n1 | grep -oE 'https?://[^ ]+')" || true
    mirror="${mirror:-http://deb.debian.org/debian}"
    say "no registry answered; building $BASE_IMAGE with debootstrap from $mirror (about 30 s)"
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/moat-debootstrap.log 2>&1 \
      || die "debootstrap failed; see /tmp/moat-debootstrap.log."
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"; trap - EXIT
  fi
fi
say "base image $BASE_IMAGE is present"

# 5. Test tools: the interactive end-to-end tests drive a real terminal through tmux.
if ! command -v tmux >/dev/null 2>&1; then
  if is_root; then
    say "installing tmux (for the interactive end-to-end tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
  else
    say "tmux is missing; the interactive tests (npm test) need it: sudo apt-get install -y tmux"
  fi
fi

# 5b. Headless Chromium: the browser check of the routing proxy (test/e2e/ports-browser.test.ts).
if ! command -v chromium >/dev/null 2>&1; then
  if is_root; then
    say "installing chromium (for the browser check of the routing proxy)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    say "chromium is missing; the browser check (npm test) needs it: sudo apt-get install -y chromium"
  fi
fi

# 5b'. NSS's certutil: the browser check trusts the routing CA in a throwaway NSS database, as a user would.
if ! command -v certutil >/dev/null 2>&1; then
  if is_root; then
    say "installing libnss3-tools (certutil, for the browser check of the routing CA)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnss3-tools >/dev/null
  else
    say "certutil is missing; the browser check (npm test) needs it: sudo apt-get install -y libnss3-tools"
  fi
fi

# 5c. The SSH end-to-end tests run a real sshd on loopback and the real ssh/git clients.
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ] || ! command -v ssh-agent >/dev/null 2>&1; then
  if is_root; then
    say "installing openssh-server and openssh-client (for the SSH end-to-end tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
  else
    say "sshd or ssh-agent is missing; the SSH tests need them: sudo apt-get install -y openssh-server openssh-client"
  fi
fi

# 5d. mkfs.xfs and mkfs.btrfs: the snapshot clone tests (test/e2e/snapshot-clone.test.ts) make XFS and btrfs images.
if ! { command -v mkfs.xfs || [ -x /usr/sbin/mkfs.xfs ]; } >/dev/null 2>&1 || ! { command -v mkfs.btrfs || [ -x /usr/sbin/mkfs.btrfs ]; } >/dev/null 2>&1; then
  if is_root; then
    say "installing xfsprogs and btrfs-progs (for the snapshot clone tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs btrfs-progs >/dev/null
  else
    say "mkfs.xfs or mkfs.btrfs is missing; the snapshot clone tests need them: sudo apt-get install -y xfsprogs btrfs-progs"
  fi
fi

# 6. gVisor: runs get gVisor's user-space kernel (runsc) by default when the engine has it registered.
# Installs a runsc that works (Debian 12: from bookworm-backports) and registers it; MOAT_SETUP_GVISOR=0 skips.
bash scripts/setup-gvisor.sh || say "gVisor set-up failed; runs use runc (see above)"

# 6b. Podman: a second engine (its Docker-compatible API at /run/podman/podman.sock); the e2e suite runs its
# Podman project when the socket answers. Installs podman, starts the API, loads the base image from Docker
# (about a minute the first time); MOAT_SETUP_PODMAN=0 skips it.
bash scripts/setup-podman.sh || say "Podman set-up failed; the Podman e2e project is skipped (see above)"

# 7. `moat` on PATH
if ! command -v moat >/dev/null 2>&1 || [ "$(readlink -f "$(command -v moat)")" != "$(readlink -f bin/moat)" ]; then
  if npm link --no-audit --no-fund --loglevel=error >/dev/null 2>&1; then say "linked moat onto PATH ($(command -v moat || echo 'npm prefix bin'))";
  else say "could not npm link; use $(pwd)/bin/moat or run: sudo npm link"; fi
fi
say "done. Try: moat run -- echo hello"
