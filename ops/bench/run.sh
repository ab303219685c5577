#!/bin/bash
# run.sh - benchmark a SOAP request crossing two gateways (municipality client
# port -> state gateway over mutual TLS -> population adapter) against a
# mutual-TLS nginx reverse-proxy pair returning a static answer of the same
# size, on this machine over loopback. Prints the figures and (full mode)
# rewrites ops/bench/RESULTS.md. See ops/bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/ops/bench
PY=/usr/bin/python3
BIN=${AILGATE_BENCH_BIN:-$ROOT/build/release/ailgate}   # another binary: A/B runs of a change
ARGS="$*"

usage() {
	cat <<'EOF'
Usage: ops/bench/run.sh [options]

  --short            CI smoke: 2 s per system, workers 1 only, no profile, and
                     RESULTS.md is left alone (options after --short override it)
  --duration S       seconds of load per system (default 10)
  --connections N    wrk connections (default 32)
  --threads N        wrk threads (default 2)
  --workers "1 2"    gateway workers = nginx worker_processes, one comparison
                     each (default "1 2"; the first is the headline figure)
  --no-profile       skip the profile (perf if it can sample, and callgrind)
  --no-single        skip the comparison runs: one signature per message
                     ([signing] batch_max = 1, what batch signatures save), no
                     message log ([msglog] enabled = off, what logging costs),
                     the message log on tmpfs (/dev/shm: what this disk's
                     flushes cost) and 128 connections (what the CPU allows
                     when the 32 connections' round trips are not the limit)
  --no-floor         skip the bare-library pair (ops/bench/floor.c: evhttp in,
                     libcurl multi out over mutual TLS, a static answer; what the
                     gateway's own libraries reach with no gateway work at all)
  --rounds N         N alternating gateway/nginx pairs at the first workers
                     value (default 3; 1 with --short): the host's speed changes
                     within minutes, so the report gives every round and medians
  --results FILE     where to write the report (default ops/bench/RESULTS.md)
  --no-results       print only
  --port-base N      ports N+80.. (client), N+500.. (peer), N+90/N+590 (nginx),
                     N+92/N+592 (the bare-library pair)
                     (default 27000; below the ephemeral range, so no client socket can hold one)
  --check            exit 3 if a target (ratio, signed exchanges/s and p99, RSS,
                     start-up) is missed
  --keep             keep the work directory (logs, configurations, profiles)
  --no-build         use build/release/ailgate as it is
Everything started is stopped on exit; the whole run is capped at 15 minutes.
EOF
}

# A hard cap on the whole run, whatever hangs: timeout sends TERM, the trap
# below stops everything that was started.
if [ -z "${AILGATE_BENCH_CAPPED:-}" ]; then
	export AILGATE_BENCH_CAPPED=1
	exec timeout --foreground -k 20 900 "$0" "$@"
fi

DURATION=10 CONNS=32 THREADS=2 WORKERS="1 2" PROFILE=1 RESULTS=$BENCH/RESULTS.md
BASE=27000 KEEP=0 CHECK=0 MODE=full BUILD=1 SINGLE=1 ROUNDS=3 FLOOR_RUN=1
while [ $# -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--short) MODE=short DURATION=2 WORKERS=1 PROFILE=0 RESULTS="" SINGLE=0 ROUNDS=1; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--no-single) SINGLE=0; shift ;;
	--no-floor) FLOOR_RUN=0; shift ;;
	--duration) DURATION=$2; shift 2 ;;
	--connections) CONNS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--no-profile) PROFILE=0; shift ;;
	--results) RESULTS=$(realpath -m "$2"); shift 2 ;;
	--no-results) RESULTS=""; shift ;;
	--port-base) BASE=$2; shift 2 ;;
	--check) CHECK=1; shift ;;
	--keep) KEEP=1; shift ;;
	--no-build) BUILD=0; shift ;;
	*) echo "bench: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done

case "$ROUNDS" in [1-9] | 1[0-9] | 20) ;; *) echo "bench: --rounds takes 1 to 20" >&2; exit 2 ;; esac
W1=${WORKERS%% *}          # the headline run's workers (rounds, comparison runs)

