#!/usr/bin/env bash
# Generates a private CA and one certificate for NATS servers, for local use
# and tests of deploy/nats/secured (never for production: there, use your
# organisation's CA). The server certificate serves clients and, with
# clientAuth, the cluster's mutually verified route connections.
#
#   scripts/nats-certs.sh [OUT_DIR] [EXTRA_DNS_NAME…]
#
# OUT_DIR defaults to deploy/nats/secured/certs (git-ignored). Writes ca.pem,
# ca-key.pem, server.pem, server-key.pem; existing files are kept, so running
# it twice does not invalidate certificates already handed out.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-deploy/nats/secured/certs}"
shift || true
mkdir -p "$out"
cd "$out"
umask 077

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca-key.pem -out ca.pem -days 825 -subj "/CN=hookline local NATS CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

if [ ! -f server.pem ]; then
  san="DNS:localhost,DNS:nats,DNS:n1,DNS:n2,DNS:n3,IP:127.0.0.1"
  for name in "$@"; do san="$san,DNS:$name"; done
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >server.ext
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout server-key.pem -out server.csr -subj "/CN=hookline NATS" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -out server.pem -days 825 -extfile server.ext 2>/dev/null
  rm -f server.csr server.ext
fi
# The CA certificate is public (clients need it); keys stay private.
chmod 644 ca.pem server.pem
echo "NATS certificates in $(pwd): ca.pem (give to clients as nats.tls.ca_file), server.pem, server-key.pem"
