#!/bin/bash
# mkpki.sh - make (or complete) a development PKI for ailgate.
#
# Everything is generated here, on the machine that runs the tests or the
# demo; no key is ever committed. See certs/README.md for the layout, the
# certificate-to-member rule and how to revoke.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: certs/mkpki.sh OUTDIR [options]

Creates a development PKI under OUTDIR (root CA, auth CA, sign CA, gateway TLS
certificates, member signing certificates, information-system client
certificates, OCSP responders, a TSA and the operator's signing certificate).
Re-running with an existing OUTDIR reuses what is there and adds what is missing.

Options:
  --alg ec|rsa2048|rsa3072   key algorithm (default ec = ECDSA P-256)
  --gateways "a b c"         gateway names (default "municipality state bank")
  --members "CLASS/CODE ..." members that get a signing certificate
                             (default "GOV/70000050 GOV/70000005 GOV/70000019 COM/60000001")
  --clients "GW:CLASS/CODE/SUB ..."
                             information-system client certificates; GW must be one
                             of --gateways (default "municipality:GOV/70000050/household-register
                             state:GOV/70000005/state-portal bank:COM/60000001/bank-is")
  --instance NAME            exchange instance written to is/*/client-id (default central-server)
  --san "DNS:x, IP:y"         subjectAltName of new gateway certificates
                             (default "DNS:localhost, IP:127.0.0.1")
  --force                    delete OUTDIR (only if mkpki.sh made it) and start afresh
  -v, --verbose              show the openssl commands as they run
  -h, --help                 this text
EOF
}

# ---- defaults ---------------------------------------------------------------
ALG=ec
GATEWAYS="municipality state bank"
MEMBERS="GOV/70000050 GOV/70000005 GOV/70000019 COM/60000001"
CLIENTS="municipality:GOV/70000050/household-register state:GOV/70000005/state-portal bank:COM/60000001/bank-is"
INSTANCE=central-server
SAN="DNS:localhost, IP:127.0.0.1"
FORCE=0
VERBOSE=0
OUT=""

DAYS_ROOT=3650
DAYS_CA=1825
DAYS_LEAF=730
MARKER=.mkpki

die() { echo "mkpki: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--alg) [ $# -ge 2 ] || die "--alg needs a value"; ALG=$2; shift 2 ;;
	--gateways) [ $# -ge 2 ] || die "--gateways needs a value"; GATEWAYS=$2; shift 2 ;;
	--members) [ $# -ge 2 ] || die "--members needs a value"; MEMBERS=$2; shift 2 ;;
	--clients) [ $# -ge 2 ] || die "--clients needs a value"; CLIENTS=$2; shift 2 ;;
	--instance) [ $# -ge 2 ] || die "--instance needs a value"; INSTANCE=$2; shift 2 ;;
	--san) [ $# -ge 2 ] || die "--san needs a value"; SAN=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	-v|--verbose) VERBOSE=1; shift ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) [ -z "$OUT" ] || die "only one OUTDIR, got '$OUT' and '$1'"; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }

case "$ALG" in
ec|rsa2048|rsa3072) ;;
*) die "--alg must be ec, rsa2048 or rsa3072, got '$ALG'" ;;
esac

# Identifiers end up in file names and certificate subjects: accept only
# the characters the exchange allows, so nothing needs quoting later.
valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; }
valid_member() { [[ $1 =~ ^[A-Z]{2,16}/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; }
valid_client() { [[ $1 =~ ^[A-Za-z0-9._-]+:[A-Z]{2,16}/[A-Za-z0-9._-]+/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; }

for g in $GATEWAYS; do valid_name "$g" || die "bad gateway name '$g'"; done
for m in $MEMBERS; do valid_member "$m" || die "bad member '$m' (want CLASS/CODE, e.g. GOV/70000050)"; done
for c in $CLIENTS; do
	valid_client "$c" || die "bad client '$c' (want GW:CLASS/CODE/SUBSYSTEM)"
	gw=${c%%:*}
	[[ " $GATEWAYS " == *" $gw "* ]] || die "client '$c' names gateway '$gw', not one of: $GATEWAYS"
done
valid_name "$INSTANCE" || die "bad instance '$INSTANCE'"
[[ $SAN =~ ^(DNS|IP):[A-Za-z0-9.:*-]+(,\ ?(DNS|IP):[A-Za-z0-9.:*-]+)*$ ]] ||
	die "bad --san '$SAN' (want e.g. \"DNS:gw.example.kg, IP:10.0.0.5\")"

# ---- output directory -------------------------------------------------------
if [ "$FORCE" = 1 ] && [ -e "$OUT" ]; then
	# Refuse to delete a directory we did not make: a typo must not cost data.
	if [ -f "$OUT/$MARKER" ]; then
		rm -rf -- "$OUT"
	elif [ -d "$OUT" ] && [ -z "$(ls -A -- "$OUT")" ]; then
		:
	else
		die "--force: '$OUT' was not made by mkpki.sh (no $MARKER); delete it yourself"
	fi
fi
mkdir -p -- "$OUT"
OUT=$(cd -- "$OUT" && pwd)   # ca.cnf files hold absolute paths
if [ -f "$OUT/$MARKER" ]; then
	old=$(sed -n 's/^alg=//p' "$OUT/$MARKER")
	[ "$old" = "$ALG" ] || die "'$OUT' holds a $old PKI; asked for $ALG (use --force to replace it)"
elif [ -n "$(ls -A -- "$OUT")" ]; then
	die "'$OUT' is not empty and was not made by mkpki.sh"
else
	printf 'alg=%s\nmade=%s\n' "$ALG" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$OUT/$MARKER"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkpki.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
LOG=$WORK/log
MADE=0
REUSED=0

# Runs a command quietly; on failure shows what it printed and stops.
run() {
	[ "$VERBOSE" = 1 ] && echo "+ $*" >&2
	if ! "$@" >"$LOG" 2>&1; then
		echo "mkpki: failed: $*" >&2
		cat "$LOG" >&2
		exit 1
	fi
}

# The openssl config used by every `openssl ca` run: one file per CA with
# all certificate profiles; the varying parts come from the environment.
# Written literally (not as $ENV:: references) so that the file also works
# for later `openssl ca -revoke` / `-gencrl` runs with a clean environment.
TLS_KU="digitalSignature"
[ "$ALG" = ec ] || TLS_KU="digitalSignature, keyEncipherment"

write_ca_cnf() { # dir
	cat >"$1/ca.cnf" <<EOF
# Written by certs/mkpki.sh. Use with: openssl ca -config $1/ca.cnf ...
[ ca ]
default_ca = this_ca

[ this_ca ]
dir = $1
certificate = \$dir/cert.pem
private_key = \$dir/key.pem
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
crl = \$dir/crl.pem
new_certs_dir = \$dir/newcerts
rand_serial = yes
unique_subject = no
default_md = sha256
default_days = $DAYS_LEAF
default_crl_days = 30
policy = policy_any
preserve = yes
email_in_dn = no
copy_extensions = none
name_opt = ca_default
cert_opt = ca_default

[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
serialNumber = optional
commonName = supplied

[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[ req_dn ]

[ v3_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ v3_intermediate ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_tls ]
basicConstraints = critical, CA:false
keyUsage = critical, $TLS_KU
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints = critical, CA:false
keyUsage = critical, $TLS_KU
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_sign ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_ocsp ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

genkey() { # path
	[ -s "$1" ] && return 0
	local old
	old=$(umask); umask 077
	case "$ALG" in
	ec) run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1" ;;
	rsa2048) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
	rsa3072) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1" ;;
	esac
	umask "$old"
}

# An openssl ca directory: index.txt, serial, crlnumber, newcerts/.
init_ca_dir() { # dir
	mkdir -p "$1/newcerts"
	[ -f "$1/index.txt" ] || : >"$1/index.txt"
	[ -f "$1/index.txt.attr" ] || echo "unique_subject = no" >"$1/index.txt.attr"
	# rand_serial makes `openssl ca` pick random serials; the file is kept
	# because tools (and `openssl ca -gencrl` on older builds) expect it.
	[ -f "$1/serial" ] || openssl rand -hex 16 | tr a-f A-F >"$1/serial"
	[ -f "$1/crlnumber" ] || echo 1000 >"$1/crlnumber"
	write_ca_cnf "$1"
}

make_root() {
	local d=$OUT/ca/root
	init_ca_dir "$d"
	genkey "$d/key.pem"
	if [ -s "$d/cert.pem" ]; then REUSED=$((REUSED + 1)); return; fi
	run openssl req -new -x509 -config "$d/ca.cnf" -extensions v3_root -key "$d/key.pem" \
		-subj "/C=KG/O=ailgate development/CN=ailgate dev root" \
		-days "$DAYS_ROOT" -sha256 -set_serial "0x$(openssl rand -hex 16)" -out "$d/cert.pem"
	MADE=$((MADE + 1))
}

# Issues $out (cert) for $key from CA dir $ca with profile $ext.
issue() { # ca ext subj key out days
	local ca=$1 ext=$2 subj=$3 key=$4 out=$5 days=$6
	genkey "$key"
	if [ -s "$out" ]; then REUSED=$((REUSED + 1)); return; fi
	run openssl req -new -config "$ca/ca.cnf" -key "$key" -subj "$subj" -out "$WORK/req.csr"
	run openssl ca -batch -config "$ca/ca.cnf" -extensions "$ext" -days "$days" -notext \
		-in "$WORK/req.csr" -out "$out"
	MADE=$((MADE + 1))
}

make_intermediate() { # name cn
	local d=$OUT/ca/$1
	init_ca_dir "$d"
	issue "$OUT/ca/root" v3_intermediate "/C=KG/O=ailgate development/CN=$2" \
		"$d/key.pem" "$d/cert.pem" "$DAYS_CA"
	cat "$d/cert.pem" "$OUT/ca/root/cert.pem" >"$OUT/ca/$1-chain.pem"
}

sha256_of() { # cert -> file.sha256
	openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64 >"${1%.pem}.sha256"
}

# Human-readable names for the demo members; anything else gets "CLASS CODE".
member_name() {
	case "$1" in
	GOV/70000050) echo "Lebedinovka ayil okmotu" ;;
	GOV/70000005) echo "State Registration Service" ;;
	GOV/70000019) echo "Cadastre and property registry" ;;
	COM/60000001) echo "Demo Bank" ;;
	*) echo "${1%%/*} ${1#*/}" ;;
	esac
}

