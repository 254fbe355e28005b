#!/bin/sh
# Generates the certificates the TLS tests use. The output is committed, so
# tests never need openssl at run time; rerun this only to change them.
#
#   ca.pem              test CA (trusted by the tests through ca_file)
#   server.pem/.key     localhost (+ 127.0.0.1), signed by the test CA
#   wronghost.pem/.key  wrong.example, signed by the test CA
#   expired.pem/.key    localhost, signed by the test CA, expired in 2001
#   other-ca.pem        an unrelated CA
#   untrusted.pem/.key  localhost, signed by the unrelated CA
#   iponly.pem/.key     IP addresses 127.0.0.1 and ::1 only (no DNS name, CN
#                       "llmrt ip-only"), signed by the test CA
#
# Everything is valid from 2020 to 2070 (except the expired one): `openssl ca`
# is the tool in OpenSSL 3.0 that takes explicit dates, so a machine whose
# clock is a little behind still sees the certificates as valid.
#
# mbedTLS 2.28 matches host names against DNS names only (no IP SANs), so the
# localhost certificates also carry 127.0.0.1 as a DNS name for clients that
# connect by address. llmrt matches iPAddress SANs itself (lib/transport/tls.c);
# iponly.pem tests that.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
START=20200101000000Z
END=20700101000000Z
LOCAL="DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# $1 CA name (its key and database live in $tmp)
cnf() {
  mkdir -p "$tmp/$1.db"
  [ -f "$tmp/$1.db/index.txt" ] || : >"$tmp/$1.db/index.txt"
  [ -f "$tmp/$1.db/serial" ] || echo 1000 >"$tmp/$1.db/serial"
  cat >"$tmp/$1.cnf" <<CNF
[ca]
default_ca = this
[this]
database = $tmp/$1.db/index.txt
serial = $tmp/$1.db/serial
new_certs_dir = $tmp/$1.db
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::SAN}
CNF
}

# $1 name, $2 CN
ca() {
  key "$tmp/$1.key"
  cnf "$1"
  openssl req -new -key "$tmp/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
  SAN=none openssl ca -batch -selfsign -config "$tmp/$1.cnf" -keyfile "$tmp/$1.key" \
    -extensions ca_ext -startdate $START -enddate $END -in "$tmp/$1.csr" -out "$tmp/$1.full" \
    2>/dev/null
  openssl x509 -in "$tmp/$1.full" -out "$1.pem"
}

# $1 name, $2 CA name, $3 CN, $4 SAN, $5 start, $6 end
leaf() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$3" -out "$tmp/$1.csr"
  SAN="$4" openssl ca -batch -config "$tmp/$2.cnf" -cert "$2.pem" -keyfile "$tmp/$2.key" \
    -extensions leaf_ext -startdate "$5" -enddate "$6" -in "$tmp/$1.csr" -out "$tmp/$1.full" \
    2>/dev/null
  openssl x509 -in "$tmp/$1.full" -out "$1.pem"
}

ca ca "llmrt test CA"
ca other-ca "unrelated test CA"
leaf server ca localhost "$LOCAL" $START $END
leaf wronghost ca wrong.example "DNS:wrong.example" $START $END
leaf expired ca localhost "$LOCAL" 20000101000000Z 20010101000000Z
leaf untrusted other-ca localhost "$LOCAL" $START $END
leaf iponly ca "llmrt ip-only" "IP:127.0.0.1,IP:::1" $START $END
chmod 644 ./*.pem ./*.key
echo "certificates written to $(pwd)"
