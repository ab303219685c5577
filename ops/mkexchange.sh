#!/bin/bash
# mkexchange.sh - lay out a three-gateway exchange (municipality, state, bank)
# in OUTDIR: a development PKI (certs/mkpki.sh), the global configuration and
# one local configuration per gateway, from the templates in config/demo/.
# Used by ops/demo.sh and by the integration tests, so both run the same thing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	cat <<'EOF2'
Usage: ops/mkexchange.sh OUTDIR [options]

  --client-base N     client ports: municipality N, state N+1, bank N+2 (default 8080)
  --server-base N     gateway-to-gateway ports, likewise (default 5500)
  --tls-port N        municipality's HTTPS client port (default 8443)
  --workers N         worker threads per gateway (default 1)
  --max-body BYTES    request body cap (default 10M)
  --header-timeout MS time allowed for a request head (default 10000)
  --out-timeout MS    timeout of calls to peers and providers (default 30000)
  --alg ALG           key algorithm for the PKI: ec, rsa2048, rsa3072 (default ec)
  --extra-services F  XML fragment added to the global configuration's services
  --extra-members F   XML fragment added to its members
  --extra-gateways F  XML fragment added to its gateways
  --extra-clients-municipality F, --extra-clients-state F
                      <client> lines added to that gateway's hosted clients
  --extra-ini GW:F    lines appended to gateway GW's local configuration
Trust services (started by ops/demo.sh and the test harness, not here): the TSA
listens on server-base+20, the OCSP responders of the authentication and the
signing CA on server-base+21 and +22; global configuration approves them.
Every member named in the global configuration gets a signing key; each
gateway's configuration lists the keys of the members it hosts.
The global configuration is signed with the operator's key (certs/mkpki.sh makes
it) by `ailgate globalconf sign` (AILGATE_BIN, else build/{asan,release,clang});
each gateway's [globalconf] anchor is the operator's certificate.
Values @PROVIDER_PORT@ etc. in the fragments are filled in from the environment
variables of the same name.
EOF2
}

OUT=""; CB=8080; SB=5500; TLSP=8443; WORKERS=1; MAXBODY=10M; HTO=10000; OTO=30000; ALG=ec
XS=""; XM=""; XG=""; XCM=""; XCS=""; XI=()
while [ $# -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--client-base) CB=$2; shift 2 ;;
	--server-base) SB=$2; shift 2 ;;
	--tls-port) TLSP=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--max-body) MAXBODY=$2; shift 2 ;;
	--header-timeout) HTO=$2; shift 2 ;;
	--out-timeout) OTO=$2; shift 2 ;;
	--alg) ALG=$2; shift 2 ;;
	--extra-services) XS=$2; shift 2 ;;
	--extra-members) XM=$2; shift 2 ;;
	--extra-gateways) XG=$2; shift 2 ;;
	--extra-clients-municipality) XCM=$2; shift 2 ;;
	--extra-clients-state) XCS=$2; shift 2 ;;
	--extra-ini) XI+=("$2"); shift 2 ;;
	-*) echo "mkexchange: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) [ -z "$OUT" ] || { echo "mkexchange: one OUTDIR only" >&2; exit 2; }; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PKI=$OUT/pki

# Every member of the configuration (template and extra fragment) gets a signing key.
MEMBERS=$(cat "$ROOT/config/demo/globalconf.xml.in" ${XM:+"$XM"} |
	sed -n 's/.*<member class="\([A-Za-z0-9]*\)" code="\([A-Za-z0-9]*\)".*/\1\/\2/p' | sort -u | tr '\n' ' ')
"$ROOT/certs/mkpki.sh" "$PKI" --alg "$ALG" --members "$MEMBERS" >/dev/null

# Fills @NAME@ placeholders from the environment (only names that are set).
fill() {
	/usr/bin/python3 - "$@" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read() if sys.argv[1] != "-" else sys.stdin.read()
def sub(m):
    v = os.environ.get("T_" + m.group(1))
    return v if v is not None else m.group(0)
sys.stdout.write(re.sub(r"@([A-Z_0-9]+)@", sub, text))
PY
}
frag() { if [ -n "$1" ]; then fill "$1"; fi; }

# GLOBALCONF_GENERATED_AT / GLOBALCONF_EXPIRES_AT override the validity (tests of expiry).
export T_GENERATED_AT; T_GENERATED_AT=${GLOBALCONF_GENERATED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
export T_EXPIRES_AT; T_EXPIRES_AT=${GLOBALCONF_EXPIRES_AT:-$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)}
export T_S_MUNICIPALITY=$SB T_S_STATE=$((SB + 1)) T_S_BANK=$((SB + 2))
export T_C_MUNICIPALITY=$CB T_C_STATE=$((CB + 1)) T_C_BANK=$((CB + 2))
export T_HASH_MUNICIPALITY T_HASH_STATE T_HASH_BANK
T_HASH_MUNICIPALITY=$(cat "$PKI/gw/municipality/auth.sha256")
T_HASH_STATE=$(cat "$PKI/gw/state/auth.sha256")
T_HASH_BANK=$(cat "$PKI/gw/bank/auth.sha256")
for v in $(env | sed -n 's/^\([A-Z_0-9]*\)=.*/\1/p' | grep -v '^T_'); do
	case "$v" in PROVIDER_*|EXTRA_*) export "T_$v=${!v}" ;; esac