C_PORT=$((BASE + 80))      # municipality client port (state +1)
S_PORT=$((BASE + 500))     # municipality peer port (state +1)
TLS_PORT=$((BASE + 443))
NGX_A=$((BASE + 90))
NGX_B=$((BASE + 590))
FLOOR_A=$((BASE + 92))     # the bare-library relay pair (ops/bench/floor.c)
FLOOR_B=$((BASE + 592))
FLOOR=$ROOT/build/release/benchfloor

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ---- processes: everything started is stopped on exit --------------------
PIDS=()
TRUST_PIDS=()
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.1; done
	if alive "$pid"; then
		log "pid $pid ignored SIGTERM for 15 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
stop_all() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
	PIDS=()
}
W="" SHM=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	PIDS=("${TRUST_PIDS[@]+"${TRUST_PIDS[@]}"}")
	stop_all
	if [ -n "$W" ]; then
		if [ "$KEEP" = 1 ]; then log "work directory kept: $W"; else rm -rf "$W"; fi
	fi
	[ -n "$SHM" ] && rm -rf "$SHM"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jget() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

port_free() {
	"$PY" -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# ---- tools and build ---------------------------------------------------------
W=$(mktemp -d /tmp/ailgate-bench.XXXXXX)
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
	"$ROOT/ops/deps.sh" --bench
fi
command -v wrk >/dev/null && command -v nginx >/dev/null || die "wrk and nginx are needed (ops/deps.sh --bench)"
if [ "$BUILD" = 1 ]; then
	# The whole tree (unit tests included) may be mid-change; the benchmark
	# needs only the daemon, so fall back to building that target alone.
	"$ROOT/ops/build.sh" release 2>"$W/build.err" || {
		log "ops/build.sh release failed (tail of the error below); building only the ailgate target"
		tail -3 "$W/build.err" >&2
		cmake --build "$ROOT/build/release" --target ailgate benchfloor -j"$(nproc)" >/dev/null ||
			die "cannot build build/release/ailgate"
	}
fi
[ -x "$BIN" ] || die "no $BIN (ops/build.sh release)"
[ "$FLOOR_RUN" = 0 ] || [ -x "$FLOOR" ] || die "no $FLOOR (ops/build.sh release)"
for p in $C_PORT $((C_PORT + 1)) $((C_PORT + 2)) $S_PORT $((S_PORT + 1)) $((S_PORT + 2)) \
	$TLS_PORT $NGX_A $NGX_B $FLOOR_A $FLOOR_B; do
	port_free "$p" || die "port $p is in use (choose another --port-base)"
done

OUT=$W/out
mkdir -p "$OUT"
"$PY" "$BENCH/bench.py" meta "$OUT/meta.json" "command=ops/bench/run.sh${ARGS:+ $ARGS}" \
	"mode=$MODE" "duration=$DURATION" "threads=$THREADS" "connections=$CONNS"
log "work directory $W; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

"$ROOT/ops/mkexchange.sh" "$W/ex" --client-base "$C_PORT" --server-base "$S_PORT" \
	--tls-port "$TLS_PORT" --workers 1 >/dev/null
PKI=$W/ex/pki
# The trust services the exchange's global configuration approves: the TSA
# (batch time stamps of the message log) and the OCSP responders.
"$PY" "$ROOT/tests/integration/tsa_server.py" --tsa-dir "$PKI/tsa" --port $((S_PORT + 20)) \
	>"$W/tsa.log" 2>&1 &
TRUST_PIDS+=($!)
for ca in auth sign; do
	"$PY" "$ROOT/tests/integration/ocsp_responder.py" serve "$PKI" --ca $ca \
		--port $((S_PORT + $([ $ca = auth ] && echo 21 || echo 22))) >"$W/ocsp-$ca.log" 2>&1 &
	TRUST_PIDS+=($!)
done
"$PY" "$BENCH/bench.py" body "$W/request.xml"
for w in $WORKERS; do
	for gw in state municipality; do
		sed "s/^workers = .*/workers = $w/" "$W/ex/$gw.ini" >"$W/ex/$gw-w$w.ini"
	done
done
# The comparison runs are made from the headline configuration (the first
# --workers value): variant NAME SECTION LINE adds LINE under [SECTION], with
# @GW@ in LINE standing for the gateway's name.
variant() {
	local gw line
	for gw in state municipality; do
		line=${3//@GW@/$gw}
		sed "s|^\[$2\]\$|[$2]\n$line|" "$W/ex/$gw-w$W1.ini" >"$W/ex/$gw-$1.ini"
		grep -qxF "$line" "$W/ex/$gw-$1.ini" || die "no [$2] section in $gw.ini"
	done
}
variant single signing 'batch_max = 1'   # one signature per message (batch signatures off)
variant nolog msglog 'enabled = off'     # no message log (development only): what logging costs
# The message log in memory (tmpfs: its fsyncs return at once): against the
# headline run, what the durable commits on this machine's disk cost.
if [ "$SINGLE" = 1 ] && [ -d /dev/shm ]; then
	SHM=$(mktemp -d /dev/shm/ailgate-bench.XXXXXX)
	variant shm msglog "path = $SHM/@GW@-msglog.db"
fi

# ---- gateways ---------------------------------------------------------------
# start_gw NAME INI PORT DIR [PREFIX...]: starts a gateway through bench.py
# (which measures exec -> /health 200 and stays its parent); sets GW_PID.
start_gw() {
	local name=$1 ini=$2 port=$3 dir=$4 wrapper i
	shift 4
	rm -f "$dir/start-$name.json"
	"$PY" "$BENCH/bench.py" start --port "$port" --log "$dir/$name.log" \
		--ready-out "$dir/start-$name.json" --timeout 120 -- "$@" "$BIN" serve --config "$ini" &
	wrapper=$!
	PIDS+=("$wrapper")
	for ((i = 0; i < 1300; i++)); do
		[ -s "$dir/start-$name.json" ] && break
		alive "$wrapper" || die "gateway $name did not start: $(tail -5 "$dir/$name.log" 2>/dev/null)"
		sleep 0.1
	done
	[ -s "$dir/start-$name.json" ] || die "gateway $name not ready in time"
	GW_PID=$(jget "$dir/start-$name.json" pid)
	PIDS+=("$GW_PID")
}

# post URL OUTFILE: one SOAP request (with a message id of its own: the
# gateways refuse a repeated one); prints the HTTP status.
post() {
	sed "s/00000000-0000-4000-8000-000000000000/$(cat /proc/sys/kernel/random/uuid)/" \
		"$W/request.xml" >"$W/request-once.xml"
	curl -s -o "$2" -w '%{http_code}' --max-time 10 -X POST \
		-H 'Content-Type: text/xml; charset=utf-8' --data-binary "@$W/request-once.xml" "$1"
}

run_wrk() {   # URL JSON SECONDS
	BODY_FILE=$W/request.xml WRK_JSON=$2 timeout $(($3 + 30)) \
		wrk -t"$THREADS" -c"$CONNS" -d"$3"s --timeout 10s --latency -s "$BENCH/soap.lua" "$1"
}

# measure URL DIR PEER_PORT PIDS NAMES: warm-up, then wrk with the sampler
# (which also watches wrk itself and the machine as a whole).
measure() {
	local url=$1 dir=$2 peer=$3 pids=$4 names=$5 wp
	run_wrk "$url" "$dir/warmup.json" 1 >/dev/null
	for f in "$dir"/*.log; do [ -e "$f" ] && stat -c %s "$f" >"$f.offset"; done   # count only the run
	BODY_FILE=$W/request.xml WRK_JSON=$dir/wrk.json wrk -t"$THREADS" -c"$CONNS" -d"$DURATION"s \
		--timeout 10s --latency -s "$BENCH/soap.lua" "$url" >"$dir/wrk.txt" &
	wp=$!
	PIDS+=("$wp")
	"$PY" "$BENCH/bench.py" sample --pids "$pids,$wp" --names "$names,wrk" \
		--seconds "$DURATION" --peer-port "$peer" --out "$dir/sample.json" || die "sampler failed"
	wait "$wp" || die "wrk failed: $(tail -5 "$dir/wrk.txt")"
	cat "$dir/wrk.txt"
	[ -s "$dir/wrk.json" ] || die "wrk wrote no summary ($dir/wrk.txt)"
}

bench_gateways() {   # WORKERS [INI-SUFFIX OUT-DIR]
	local w=$1 sfx=${2:-w$1} d=${3:-$OUT/run-w$1/gateway} st mu code
	mkdir -p "$d"
	echo "$w" >"$d/workers"
	log "gateways, workers=$w ($sfx): starting"
	start_gw state "$W/ex/state-$sfx.ini" $((C_PORT + 1)) "$d"; st=$GW_PID
	start_gw municipality "$W/ex/municipality-$sfx.ini" "$C_PORT" "$d"; mu=$GW_PID
	code=$(post "http://127.0.0.1:$C_PORT/" "$W/response.xml")
	[ "$code" = 200 ] && grep -q passportDataByPSNResponse "$W/response.xml" ||
		die "the SOAP request failed before the run: HTTP $code: $(head -c 400 "$W/response.xml")"
	printf '{"request_bytes": %d, "response_bytes": %d}\n' "$(stat -c %s "$W/request.xml")" \
		"$(stat -c %s "$W/response.xml")" >"$OUT/sizes.json"
	log "gateways, workers=$w: wrk ${DURATION}s"
	measure "http://127.0.0.1:$C_PORT/" "$d" $((S_PORT + 1)) "$mu,$st" "municipality,state"
	# what the message log's commits cost meanwhile (/health, check msglog_commits)
	curl -s --max-time 5 "http://127.0.0.1:$C_PORT/health" >"$d/health-municipality.json" || true
	curl -s --max-time 5 "http://127.0.0.1:$((C_PORT + 1))/health" >"$d/health-state.json" || true
	"$PY" "$BENCH/bench.py" logcheck --log "$d/municipality.log" \
		--from "$(cat "$d/municipality.log.offset")" >"$d/log.json"
	# where an exchange's time went, from the request log lines' phase fields
	"$PY" "$BENCH/bench.py" phases --log "$d/municipality.log" --side client \
		--from "$(cat "$d/municipality.log.offset")" >"$d/phases-municipality.json"
	"$PY" "$BENCH/bench.py" phases --log "$d/state.log" --side server \
		--from "$(cat "$d/state.log.offset")" >"$d/phases-state.json"
	stop_all
}

# ---- nginx baseline ---------------------------------------------------------------
start_nginx() {   # NAME TEMPLATE PORT WORKERS; sets NGX_PID
	local name=$1 p=$W/nginx-$1 i
	mkdir -p "$p/tmp"
	"$PY" "$BENCH/bench.py" nginx-conf "$BENCH/nginx/$2" "$p/nginx.conf" "PREFIX=$p" \
		"PORT=$3" "PEER_PORT=$NGX_B" "PKI=$PKI" "WORKERS=$4" \
		"REPLY=$("$PY" "$BENCH/bench.py" reply-conf "$W/response.xml")"
	nginx -t -q -p "$p/" -e "$p/error.log" -c "$p/nginx.conf" || die "nginx $name: bad configuration"
	nginx -p "$p/" -e "$p/error.log" -c "$p/nginx.conf" &
	NGX_PID=$!
	PIDS+=("$NGX_PID")
	for ((i = 0; i < 100; i++)); do
		[ "$(pgrep -c -P "$NGX_PID" 2>/dev/null || true)" -ge "$4" ] && ! port_free "$3" && return 0
		alive "$NGX_PID" || die "nginx $name exited: $(tail -5 "$p/error.log")"
		sleep 0.1
	done
	die "nginx $name not up in 10 s"
}

bench_nginx() {   # WORKERS [OUT-DIR]
	local w=$1 d=${2:-$OUT/run-w$1/nginx} a b pids names code n
	mkdir -p "$d"
	log "nginx pair, worker_processes=$w: starting"
	start_nginx b back.conf.in "$NGX_B" "$w"; b=$NGX_PID
	start_nginx a front.conf.in "$NGX_A" "$w"; a=$NGX_PID
	code=$(post "http://127.0.0.1:$NGX_A/" "$W/nginx-response.xml")
	[ "$code" = 200 ] || die "nginx pair answered HTTP $code: $(tail -3 "$W"/nginx-*/error.log)"
	[ "$(stat -c %s "$W/nginx-response.xml")" = "$(stat -c %s "$W/response.xml")" ] ||
		die "nginx's static answer is not the size of the gateway's"
	pids="" names=""
	for role in a b; do
		local master=$a
		[ $role = b ] && master=$b
		pids+="$master," names+="nginx-$role-master,"
		n=0
		for c in $(pgrep -P "$master"); do
			n=$((n + 1)); pids+="$c,"; names+="nginx-$role-worker$n,"
		done
	done
	log "nginx pair, worker_processes=$w: wrk ${DURATION}s"
	measure "http://127.0.0.1:$NGX_A/" "$d" "$NGX_B" "${pids%,}" "${names%,}"
	stop_all
}

# ---- the bare libraries: ops/bench/floor.c ------------------------------------
# The nginx pair's path built from the gateway's own libraries and nothing else
# (evhttp in, libcurl multi out over mutual TLS, a static answer): what any
# gateway on libevent + libcurl + OpenSSL can reach here at most.
bench_floor() {   # OUT-DIR
	local d=$1 a b code i
	mkdir -p "$d"
	log "bare-library pair (benchfloor): starting"
	"$FLOOR" back "$FLOOR_B" "$PKI/gw/state/auth-fullchain.pem" "$PKI/gw/state/auth.key" \
		"$PKI/ca/auth-chain.pem" "$W/response.xml" 2>"$d/back.err" &
	b=$!; PIDS+=("$b")
	"$FLOOR" front "$FLOOR_A" "https://127.0.0.1:$FLOOR_B/" "$PKI/gw/municipality/auth-fullchain.pem" \
		"$PKI/gw/municipality/auth.key" "$PKI/ca/trust.pem" 2>"$d/front.err" &
	a=$!; PIDS+=("$a")
	for ((i = 0; i < 100; i++)); do
		! port_free "$FLOOR_A" && ! port_free "$FLOOR_B" && break
		alive "$a" && alive "$b" || die "benchfloor exited: $(cat "$d"/*.err)"
		sleep 0.1
	done
	code=$(post "http://127.0.0.1:$FLOOR_A/" "$W/floor-response.xml")
	[ "$code" = 200 ] && cmp -s "$W/floor-response.xml" "$W/response.xml" ||
		die "the bare-library pair answered HTTP $code, not the gateway's bytes: $(cat "$d"/*.err)"
	log "bare-library pair: wrk ${DURATION}s"
	measure "http://127.0.0.1:$FLOOR_A/" "$d" "$FLOOR_B" "$a,$b" "floor-front,floor-back"
	stop_all
}

for w in $WORKERS; do
	bench_gateways "$w"
	bench_nginx "$w"
	if [ "$w" = "$W1" ] && [ "$FLOOR_RUN" = 1 ]; then bench_floor "$OUT/run-w$w/floor"; fi
done
if [ "$SINGLE" = 1 ]; then
	bench_gateways "$W1" single "$OUT/single/gateway"
	bench_gateways "$W1" nolog "$OUT/nolog/gateway"
	[ -n "$SHM" ] && bench_gateways "$W1" shm "$OUT/shm/gateway"
	# The same gateways under 128 connections: if the 32 connections' round
	# trips were all that held them back, this is what the CPU allows.
	conns=$CONNS CONNS=128
	bench_gateways "$W1" "w$W1" "$OUT/c128/gateway"
	CONNS=$conns
fi
# More rounds of the headline pair (round 1 is the run above).
w1=$W1
for ((r = 2; r <= ROUNDS; r++)); do
	log "round $r of $ROUNDS"
	bench_gateways "$w1" "w$w1" "$OUT/rounds/r$r/gateway"
	bench_nginx "$w1" "$OUT/rounds/r$r/nginx"
	if [ "$FLOOR_RUN" = 1 ]; then bench_floor "$OUT/rounds/r$r/floor"; fi
done

# ---- start-up series ---------------------------------------------------------
log "start-up: 5 cold starts of each gateway"
for gw in state municipality; do
	port=$C_PORT
	[ $gw = state ] && port=$((C_PORT + 1))
	timeout 120 "$PY" "$BENCH/bench.py" startup-series --n 5 --port "$port" \
		--log "$W/series-$gw.log" -- "$BIN" serve --config "$W/ex/$gw.ini" >"$OUT/startup-$gw.json"
done
"$PY" -c 'import json,sys
json.dump({g: json.load(open(sys.argv[1] + "/startup-%s.json" % g)) for g in ("state", "municipality")},
          open(sys.argv[1] + "/startup-series.json", "w"))' "$OUT"

# ---- profile -------------------------------------------------------------------
# perf with the software cpu-clock event when the kernel lets it sample (no
# hardware counters are needed for that); callgrind always (exact instruction
# counts per function, a few hundred requests).
profile_perf() {
	local d=$W/prof-perf st mu wp gw
	mkdir -p "$d"
	if ! command -v perf >/dev/null || ! perf record -q -e cpu-clock -o "$d/probe.data" true >/dev/null 2>&1; then
		echo "perf cannot sample here; skipped." >"$d/skipped"
		return 0
	fi
	start_gw state "$W/ex/state.ini" $((C_PORT + 1)) "$d"; st=$GW_PID
	start_gw municipality "$W/ex/municipality.ini" "$C_PORT" "$d"; mu=$GW_PID
	run_wrk "http://127.0.0.1:$C_PORT/" "$d/warmup.json" 1 >/dev/null
	run_wrk "http://127.0.0.1:$C_PORT/" "$d/wrk.json" 6 >"$d/wrk.txt" &
	wp=$!
	PIDS+=("$wp")
	sleep 1
	timeout 30 perf record -q -e cpu-clock -F 999 -o "$d/perf.data" -p "$mu,$st" -- sleep 4 \
		>/dev/null 2>"$d/perf.err" || true
	wait "$wp" || true
	for t in /proc/"$mu"/task/*; do echo "${t##*/} municipality"; done >"$d/threads"
	for t in /proc/"$st"/task/*; do echo "${t##*/} state"; done >>"$d/threads"
	stop_all
	perf report -i "$d/perf.data" --no-children --sort pid,dso --stdio 2>/dev/null |
		grep '%' >"$d/dso.txt" || true
	perf report -i "$d/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null |
		grep '%' | head -40 >"$d/sym.txt" || true
}

