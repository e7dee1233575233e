#!/bin/sh
# moat-build-env CMD...: run one image-build step trusting the host's extra CA bundle (build arg
# MOAT_BUILD_CA) for apt, npm, pip, curl and git; the bundle is removed when the step ends, so it is
# never part of the image's trust store.
set -eu
if [ -z "${MOAT_BUILD_CA:-}" ]; then exec "$@"; fi
d="$(mktemp -d)"
trap 'rm -rf "$d" /etc/apt/apt.conf.d/99moat-build-ca' EXIT
printf '%s\n' "$MOAT_BUILD_CA" > "$d/extra.pem"
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  cat /etc/ssl/certs/ca-certificates.crt "$d/extra.pem" > "$d/bundle.pem"
else
  cp "$d/extra.pem" "$d/bundle.pem"
fi
echo "Acquire::https::CAInfo \"$d/bundle.pem\";" > /etc/apt/apt.conf.d/99moat-build-ca
export SSL_CERT_FILE="$d/bundle.pem" CURL_CA_BUNDLE="$d/bundle.pem" REQUESTS_CA_BUNDLE="$d/bundle.pem" \
  PIP_CERT="$d/bundle.pem" GIT_SSL_CAINFO="$d/bundle.pem" NODE_EXTRA_CA_CERTS="$d/extra.pem" \
  npm_config_cafile="$d/bundle.pem"
"$@"