done
# Approved CAs (with their OCSP responders) and TSA, certificates inline.
export T_TSA_PORT=$((SB + 20)) T_OCSP_AUTH_PORT=$((SB + 21)) T_OCSP_SIGN_PORT=$((SB + 22))
export T_CA_AUTH_PEM T_CA_SIGN_PEM T_TSA_PEM
T_CA_AUTH_PEM=$(cat "$PKI/ca/auth-chain.pem"); T_CA_SIGN_PEM=$(cat "$PKI/ca/sign-chain.pem")
T_TSA_PEM=$(cat "$PKI/tsa/tsa.pem")
export T_EXTRA_SERVICES T_EXTRA_MEMBERS T_EXTRA_GATEWAYS
T_EXTRA_SERVICES=$(frag "$XS"); T_EXTRA_MEMBERS=$(frag "$XM"); T_EXTRA_GATEWAYS=$(frag "$XG")
# Hosted clients: from the option's file, else the EXTRA_CLIENTS_* variable, else none.
export T_EXTRA_CLIENTS_MUNICIPALITY T_EXTRA_CLIENTS_STATE
[ -z "$XCM" ] || T_EXTRA_CLIENTS_MUNICIPALITY=$(frag "$XCM")
[ -z "$XCS" ] || T_EXTRA_CLIENTS_STATE=$(frag "$XCS")
T_EXTRA_CLIENTS_MUNICIPALITY=${T_EXTRA_CLIENTS_MUNICIPALITY-}; T_EXTRA_CLIENTS_STATE=${T_EXTRA_CLIENTS_STATE-}
fill "$ROOT/config/demo/globalconf.xml.in" > "$OUT/globalconf.xml.tmp"

# The operator signs the global configuration (ailgate globalconf sign) and
# every gateway holds the operator's certificate as its anchor ([globalconf]
# anchor). The binary: AILGATE_BIN, else the first built flavour (the order
# the test harness uses).
BIN=${AILGATE_BIN:-}
for f in asan release clang; do
	[ -n "$BIN" ] || [ ! -x "$ROOT/build/$f/ailgate" ] || BIN=$ROOT/build/$f/ailgate
done
export T_GC_ANCHOR=""
if [ -n "$BIN" ] && "$BIN" globalconf --help 2>/dev/null | grep -q 'globalconf sign'; then
	if ! msg=$("$BIN" globalconf sign --key "$PKI/operator/operator.key" \
		--cert "$PKI/operator/operator.pem" -o "$OUT/globalconf.xml" "$OUT/globalconf.xml.tmp" 2>&1); then
		echo "$msg" >&2
		echo "mkexchange: signing the global configuration failed" >&2
		exit 1
	fi
	rm -f "$OUT/globalconf.xml.tmp"
	T_GC_ANCHOR=$PKI/operator/operator.pem
else
	echo "mkexchange: WARNING: no ailgate binary that can sign (AILGATE_BIN, or build one with" \
		"ops/build.sh); the global configuration is left UNSIGNED and the gateways get no anchor" >&2
	mv "$OUT/globalconf.xml.tmp" "$OUT/globalconf.xml"
fi

i=0
for gw in municipality state bank; do
	export T_CODE=$gw T_C_PORT=$((CB + i)) T_S_PORT=$((SB + i)) T_WORKERS=$WORKERS
	export T_DATA=$OUT/data/$gw T_OUT=$OUT T_PKI=$PKI T_MAX_BODY=$MAXBODY
	export T_HEADER_TIMEOUT=$HTO T_OUT_TIMEOUT=$OTO
	mkdir -p "$T_DATA"
	T_CLIENT_TLS=""
	if [ "$gw" = municipality ]; then
		# HTTPS for information systems; a client certificate is asked for and
		# checked against the dev CA (is_cert lines bind one to a subsystem).
		T_CLIENT_TLS="tls_listen = 127.0.0.1:$TLSP
tls_cert = $PKI/gw/$gw/auth.pem
tls_key = $PKI/gw/$gw/auth.key
tls_client_ca = $PKI/ca/trust.pem"
	fi
	export T_CLIENT_TLS
	T_EXTRA_INI=""
	for x in "${XI[@]+"${XI[@]}"}"; do
		[ "${x%%:*}" = "$gw" ] && T_EXTRA_INI+=$'\n'"$(fill "${x#*:}")"
	done
	export T_EXTRA_INI
	# The signing keys of the members whose subsystems this gateway hosts.
	T_SIGNING=$(/usr/bin/python3 - "$OUT/globalconf.xml" "$gw" "$PKI" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"g": "urn:ailgate:globalconf:1"}
root = ET.parse(sys.argv[1]).getroot()
tag = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
members = []
for g in root.iter(tag + "gateway"):
    if g.get("code") != sys.argv[2]:
        continue
    for c in g.iter(tag + "client"):
        parts = (c.text or "").strip().split("/")
        if len(parts) >= 2 and "/".join(parts[:2]) not in members:
            members.append("/".join(parts[:2]))
for m in members:
    d = "%s/members/%s" % (sys.argv[3], m.replace("/", "_"))
    print("member_key = %s %s/sign.key %s/sign-fullchain.pem" % (m, d, d))
PY
)
	export T_SIGNING
	# The municipality issues e-signed certificates (adapters/certificates) with its
	# member key, time-stamped by the approved TSA; the public page is /verify.
	T_CERTIFICATES=""
	if [ "$gw" = municipality ]; then
		T_CERTIFICATES="[adapter.certificates]
sign_key = $PKI/members/GOV_70000050/sign.key
sign_cert = $PKI/members/GOV_70000050/sign-fullchain.pem
tsa_url = http://127.0.0.1:$T_TSA_PORT/
tsa_cert = $PKI/tsa/tsa.pem
tsa_ca = $PKI/ca/trust.pem
trust = $PKI/ca/trust.pem
verify_url = http://127.0.0.1:$T_C_PORT/verify"
	fi
	export T_CERTIFICATES
	fill "$ROOT/config/demo/gateway.ini.in" > "$OUT/$gw.ini"
	i=$((i + 1))
done
echo "$OUT"