make_gateway() { # name
	local d=$OUT/gw/$1
	mkdir -p "$d"
	issue "$OUT/ca/auth" v3_tls \
		"/C=KG/O=ailgate development/CN=$1 gateway" "$d/auth.key" "$d/auth.pem" "$DAYS_LEAF"
	cat "$d/auth.pem" "$OUT/ca/auth/cert.pem" >"$d/auth-fullchain.pem"
	sha256_of "$d/auth.pem"
}

make_member() { # CLASS/CODE
	local cls=${1%%/*} code=${1#*/} d
	d=$OUT/members/${cls}_${code}
	mkdir -p "$d"
	# The rule the gateway applies (README): serialNumber = CLASS/CODE, CN = CODE.
	issue "$OUT/ca/sign" v3_sign "/C=KG/O=$(member_name "$1")/serialNumber=$cls\\/$code/CN=$code" \
		"$d/sign.key" "$d/sign.pem" "$DAYS_LEAF"
	cat "$d/sign.pem" "$OUT/ca/sign/cert.pem" >"$d/sign-fullchain.pem"
	sha256_of "$d/sign.pem"
}

make_client() { # GW:CLASS/CODE/SUB
	local gw=${1%%:*} id=${1#*:} cls code sub d
	cls=${id%%/*}; code=${id#*/}; code=${code%%/*}; sub=${id##*/}
	d=$OUT/is/${cls}_${code}_${sub}
	mkdir -p "$d"
	issue "$OUT/ca/auth" v3_client \
		"/C=KG/O=$(member_name "$cls/$code")/OU=$sub/serialNumber=$cls\\/$code\\/$sub/CN=$sub" \
		"$d/client.key" "$d/client.pem" "$DAYS_LEAF"
	cat "$d/client.pem" "$OUT/ca/auth/cert.pem" >"$d/client-fullchain.pem"
	sha256_of "$d/client.pem"
	echo "$gw" >"$d/gateway"
	echo "$INSTANCE/$cls/$code/$sub" >"$d/client-id"
}

make_ocsp() { # ca-name
	local d=$OUT/ocsp/$1
	mkdir -p "$d"
	issue "$OUT/ca/$1" v3_ocsp "/C=KG/O=ailgate development/CN=ailgate dev $1 CA OCSP responder" \
		"$d/ocsp.key" "$d/ocsp.pem" "$DAYS_LEAF"
}

write_tsa_cnf() {
	cat >"$OUT/tsa/tsa.cnf" <<EOF
# Written by certs/mkpki.sh. Use with:
#   openssl ts -reply -config $OUT/tsa/tsa.cnf -queryfile q.tsq -out r.tsr
[ tsa ]
default_tsa = tsa_dev

[ tsa_dev ]
dir = $OUT/tsa
serial = \$dir/tsaserial
crypto_device = builtin
signer_cert = \$dir/tsa.pem
certs = \$dir/tsa-chain.pem
signer_key = \$dir/tsa.key
signer_digest = sha256
# A private-arc OID for development only; a real TSA publishes its policy.
default_policy = 1.3.6.1.4.1.57264.1.1
other_policies = 1.3.6.1.4.1.57264.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
EOF
}

make_tsa() {
	local d=$OUT/tsa
	mkdir -p "$d"
	issue "$OUT/ca/root" v3_tsa "/C=KG/O=ailgate development/CN=ailgate dev TSA" \
		"$d/tsa.key" "$d/tsa.pem" "$DAYS_LEAF"
	cp "$OUT/ca/root/cert.pem" "$d/tsa-chain.pem"
	[ -f "$d/tsaserial" ] || echo 01 >"$d/tsaserial"
	write_tsa_cnf
}

make_operator() {
	local d=$OUT/operator
	mkdir -p "$d"
	issue "$OUT/ca/root" v3_sign "/C=KG/O=ailgate development/CN=ailgate dev exchange operator" \
		"$d/operator.key" "$d/operator.pem" "$DAYS_LEAF"
	cat "$d/operator.pem" "$OUT/ca/root/cert.pem" >"$d/operator-chain.pem"
}

# Every leaf must chain to the root with the purpose it is made for.
VERIFIED=0
check() { # cert intermediate-or-empty purpose-or-empty
	local args=(-x509_strict -CAfile "$OUT/ca/trust.pem")
	[ -n "$2" ] && args+=(-untrusted "$2")
	[ -n "$3" ] && args+=(-purpose "$3")
	if ! openssl verify "${args[@]}" "$1" >"$LOG" 2>&1; then
		echo "mkpki: verification failed for $1" >&2
		cat "$LOG" >&2
		die "the PKI in '$OUT' is inconsistent (a CA re-made under old leaves?); use --force"
	fi
	VERIFIED=$((VERIFIED + 1))
}

verify_all() {
	local a=$OUT/ca/auth/cert.pem s=$OUT/ca/sign/cert.pem m c
	check "$a" "" ""
	check "$s" "" ""
	for g in $GATEWAYS; do
		check "$OUT/gw/$g/auth.pem" "$a" sslserver
		check "$OUT/gw/$g/auth.pem" "$a" sslclient
	done
	for m in $MEMBERS; do check "$OUT/members/${m%%/*}_${m#*/}/sign.pem" "$s" ""; done
	for c in $CLIENTS; do
		c=${c#*:}
		check "$OUT/is/$(echo "$c" | tr / _)/client.pem" "$a" sslclient
	done
	check "$OUT/ocsp/auth/ocsp.pem" "$a" ocsphelper
	check "$OUT/ocsp/sign/ocsp.pem" "$s" ocsphelper
	check "$OUT/tsa/tsa.pem" "" timestampsign
	check "$OUT/operator/operator.pem" "" ""
}

# ---- make ------------------------------------------------------------------
mkdir -p "$OUT/ca"
make_root
cp "$OUT/ca/root/cert.pem" "$OUT/ca/trust.pem"
make_intermediate auth "ailgate dev auth CA"
make_intermediate sign "ailgate dev sign CA"
for g in $GATEWAYS; do make_gateway "$g"; done
for m in $MEMBERS; do make_member "$m"; done
for c in $CLIENTS; do make_client "$c"; done
make_ocsp auth
make_ocsp sign
make_tsa
make_operator
verify_all

echo "mkpki: $OUT ($ALG): $MADE made, $REUSED reused, $VERIFIED checks passed"
echo "  gateways: $GATEWAYS"
echo "  members:  $MEMBERS"
ids=(); for c in $CLIENTS; do ids+=("${c#*:}"); done
echo "  clients:  ${ids[*]}"
