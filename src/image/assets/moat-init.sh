#!/bin/sh
# moat-init: the container's entrypoint. Runs as root with a few capabilities, prepares the container
# (user, CA trust, proxy relay, staged files), then drops to the run's user with no capabilities at all.
set -eu

uid="${MOAT_UID:-1000}"
gid="${MOAT_GID:-1000}"
home=/home/moat

# The run's user: reuse the image's `moat` account, renumbered to the workspace owner's uid:gid.
if [ "$uid" != 0 ]; then
  if ! grep -q "^[^:]*:[^:]*:$gid:" /etc/group; then
    sed -i "s/^moat:\([^:]*\):[0-9]*:/moat:\1:$gid:/" /etc/group
  fi
  if ! grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd; then
    sed -i "s/^moat:\([^:]*\):[0-9]*:[0-9]*:/moat:\1:$uid:$gid:/" /etc/passwd
  fi
fi
# The home belongs to the run's user, uid 0 included: without capabilities root writes only what it owns.
chown "$uid:$gid" "$home"

# Trust the gateway's CA (certificate only; its key never leaves the host).
if [ -r /moat/ca/ca.pem ]; then
  if [ -d /usr/local/share/ca-certificates ]; then
    cp /moat/ca/ca.pem /usr/local/share/ca-certificates/moat-gateway.crt
    cat /moat/ca/ca.pem >> /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
    ln -sf /moat/ca/ca.pem /etc/ssl/certs/moat-gateway.pem 2>/dev/null || true
  fi
  # Java keeps its own trust store.
  if command -v keytool >/dev/null 2>&1; then
    keytool -importcert -noprompt -cacerts -storepass changeit -alias moat-gateway -file /moat/ca/ca.pem >/dev/null 2>&1 || true
  fi
fi

# The only way out: a relay from 127.0.0.1:PORT to the gateway's unix socket in the mounted directory.
# -t: after a client half-closes (printf | nc, socat), wait for the whole answer, not socat's 0.5 s.
if [ -n "${MOAT_PROXY_PORT:-}" ] && [ -d /moat/net ]; then
  socat -t 600 "TCP-LISTEN:$MOAT_PROXY_PORT,bind=127.0.0.1,reuseaddr,fork" UNIX-CONNECT:/moat/net/proxy.sock 2>/dev/null &
  # Wait (briefly) until the relay listens so the first request of the user's process finds it.
  i=0
  while [ $i -lt 200 ]; do
    if grep -q ":$(printf '%04X' "$MOAT_PROXY_PORT") 00000000:0000 0A" /proc/net/tcp 2>/dev/null; then break; fi
    i=$((i + 1)); sleep 0.01
  done
fi

# Files staged for the user's home (placeholders, agent settings): copied, owned by the user, 0600.
if [ -d /moat/stage/home ]; then
  cp -a /moat/stage/home/. "$home"/
  chown -R "$uid:$gid" "$home"
fi

unset MOAT_UID MOAT_GID
export HOME="$home" USER="${USER:-moat}"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
