#!/bin/bash
# fuzz.sh - long libFuzzer runs of the parsers' fuzz targets (tests/fuzz/).
#
#   ops/bench/fuzz.sh [--seconds S] [--jobs N] [TARGET...]
#
# Builds build/fuzz-lf with clang, -DAILGATE_FUZZ=ON (libFuzzer + ASan +
# UBSan), then runs each TARGET (default: every tests/fuzz/fuzz_*.c) for S
# seconds (default 300) on a copy of its seed corpus under
# build/fuzz-lf/corpus/TARGET, so new inputs libFuzzer finds stay out of the
# tree; a crash leaves its input in build/fuzz-lf/crash-TARGET-*. Every run
# is bounded (-max_total_time). The CI's short mode is the replay driver:
# ctest runs each target on its corpus plus seeded mutations (tests/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=300
JOBS=1
TARGETS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) TARGETS+=("$1"); shift ;;
	esac
done
if [ ${#TARGETS[@]} -eq 0 ]; then
	for f in "$ROOT"/tests/fuzz/fuzz_*.c; do TARGETS+=("$(basename "$f" .c)"); done
fi

B=$ROOT/build/fuzz-lf
CC=clang cmake -S "$ROOT" -B "$B" -DAILGATE_FUZZ=ON -DAILGATE_SANITIZE=ON -DAILGATE_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"$(nproc)" --target "${TARGETS[@]}" >/dev/null

fail=0
for t in "${TARGETS[@]}"; do
	corpus=$B/corpus/$t
	mkdir -p "$corpus"
	cp -n "$ROOT"/tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
	echo "fuzz: $t for ${SECS}s ($(ls "$corpus" | wc -l) inputs to start from)"
	if ! (cd "$B" && ASAN_OPTIONS=detect_leaks=1 ./"$t" -max_total_time="$SECS" -jobs="$JOBS" \
		-workers="$JOBS" -artifact_prefix="$B/crash-$t-" -print_final_stats=1 "$corpus" \
		>"$B/$t.log" 2>&1); then
		echo "fuzz: $t FAILED (see $B/$t.log and $B/crash-$t-*)"
		fail=1
	else
		grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$B/$t.log" | tr '\n' ' '
		echo
	fi
done
exit $fail
