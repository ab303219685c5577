#!/bin/bash
# A throw-away PostgreSQL server for tests: its own cluster in DIR, reached
# over a Unix socket in DIR only (listen_addresses = '': no TCP at all).
#
#   pg_server.sh start DIR   initdb + start; writes DIR/dsn (a postgresql://
#                            URI for libpq) and prints it; exit 0 when it
#                            answers, 1 otherwise (DIR/server.log says why)
#   pg_server.sh stop DIR    stops it (fast shutdown) and removes DIR
#   pg_server.sh crash DIR   kill -9 of the postmaster (a crash: the next start recovers)
#   pg_server.sh restart DIR start it again on the same data (after stop-only or crash)
#
# Needs the postgresql-15 package (ops/deps.sh); initdb refuses root, so as
# root the cluster belongs to the postgres user. Exit 77 (skip) when no
# PostgreSQL server is installed.
set -u
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|crash|restart DIR" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 77; }

as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_server() {
	local port
	port=$(cat "$dir/port")
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses='' -k $dir -p $port -c fsync=on -c synchronous_commit=on" start >/dev/null ||
		{ echo "PostgreSQL did not start; see $dir/server.log" >&2; tail -5 "$dir/server.log" >&2; return 1; }
	echo "postgresql:///postgres?host=$dir&port=$port&user=postgres" >"$dir/dsn"
	cat "$dir/dsn"
}

case "$cmd" in
start)
	mkdir -p "$dir" || exit 1
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	# A port number for the socket's name only (no TCP): free among sockets here.
	echo $((20000 + RANDOM % 20000)) >"$dir/port"
	as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		{ echo "initdb failed; see $dir/initdb.log" >&2; exit 1; }
	start_server || exit 1
	;;
restart)
	start_server || exit 1
	;;
crash)
	pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -9 "$pid"
	# its children go with it once they see the postmaster gone
	for _ in $(seq 100); do pgrep -f -- "-D $dir/data" >/dev/null || break; sleep 0.1; done
	pkill -9 -f -- "$dir/data" 2>/dev/null
	# What a crash leaves: the postmaster's lock files (a killed postmaster
	# may stay a zombie for a while, and then looks alive to the next start).
	rm -f "$dir/data/postmaster.pid" "$dir"/.s.PGSQL.*
	;;
stop)
	[ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start|stop|crash|restart DIR" >&2; exit 2
	;;
esac
