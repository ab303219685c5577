#!/bin/bash
# demo.sh - the main job: install what is missing, build, make a development
# PKI, start the three-gateway demo exchange on loopback and show it working.
#
#   ops/demo.sh           run the tour, then keep the exchange running (Ctrl-C stops it)
#   ops/demo.sh --once    run the tour and exit (exit code = whether the tour passed)
#
# Gateways (client ports: plain HTTP on 127.0.0.1, for information systems):
#   municipality  8080  (HTTPS for information systems: 8443)   peer port 5500
#   state         8081                                          peer port 5501
#   bank          8082                                          peer port 5502
# Trust services global configuration approves (loopback): TSA 5520 (RFC 3161,
# OpenSSL's TS), OCSP responders 5521 (authentication CA) and 5522 (signing CA).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AILGATE_DEMO_DIR:-$ROOT/run/demo}
ONCE=0
for a in "$@"; do
	case "$a" in
	--once) ONCE=1 ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $a (try --help)" >&2; exit 2 ;;
	esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

say "1. packages"
"$ROOT/ops/deps.sh"
say "2. build (gcc, warnings as errors)"
"$ROOT/ops/build.sh" release
BIN=$ROOT/build/release/ailgate

for p in 8080 8081 8082 8443 5500 5501 5502 5520 5521 5522; do
	if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
		echo "demo: port $p is already in use (another demo running? stop it first)" >&2
		exit 1
	fi
done

say "3. development PKI, global configuration, gateway configurations -> $RUN"
"$ROOT/ops/mkexchange.sh" "$RUN" >/dev/null
note "PKI:                  $RUN/pki   (certs/mkpki.sh; nothing is committed)"
note "global configuration: $RUN/globalconf.xml"
note "local configurations: $RUN/{municipality,state,bank}.ini"

PIDS=()
stop_all() {
	for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
}
trap 'stop_all' EXIT
trap 'echo; echo "stopping the demo exchange"; stop_all; exit 0' INT TERM

say "4. starting the trust services and the gateways"
/usr/bin/python3 "$ROOT/tests/integration/tsa_server.py" --tsa-dir "$RUN/pki/tsa" --port 5520 \
	>>"$RUN/tsa.log" 2>&1 &
PIDS+=($!)
for ca in auth sign; do
	port=$([ "$ca" = auth ] && echo 5521 || echo 5522)
	openssl ocsp -index "$RUN/pki/ca/$ca/index.txt" -CA "$RUN/pki/ca/$ca/cert.pem" \
		-rsigner "$RUN/pki/ocsp/$ca/ocsp.pem" -rkey "$RUN/pki/ocsp/$ca/ocsp.key" \
		-port "$port" -nmin 60 >>"$RUN/ocsp-$ca.log" 2>&1 &
	PIDS+=($!)
done
note "TSA http://127.0.0.1:5520/  OCSP http://127.0.0.1:5521/ (auth CA), :5522 (signing CA)"
for gw in municipality state bank; do
	"$BIN" serve --config "$RUN/$gw.ini" >>"$RUN/$gw.log" 2>&1 &
	PIDS+=($!)
done
for port in 8080 8081 8082; do
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$port/health" >/dev/null || {
		echo "demo: gateway on port $port did not start; see $RUN/*.log" >&2; exit 1; }
done
note "all three answer /health; logs in $RUN/*.log"

# A resident who is in both the household register and the population registry.
PIN=$(sqlite3 "$RUN/data/municipality/household.db" \
	"SELECT pin FROM persons WHERE pin IS NOT NULL AND relation='head' ORDER BY id LIMIT 1")

pass=0; fail=0
check() { # check NAME EXPECTED-SUBSTRING OUTPUT
	if printf '%s' "$3" | grep -q -- "$2"; then pass=$((pass + 1)); note "-> ok: $1";
	else fail=$((fail + 1)); note "-> FAILED: $1 (expected '$2')"; fi
}
show() { printf '%s\n' "$1" | head -c 2500 | sed 's/^/   | /'; echo; }

