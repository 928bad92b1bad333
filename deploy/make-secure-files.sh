#!/usr/bin/env bash
# Makes the files of the compose stack's `secure` profile: a CA, one
# certificate for every secure service (and for localhost, so clients on the
# host can verify the broker), a client certificate for the internal links,
# a token secret key, and tokens for the `admin` superuser and the brokers.
#
#   deploy/make-secure-files.sh [--binary PATH] [DIR]    # DIR: deploy/secure
#
# Needs openssl and a magnetar binary (for `magnetar tokens`; --binary, or
# `magnetar` on the PATH). Files are made readable by the containers' user.
# Keep DIR private: it holds the CA key, the token secret and the tokens.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="$(command -v magnetar || true)"
dir=deploy/secure
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) dir="$1"; shift ;;
  esac
done
[ -x "$binary" ] || { echo "no magnetar binary (give --binary PATH)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

names="DNS:secure-etcd,DNS:secure-bookie1,DNS:secure-bookie2,DNS:secure-broker,DNS:localhost,IP:127.0.0.1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca.key"
openssl req -x509 -new -key "$dir/ca.key" -days 3650 -subj "/CN=magnetar secure CA" \
  -out "$dir/ca.pem"

# sign NAME CN EXTENSIONS
sign() {
  key "$dir/$1.key"
  openssl req -new -key "$dir/$1.key" -subj "/CN=$2" -out "$dir/$1.csr"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 825 -extfile <(printf '%s\n' "$3") -out "$dir/$1.pem" 2>/dev/null
  rm -f "$dir/$1.csr"
}
sign node secure-node "subjectAltName=$names
extendedKeyUsage=serverAuth,clientAuth"
sign client cluster "extendedKeyUsage=clientAuth"

"$binary" tokens create-secret-key --output "$dir/secret.key"
"$binary" tokens create --secret-key "file://$dir/secret.key" --subject admin >"$dir/admin.token"
"$binary" tokens create --secret-key "file://$dir/secret.key" --subject broker >"$dir/broker.token"

rm -f "$dir/ca.srl"
chmod 0755 "$dir"
chmod 0644 "$dir"/*
echo "secure profile files in $dir"
