#!/bin/sh
# Validates the service descriptions in this folder (see README.md):
#   1. every WSDL and example is well-formed XML (xmllint --noout);
#   2. every inline schema of every WSDL is cut out and compiled by
#      xmllint --schema, validating the examples that belong to it
#      (request/response bodies, X-Road header elements);
#   3. every OpenAPI document, with check-openapi.js, if the npm validator is
#      installed in $OAV_DIR (default /tmp/oav); otherwise that step is
#      skipped with a message. Installing it is the ops scripts' job:
#        npm install --prefix /tmp/oav @apidevtools/swagger-parser
# Exits non-zero if anything fails. Needs xmllint (libxml2-utils).
set -u

here=$(cd "$(dirname "$0")" && pwd)
OAV_DIR=${OAV_DIR:-/tmp/oav}
tmp=$(mktemp -d /tmp/wsdl-validate.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

XSD=http://www.w3.org/2001/XMLSchema
IDS=http://x-road.eu/xsd/identifiers
XRD=http://x-road.eu/xsd/xroad.xsd

# extract WSDL NAMESPACE OUT: the inline xsd:schema with that targetNamespace.
# Each schema declares its own prefixes, so it stands alone once cut out.
extract() {
	xmllint --xpath "//*[local-name()='schema' and namespace-uri()='$XSD' and @targetNamespace='$2']" \
		"$1" > "$3" 2>/dev/null && [ -s "$3" ]
}

# validate SCHEMA FILE: xmllint exits 0 only if the schema compiles and FILE fits.
validate() {
	if xmllint --noout --schema "$1" "$2" 2>"$tmp/err"; then
		ok
	else
		bad "$2 against $(basename "$1"): $(cat "$tmp/err")"
	fi
}

for f in "$here"/*.wsdl "$here"/examples/*.xml; do
	if xmllint --noout "$f"; then ok; else bad "$f is not well-formed"; fi
done

for w in "$here"/*.wsdl; do
	name=$(basename "$w" .wsdl)
	tns=$(xmllint --xpath "string(/*/@targetNamespace)" "$w")
	if ! extract "$w" "$IDS" "$tmp/$name.ids.xsd" || ! extract "$w" "$XRD" "$tmp/$name.xrd.xsd" ||
	   ! extract "$w" "$tns" "$tmp/$name.body.xsd"; then
		bad "$w: missing an inline schema (identifiers, xroad.xsd or $tns)"
		continue
	fi
	# The header schema imports the identifiers by namespace only (it is
	# inline in the WSDL); give the cut-out copy a location.
	sed -i "s|<xsd:import namespace=\"$IDS\"/>|<xsd:import namespace=\"$IDS\" schemaLocation=\"$name.ids.xsd\"/>|" \
		"$tmp/$name.xrd.xsd"
	validate "$tmp/$name.xrd.xsd" "$here/examples/xroad-client.xml"
	validate "$tmp/$name.xrd.xsd" "$here/examples/xroad-service.xml"
	n=0
	for ex in "$here"/examples/*.xml; do
		[ "$(xmllint --xpath "namespace-uri(/*)" "$ex" 2>/dev/null)" = "$tns" ] || continue
		validate "$tmp/$name.body.xsd" "$ex"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || bad "$w: no example in examples/ for namespace $tns"
	echo "$name.wsdl: 3 inline schemas compiled, $n body examples validated"
done

if [ -f "$OAV_DIR/node_modules/@apidevtools/swagger-parser/package.json" ] && command -v node >/dev/null; then
	if NODE_PATH="$OAV_DIR/node_modules" node "$here/check-openapi.js" "$here"/*.openapi.json; then
		ok
	else
		bad "OpenAPI validation"
	fi
else
	echo "SKIP: OpenAPI validation (no @apidevtools/swagger-parser in $OAV_DIR; install with" \
	     "npm install --prefix $OAV_DIR @apidevtools/swagger-parser)"
fi

echo "wsdl: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
