#!/usr/bin/env bash
# Generate the ahttp TEST-ONLY PKI (root CA plus leaf certificates for the
# TLS tests). Usage: make-certs.sh [OUTDIR]   (default: this script's dir)
# Needs only the openssl CLI (OpenSSL 3.0). Safe to re-run: every file is
# regenerated from scratch, with fresh keys.
set -euo pipefail

out=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
mkdir -p "$out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# We sign everything with `openssl ca` rather than `openssl x509 -req`,
# because in OpenSSL 3.0 only `ca` lets us choose notBefore (-startdate).
# That gives every valid cert a notBefore one day in the past (tolerates
# clock skew) and lets us mint a cert that is already expired.
# `ca` needs a small on-disk database, which lives in $tmp.
mkdir "$tmp/new"
: > "$tmp/index.txt"
openssl rand -hex 16 > "$tmp/serial"

cat > "$tmp/ca.cnf" <<CNF
[ca]
default_ca = test_ca

[test_ca]
database       = $tmp/index.txt
new_certs_dir  = $tmp/new
serial         = $tmp/serial
default_md     = sha256
policy         = policy_cn
# several certs share CN=localhost; don't reject duplicates
unique_subject = no
email_in_dn    = no

[policy_cn]
commonName = supplied

[req]
distinguished_name = req_dn
prompt             = no
[req_dn]
CN = unused

[ext_ca]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ext_server]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ext_wronghost]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ext_client]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF

yesterday=$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)

# issue NAME CN EXTSECTION [extra `openssl ca` args...]
# New EC P-256 key + CSR, then sign it with the test CA. Outputs go to $tmp
# first and are moved into $out only once everything succeeded.
issue() {
    local name=$1 cn=$2 ext=$3; shift 3
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$tmp/$name.key"
    openssl req -new -config "$tmp/ca.cnf" -key "$tmp/$name.key" \
        -subj "/CN=$cn" -out "$tmp/$name.csr"
    openssl ca -batch -notext -config "$tmp/ca.cnf" -extensions "$ext" \
        -in "$tmp/$name.csr" -out "$tmp/$name.pem" "$@" 2>"$tmp/ca.log" ||
        { cat "$tmp/ca.log" >&2; return 1; }  # `ca` is chatty; show only on error
}

valid=(-startdate "$yesterday" -days 3650)

# Root CA: self-signed via `ca -selfsign` so it is backdated like the rest.
issue ca "ahttp test CA" ext_ca -selfsign -keyfile "$tmp/ca.key" "${valid[@]}"

signed=(-cert "$tmp/ca.pem" -keyfile "$tmp/ca.key")
issue server    localhost         ext_server    "${signed[@]}" "${valid[@]}"
issue client    ahttp-test-client ext_client    "${signed[@]}" "${valid[@]}"
issue wronghost wrong.example     ext_wronghost "${signed[@]}" "${valid[@]}"
# Already expired: both dates in the past.
issue expired   localhost         ext_server    "${signed[@]}" \
    -startdate 20200101000000Z -enddate 20210101000000Z
# Self-signed leaf with the server's SANs, NOT issued by the test CA.
issue selfsigned localhost        ext_server    -selfsign \
    -keyfile "$tmp/selfsigned.key" "${valid[@]}"

for n in ca server client wronghost expired selfsigned; do
    mv -f "$tmp/$n.pem" "$tmp/$n.key" "$out/"
done
echo "test PKI written to $out"