say "5. tour"
echo
echo "5a. A clerk's household-register system asks the population registry (state gateway)"
echo "    for a person, by SOAP, through the municipality's gateway:"
SOAP=$(cat <<XML
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
 <SOAP-ENV:Header>
  <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>central-server</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode><id:subsystemCode>household-register</id:subsystemCode></xrd:client>
  <xrd:service id:objectType="SERVICE"><id:xRoadInstance>central-server</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000005</id:memberCode><id:subsystemCode>passport-service</id:subsystemCode><id:serviceCode>passportDataByPSN</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>
  <xrd:id>$(cat /proc/sys/kernel/random/uuid)</xrd:id>
  <xrd:userId>KG$PIN</xrd:userId>
  <xrd:protocolVersion>4.0</xrd:protocolVersion>
 </SOAP-ENV:Header>
 <SOAP-ENV:Body><ns1:passportDataByPSN xmlns:ns1="http://tunduk.kg/passport"><pin>$PIN</pin></ns1:passportDataByPSN></SOAP-ENV:Body>
</SOAP-ENV:Envelope>
XML
)
printf '%s\n' "$SOAP" > "$RUN/clerk-request.xml"
note "curl -s -H 'Content-Type: text/xml' --data-binary @$RUN/clerk-request.xml http://127.0.0.1:8080/"
out=$(curl -s -H 'Content-Type: text/xml' --data-binary @"$RUN/clerk-request.xml" http://127.0.0.1:8080/ | xmllint --format - 2>/dev/null || true)
show "$out"
check "person found, headers repeated, requestHash added" "requestHash" "$out"

echo "5b. A bank reads a resident record only with the person's consent. The bank asks for it"
echo "    (PIN, purpose, end date); the person gets a one-time code (here: printed to the"
echo "    municipality gateway's console, $RUN/municipality.log) and confirms it on the portal:"
CONSENT=http://127.0.0.1:8082/r1/central-server/GOV/70000050/consent
END=$(date -u -d '+30 days' +%Y-%m-%d)
note "curl -s -H 'X-Road-Client: central-server/COM/60000001/bank-is' -H 'Content-Type: application/json' \\"
note "     -d '{\"pin\":\"$PIN\",\"purpose\":\"mortgage application\",\"end_date\":\"$END\"}' $CONSENT/consent-request"
out=$(curl -s -H 'X-Road-Client: central-server/COM/60000001/bank-is' -H 'Content-Type: application/json' \
	-d "{\"pin\":\"$PIN\",\"purpose\":\"mortgage application\",\"end_date\":\"$END\"}" "$CONSENT/consent-request" || true)
show "$out"
CID=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["consent_id"])' 2>/dev/null || true)
sleep 0.2
CODE=$(grep -o "OTP for consent $CID to person $PIN: [0-9]*" "$RUN/municipality.log" | tail -1 | awk '{print $NF}')
note "the person's code: $(grep "OTP for consent $CID " "$RUN/municipality.log" | tail -1)"
out=$(curl -s -H 'X-Road-Client: central-server/GOV/70000073/portal' -H "X-Road-UserId: KG$PIN" \
	-H 'Content-Type: application/json' -d "{\"consent_id\":\"$CID\",\"code\":\"$CODE\"}" \
	http://127.0.0.1:8081/r1/central-server/GOV/70000050/consent/consent-confirm || true)
show "$out"
check "consent confirmed" "active" "$out"

echo "    Now the bank's system asks the household register (municipality gateway) for the"
echo "    person's household, by REST, through the bank's gateway:"
URL="http://127.0.0.1:8082/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/$PIN"
note "curl -si -H 'X-Road-Client: central-server/COM/60000001/bank-is' $URL"
out=$(curl -si -H 'X-Road-Client: central-server/COM/60000001/bank-is' "$URL" || true)
# headers as they came, the JSON body indented for reading
show "$(printf '%s' "$out" | sed -n '1,/^\r\{0,1\}$/p')
$(printf '%s' "$out" | sed '1,/^\r\{0,1\}$/d' | python3 -m json.tool --no-ensure-ascii 2>/dev/null | head -40)"
check "household members returned with X-Road-Request-Hash" "X-Road-Request-Hash" "$out"

echo "5c. What may the bank call at the household register? (allowedMethods, REST)"
URL="http://127.0.0.1:8082/r1/central-server/GOV/70000050/sanaripaymak-service/allowedMethods"
note "curl -s -H 'X-Road-Client: central-server/COM/60000001/bank-is' $URL"
out=$(curl -s -H 'X-Road-Client: central-server/COM/60000001/bank-is' "$URL" || true)
show "$(printf '%s' "$out" | python3 -c 'import json,sys; [print("  ", s["service_code"]) for s in json.load(sys.stdin)["service"]]' 2>/dev/null || printf '%s' "$out")"
check "allowedMethods lists family-members" "family-members" "$out"

echo "5d. A refused request: the bank asks the population registry for passport data,"
echo "    which only municipalities and the portal may call:"
printf '%s\n' "$SOAP" | sed -e 's|<id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode><id:subsystemCode>household-register|<id:memberClass>COM</id:memberClass><id:memberCode>60000001</id:memberCode><id:subsystemCode>bank-is|' > "$RUN/bank-refused.xml"
note "curl -s -H 'Content-Type: text/xml' --data-binary @$RUN/bank-refused.xml http://127.0.0.1:8082/"
out=$(curl -s -H 'Content-Type: text/xml' --data-binary @"$RUN/bank-refused.xml" http://127.0.0.1:8082/ | xmllint --format - 2>/dev/null || true)
show "$out"
check "refused with Server.ServerProxy.AccessDenied" "Server.ServerProxy.AccessDenied" "$out"
detail=$(printf '%s' "$out" | sed -n 's/.*<faultDetail[^>]*>\([^<]*\)<.*/\1/p' | head -1)
if [ -n "$detail" ] && grep -q "reqid=$detail" "$RUN/state.log"; then
	note "the fault's detail $detail is the request id in the state gateway's log:"
	grep "reqid=$detail" "$RUN/state.log" | grep event=request | head -1 | sed 's/^/   | /'
fi

echo "5e. Members and subsystems of the exchange (listClients):"
note "curl -s -H 'Accept: application/json' http://127.0.0.1:8080/listClients"
out=$(curl -s -H 'Accept: application/json' http://127.0.0.1:8080/listClients || true)
show "$(printf '%s' "$out" | python3 -c 'import json,sys
for m in json.load(sys.stdin)["member"]:
    i = m["id"]; print("  %-9s %s/%s/%s%s  %s" % (i["object_type"], i["xroad_instance"], i["member_class"], i["member_code"], "/" + i["subsystem_code"] if "subsystem_code" in i else "", m["name"]))' 2>/dev/null || printf '%s' "$out")"
check "listClients names the bank" "60000001" "$out"

echo "5f. A citizen asks for a certificate on the portal (state gateway): the municipality's"
echo "    certificates service queries the registries through the exchange (signed and logged),"
echo "    builds the document, signs it (XAdES) and has it time-stamped (RFC 3161) at once:"
CERTS=http://127.0.0.1:8081/r1/central-server/GOV/70000050/certificates
note "curl -s -H 'X-Road-Client: central-server/GOV/70000073/portal' -H 'X-Road-UserId: $PIN' \\"
note "     -H 'Content-Type: application/json' -d '{\"kind\":\"household-composition\",\"pin\":\"$PIN\",\"purpose\":\"for the bank\"}' $CERTS/issue"
out=$(curl -s -H 'X-Road-Client: central-server/GOV/70000073/portal' -H "X-Road-UserId: $PIN" \
	-H 'Content-Type: application/json' \
	-d "{\"kind\":\"household-composition\",\"pin\":\"$PIN\",\"purpose\":\"for the bank\"}" "$CERTS/issue" || true)
printf '%s' "$out" > "$RUN/certificate.json"
show "$(printf '%s' "$out" | python3 -c 'import json,sys
d = json.load(sys.stdin)
for k in ("number", "digest", "verify_url", "edocs_registration_number", "sources"):
    print("  %s: %s" % (k, d.get(k)))' 2>/dev/null || printf '%s' "$out" | head -c 600)"
check "certificate issued with a number and a verification address" "verify_url" "$out"
python3 -c 'import json,sys; open(sys.argv[2], "w").write(json.load(open(sys.argv[1]))["document_xml"])' \
	"$RUN/certificate.json" "$RUN/certificate.xml" 2>/dev/null || true
VURL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verify_url"])' "$RUN/certificate.json" 2>/dev/null || true)
note "anyone checks it offline: xmlsec1 --verify --trusted-pem $RUN/pki/ca/root/cert.pem --id-attr:Id SignedProperties $RUN/certificate.xml"
out=$(xmlsec1 --verify --trusted-pem "$RUN/pki/ca/root/cert.pem" --id-attr:Id SignedProperties "$RUN/certificate.xml" 2>&1 || true)
check "xmlsec1 verifies the certificate offline" "OK" "$out"
note "or on the verification page (works without JavaScript): $VURL"
out=$(curl -s "$VURL" || true)
check "the verification page says the certificate is valid" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["number"])' "$RUN/certificate.json" 2>/dev/null)" "$out"

say "tour: $pass passed, $fail failed"
cat <<EOF

The demo exchange is running:
  municipality  http://127.0.0.1:8080/  (HTTPS for information systems: https://127.0.0.1:8443/)
  state         http://127.0.0.1:8081/
  bank          http://127.0.0.1:8082/
  peer (mutual TLS) ports 5500, 5501, 5502; health: http://127.0.0.1:808x/health
Try:
  curl -s http://127.0.0.1:8080/health
  curl -s -H 'X-Road-Client: central-server/COM/60000001/bank-is' \\
       http://127.0.0.1:8082/r1/central-server/GOV/70000050/sanaripaymak-service/address-fact/$PIN
  curl -s 'http://127.0.0.1:8080/wsdl?xRoadInstance=central-server&memberClass=GOV&memberCode=70000005&subsystemCode=passport-service&serviceCode=passportDataByPSN&version=v1'
  curl -s -H 'Content-Type: text/xml' --data-binary @$RUN/clerk-request.xml http://127.0.0.1:8080/
  open $VURL   (the certificate's public verification page)
Logs: tail -f $RUN/*.log
EOF
if [ $ONCE -eq 1 ]; then
	[ $fail -eq 0 ]
	exit $?
fi
echo "Press Ctrl-C to stop."
while :; do sleep 3600 & wait $!; done
