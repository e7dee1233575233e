#!/usr/bin/env bash
# gVisor for moat runs (called by scripts/setup.sh; safe to run alone and again): installs a runsc that
# works (20240729 or newer; on Debian 12 from bookworm-backports, since bookworm's own 20221219 answers
# EINVAL to statx(AT_NO_AUTOMOUNT) and coreutils' ls and stat fail inside it) and registers it with the
# engine with the runtime arguments moat's transport needs (scripts/register-runsc.mjs), merged into an
# existing daemon.json. dockerd reloads its runtimes on SIGHUP: no restart, running containers stay.
# Runs then get gVisor by default. MOAT_SETUP_GVISOR=0 skips all of it (runs use runc, with a notice).
set -euo pipefail
cd "$(dirname "$0")/.."

MIN_RUNSC=20240729
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
is_root() { [ "$(id -u)" = 0 ]; }
runsc_registered() { docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}' 2>/dev/null | grep -qw runsc; }
# The release date of the installed runsc ("runsc version 0.0~20240729.0" or "release-20240729.0"), or 0.
runsc_date() {
  local d=''
  command -v runsc >/dev/null 2>&1 && d="$(runsc --version 2>/dev/null | grep -oE '[0-9]{8}' | head -n1)" || true
  echo "${d:-0}"
}
runsc_works() { [ "$(runsc_date)" -ge "$MIN_RUNSC" ]; }
os_field() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"'; }

# Debian 12: add bookworm-backports (pinned at 100 by its Release file, so only `-t bookworm-backports`
# installs from it) unless a source already lists it.
add_backports() {
  grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local mirror
  mirror="$(grep -rhoE '^(URIs:|deb) +(\[[^]]*\] +)?https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -n1)" || true
  mirror="${mirror:-http://deb.debian.org/debian}"
  say "adding bookworm-backports ($mirror) for a runsc that works"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
    >/etc/apt/sources.list.d/moat-bookworm-backports.sources
}

install_runsc() {
  # needrestart stays quiet: a restart of dockerd would stop every running container.
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  if [ "$(os_field ID)" = debian ] && [ "$(os_field VERSION_CODENAME)" = bookworm ]; then
    add_backports
    apt-get update -qq || true
    say "installing gVisor (runsc) from bookworm-backports"
    apt-get install -y -qq -t bookworm-backports runsc >/dev/null && return 0
    say "could not install runsc from bookworm-backports"
    return 1
  fi
  say "installing gVisor (runsc)"
  apt-get update -qq || true
  apt-get install -y -qq runsc >/dev/null
}

[ "${MOAT_SETUP_GVISOR:-1}" = 0 ] && { say "gVisor skipped (MOAT_SETUP_GVISOR=0): runs use runc"; exit 0; }
if ! is_root; then
  runsc_registered || say "gVisor is not registered; runs use runc. For gVisor: sudo bash scripts/setup.sh (or see the README's gVisor section)"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
  say "DOCKER_HOST points at another engine; register runsc with it by hand (README: gVisor)"
  exit 0
fi
if ! runsc_works; then install_runsc || true; fi
if ! runsc_works; then
  if command -v runsc >/dev/null 2>&1; then
    say "runsc $(runsc_date) is older than $MIN_RUNSC (ls and stat fail inside it); not registered, runs use runc. Install gVisor $MIN_RUNSC or newer (https://gvisor.dev/docs/user_guide/install/) and run this again"
  else
    say "no runsc package here; runs use runc. Install gVisor (https://gvisor.dev/docs/user_guide/install/) and run this again"
  fi
  exit 0
fi
mkdir -p /etc/docker
if [ "$(node scripts/register-runsc.mjs /etc/docker/daemon.json "$(command -v runsc)")" = changed ] || ! runsc_registered; then
  if [ -d /run/systemd/system ] && systemctl is-active --quiet docker 2>/dev/null; then systemctl reload docker
  else kill -HUP "$(pidof dockerd)"; fi
fi
for _ in $(seq 1 20); do runsc_registered && break; sleep 0.5; done
if runsc_registered; then say "gVisor (runsc $(runsc_date)) is registered with the engine; runs use it by default"
else say "runsc is in /etc/docker/daemon.json but the engine did not load it; see /var/log/moat-dockerd.log"; fi
