#!/bin/bash
# check.sh - the whole test suite, as CI runs it (.ci/run calls exactly this).
#   1. installs missing Debian packages (ops/deps.sh)
#   2. builds three flavours, warnings as errors: gcc, clang, gcc+ASan+UBSan
#   3. unit tests (cmocka) and fuzz-corpus replays under ASan+UBSan (ctest)
#   4. integration scenarios with real gateway processes (ASan build),
#      real TLS, curl and python3-zeep as clients
#   5. service descriptions validated (wsdl/validate.sh)
#   6. benchmark smoke: ops/bench/run.sh --short (2 s of load per system through
#      the release build: the benchmark and its report work; no target enforced)
# Options: --quick (skip the gcc/clang release builds), --unit, --integration
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
quick=0; only=""
for a in "$@"; do
	case "$a" in
	--quick) quick=1 ;;
	--unit) only=unit ;;
	--integration) only=integration ;;
	*) echo "check: unknown option $a" >&2; exit 2 ;;
	esac
done
t0=$(date +%s)
step() { echo; echo "==== $* ($(( $(date +%s) - t0 ))s)"; }

step "dependencies"
ops/deps.sh
if [ $quick -eq 0 ]; then
	step "build: gcc"; ops/build.sh release
	step "build: clang"; ops/build.sh clang
fi
step "build: gcc + ASan + UBSan"; ops/build.sh asan

if [ "$only" != integration ]; then
	step "unit tests and fuzz-corpus replays (ASan+UBSan)"
	(cd build/asan && ctest --output-on-failure -j2 --timeout 300)
fi
if [ "$only" != unit ]; then
	step "integration scenarios (ASan+UBSan gateways)"
	AILGATE_BIN=$ROOT/build/asan/ailgate /usr/bin/python3 tests/integration/run.py
	step "service descriptions (xmllint, OpenAPI validator from npm, zeep)"
	if [ ! -d build/oav/node_modules/@apidevtools/swagger-parser ] && command -v npm >/dev/null; then
		npm install --silent --no-audit --no-fund --prefix build/oav @apidevtools/swagger-parser >/dev/null 2>&1 ||
			echo "check: npm could not install the OpenAPI validator; that step will be skipped" >&2
	fi
	OAV_DIR=$ROOT/build/oav wsdl/validate.sh
	/usr/bin/python3 tests/integration/zeep_wsdl_check.py >/dev/null
fi
if [ -z "$only" ] && [ $quick -eq 0 ]; then
	step "benchmark smoke (ops/bench/run.sh --short)"
	ops/bench/run.sh --short --no-build >build/bench-short.log 2>&1 ||
		{ tail -30 build/bench-short.log; echo "check: the benchmark smoke run failed" >&2; exit 1; }
	grep -E "^\| ailgate: |^- where an exchange" build/bench-short.log | cut -c1-240
fi
step "all checks passed"