profile_callgrind() {
	local d=$W/prof-cg gw
	mkdir -p "$d"
	if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
		echo "valgrind is not installed (apt-get install valgrind); skipped." >"$d/skipped"
		return 0
	fi
	for gw in state municipality; do
		local port=$C_PORT
		[ $gw = state ] && port=$((C_PORT + 1))
		start_gw $gw "$W/ex/$gw.ini" "$port" "$d" valgrind --tool=callgrind \
			--callgrind-out-file="$d/callgrind.$gw.out" --instr-atstart=no
		echo "$GW_PID" >"$d/pid.$gw"
	done
	# A few requests first (connections to the peer, caches), then count only
	# the measured requests, not start-up.
	timeout 300 "$PY" "$BENCH/bench.py" drive --port "$C_PORT" --body "$W/request.xml" \
		--n 8 --conc 4 >/dev/null
	for gw in state municipality; do
		timeout 60 callgrind_control -i on "$(cat "$d/pid.$gw")" >/dev/null 2>&1 ||
			log "callgrind_control failed for $gw"
	done
	timeout 600 "$PY" "$BENCH/bench.py" drive --port "$C_PORT" --body "$W/request.xml" \
		--n 300 --conc 4 >"$d/drive.json"
	stop_all
}

if [ "$PROFILE" = 1 ]; then
	log "profile: perf (if it can sample), then callgrind (300 requests)"
	profile_perf
	profile_callgrind
	"$PY" "$BENCH/bench.py" profile-md --work "$W" --out "$OUT/profile.md" ||
		log "could not summarise the profile"
fi

# ---- report ------------------------------------------------------------------------
stop_all
"$PY" "$BENCH/bench.py" logsize --data "$W/ex/data" --out "$OUT/logsize.json" ||
	log "could not measure the message log's size"
rc=0
"$PY" "$BENCH/bench.py" report --dir "$OUT" ${RESULTS:+--results "$RESULTS"} \
	--profile "$OUT/profile.md" || rc=$?
if [ "$rc" = 3 ]; then
	log "a target was missed (see above)"
	[ "$CHECK" = 1 ] && exit 3
elif [ "$rc" != 0 ]; then
	exit "$rc"
fi
exit 0
