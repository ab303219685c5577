#!/bin/bash
# build.sh - configure and build one flavour into build/<flavour>.
#   ops/build.sh [release|asan|clang] 
#   release: gcc, RelWithDebInfo (what the demo runs)
#   asan:    gcc with AddressSanitizer + UBSan (what the tests run)
#   clang:   clang, RelWithDebInfo (a second compiler, warnings as errors)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
release) args=(-DCMAKE_C_COMPILER=gcc) ;;
asan)    args=(-DCMAKE_C_COMPILER=gcc -DAILGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
clang)   args=(-DCMAKE_C_COMPILER=clang) ;;
*) echo "build: unknown flavour '$flavour' (release, asan, clang)" >&2; exit 2 ;;
esac
dir=$ROOT/build/$flavour
cmake -S "$ROOT" -B "$dir" "${args[@]}" >/dev/null
if ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
	grep -vE '^\[ *[0-9]+%\]' "$dir/build.log" | tail -60 >&2
	echo "build: $flavour build failed (full log: $dir/build.log)" >&2
	exit 1
fi
test -x "$dir/ailgate"
