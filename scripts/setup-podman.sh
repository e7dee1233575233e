#!/usr/bin/env bash
# Podman for moat (called by scripts/setup.sh; safe to run alone and again): a second engine, reached through
# its Docker-compatible API (DOCKER_HOST=unix:///run/podman/podman.sock, or `engine: podman` in
# ~/.moat/config.yaml). Rootful: installs podman and catatonit, starts the API socket in the background (log:
# /var/log/moat-podman.log) and loads the base image from Docker (no registry is pulled). The e2e suite runs
# its Podman project when the socket answers. MOAT_SETUP_PODMAN=0 skips all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${MOAT_BASE_IMAGE:-debian:bookworm-slim}"
PODMAN_SOCK=/run/podman/podman.sock
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
is_root() { [ "$(id -u)" = 0 ]; }
podman_ok() { curl -sf --max-time 5 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }

[ "${MOAT_SETUP_PODMAN:-1}" = 0 ] && { say "Podman skipped (MOAT_SETUP_PODMAN=0)"; exit 0; }
if ! is_root; then
  podman_ok || say "Podman is not set up (optional second engine): sudo bash scripts/setup.sh"
  exit 0
fi

# catatonit: runs start with an init (Init: true), which Podman looks for at /usr/libexec/podman/catatonit.
if ! command -v podman >/dev/null 2>&1 || [ ! -x /usr/libexec/podman/catatonit ]; then
  say "installing Podman (podman, catatonit)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq || true
  apt-get install -y -qq podman catatonit >/dev/null
fi

# Rootful Podman raises every container's open-file and process limits to 1048576; where root may not raise
# limits (no CAP_SYS_RESOURCE, as in some VMs) every start fails: cap them at what this host allows.
ulimits=/etc/containers/containers.conf.d/moat-ulimits.conf
capeff=$((16#$(awk '/^CapEff/{print $2}' /proc/self/status)))
restart=0
if [ $(((capeff >> 24) & 1)) = 0 ] && [ ! -f "$ulimits" ]; then
  nofile="$(ulimit -Hn)"
  nproc="$(ulimit -Hu)"
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  mkdir -p "$(dirname "$ulimits")"
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc" >"$ulimits"
  say "root may not raise resource limits here: Podman containers get nofile=$nofile nproc=$nproc ($ulimits)"
  restart=1
fi

pidfile=/run/podman/moat-service.pid
# A service started from a folder since deleted answers pings but starts no container (conmon: "Failed to
# get working directory"): restart it, from / this time.
# (Only when that PID is still a podman process: a PID is reused once its process ends.)
if [ -f "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" = podman ]; then
  case "$(readlink "/proc/$(cat "$pidfile")/cwd" 2>/dev/null)" in *" (deleted)") restart=1 ;; esac
fi
if [ "$restart" = 1 ] && podman_ok && [ -f "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" = podman ]; then
  # Only the service this script started (its pid file), so that it reads the new limits.
  kill "$(cat "$pidfile")" 2>/dev/null || true
  for _ in $(seq 1 10); do podman_ok || break; sleep 0.5; done
fi
if ! podman_ok; then
  say "starting Podman's API socket in the background ($PODMAN_SOCK, log: /var/log/moat-podman.log)"
  mkdir -p "$(dirname "$PODMAN_SOCK")"
  # From / (it keeps its working directory for good, and conmon needs it to exist).
  (cd / && exec setsid nohup podman system service --time=0 "unix://$PODMAN_SOCK" >>/var/log/moat-podman.log 2>&1) &
  echo $! >"$pidfile"
  for _ in $(seq 1 30); do podman_ok && break; sleep 1; done
  podman_ok || { say "Podman's API socket did not come up within 30 s; see /var/log/moat-podman.log"; exit 1; }
fi

if ! podman image exists "$BASE_IMAGE"; then
  say "loading $BASE_IMAGE into Podman from Docker"
  docker save "$BASE_IMAGE" | podman load -q >/dev/null || {
    say "could not load $BASE_IMAGE into Podman; load it by hand: docker save $BASE_IMAGE | sudo podman load"
    exit 1
  }
  # `docker save` of a short name loads as localhost/NAME; builds and runs name it as Docker does.
  case "$BASE_IMAGE" in */*) ;; *) podman tag "localhost/$BASE_IMAGE" "docker.io/library/$BASE_IMAGE" 2>/dev/null || true ;; esac
fi
say "Podman $(podman --version | grep -oE '[0-9][0-9.]+' | head -n1) answers at unix://$PODMAN_SOCK (use it: DOCKER_HOST=unix://$PODMAN_SOCK, or engine: podman in ~/.moat/config.yaml)"
