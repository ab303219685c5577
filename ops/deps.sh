#!/bin/bash
# deps.sh - install the Debian 12 packages ailgate needs, if any are missing.
# Safe to run again: does nothing when everything is there.
#   ops/deps.sh            build + test dependencies
#   ops/deps.sh --bench    also the benchmark tools (wrk, nginx)
set -euo pipefail

PKGS=(
	# build
	gcc clang cmake make pkg-config
	libevent-dev libssl-dev openssl libxml2-dev libxmlsec1-dev libcurl4-openssl-dev
	libjansson-dev libinih-dev libsqlite3-dev libpq-dev libcmocka-dev libmimalloc-dev libzstd-dev
	# certificates: PDF (libharu), QR codes, a TTF font with Cyrillic and Kyrgyz letters
	libhpdf-dev libqrencode-dev fonts-dejavu-core
	# tests and demo: real clients and tools
	python3 python3-zeep python3-zstandard curl xmlsec1 libxml2-utils sqlite3 procps iproute2
	poppler-utils zbar-tools   # certificate tests: pdftotext, pdftoppm, zbarimg
	postgresql postgresql-client   # the message log on PostgreSQL: a throw-away server per test
)
BENCH=(wrk nginx-light)
[ "${1:-}" = "--bench" ] && PKGS+=("${BENCH[@]}")

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# npm (for the OpenAPI validator) may come from Debian or from a NodeSource
# install; only ask Debian for it when there is none at all.
if ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package starts a server on port 80; the benchmark runs its own.
if printf '%s\n' "${missing[@]}" | grep -q nginx; then
	(command -v systemctl >/dev/null && systemctl stop nginx 2>/dev/null) || true
	pkill -x nginx 2>/dev/null || true
fi
