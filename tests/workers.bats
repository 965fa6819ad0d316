#!/usr/bin/env bats
# stp-serve --workers N: worker processes on SO_REUSEPORT listeners, their
# supervisor (stop, reload, restart), --stats summed over the workers, and
# the option's usage errors.

bats_require_minimum_version 1.5.0
load lib/common

setup() {
	stp_setup
	command -v ss >/dev/null || skip "ss (iproute2) is not installed"
}

# workers_of PID: the PIDs of PID's children, one per line, sorted.
workers_of() {
	ps -o pid= --ppid "$1" | tr -d ' ' | sort -n
}

# wait_workers PID N: polls until PID has N children; prints them.
wait_workers() {
	local deadline w
	deadline=$(_deadline 10)
	while :; do
		w=$(workers_of "$1")
		if [ "$(printf '%s\n' "$w" | grep -c .)" -eq "$2" ]; then
			printf '%s\n' "$w"
			return 0
		fi
		_past "$deadline" && { echo "wait_workers: $1 has children: $w" >&2; return 1; }
		sleep 0.05
	done
}

# fetch_many N: N sequential fetches through the proxy (each a new
# connection); prints how many got the file.
fetch_many() {
	local i ok=0
	for ((i = 0; i < $1; i++)); do
		if curl -s --max-time $((10 * STP_SLOW)) --socks5-hostname "127.0.0.1:$STP_PORT" \
			-o /dev/null "http://127.0.0.1:$HTTP_PORT/hello.txt"; then
			ok=$((ok + 1))
		fi
	done
	echo "$ok"
}

# serving_pids N: opens N connections to the proxy, each greeted (method
# "no authentication", answered by the worker that accepted it), and while
# they are open prints the distinct PIDs that hold the server's ends.
serving_pids() {
	local i fds=() fd reply
	for ((i = 0; i < $1; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$STP_PORT"
		fds+=("$fd")
		printf '\005\001\000' >&"$fd"
		reply=$(timeout $((5 * STP_SLOW)) head -c 2 <&"$fd" | od -An -tx1 | tr -d ' \n')
		[ "$reply" = 0500 ] || echo "serving_pids: greeting reply '$reply'" >&2
	done
	ss -tnpH state established "( sport = :$STP_PORT )" |
		grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -nu
	for fd in "${fds[@]}"; do
		exec {fd}>&-
	done
}

@test "--workers 2: 200 connections all served, by both workers" {
	start_http
	start_stp_serve --workers 2
	local workers pids
	workers=$(wait_workers "$STP_SERVE_PID" 2)
	run fetch_many 200
	assert_equal "$output" 200
	pids=$(serving_pids 24)
	# the kernel spreads connections over both workers' sockets: with 24
	# connections all on one is a chance of 2^-23
	assert_equal "$pids" "$workers"
	# one session line per connection, in the usual format
	[ "$(grep -c '^[-0-9T:.Z]* stp-serve: session client=127.0.0.1:[0-9]* user=- cmd=connect .* result="ok"$' "$STP_LOG")" -eq 200 ]
}

@test "--workers 2: SIGTERM stops the workers and the supervisor, exit 0" {
	start_http
	start_stp_serve --workers 2
	local workers w
	workers=$(wait_workers "$STP_SERVE_PID" 2)
	stp_serve_alive
	stop_bg stp-serve TERM
	assert_equal "$BG_STATUS" 0
	for w in $workers; do
		! kill -0 "$w" 2>/dev/null
	done
	[ "$(grep -c 'Terminated: stopped accepting' "$STP_LOG")" -eq 2 ]
	! grep -q 'exited with status\|killed by signal' "$STP_LOG"
	# nothing listens there any more
	! (exec 3<>"/dev/tcp/127.0.0.1/$STP_PORT") 2>/dev/null
}

@test "--workers 2: SIGHUP reloads every worker" {
	start_http
	echo '{}' >"$T/cfg.json"
	start_stp_serve --workers 2 -c "$T/cfg.json"
	wait_workers "$STP_SERVE_PID" 2 >/dev/null
	run fetch_many 10
	assert_equal "$output" 10
	printf '{"rules": [{"action": "deny", "ports": "%s"}, {"action": "allow"}]}\n' \
		"$HTTP_PORT" >"$T/cfg.json"
	kill -HUP "$STP_SERVE_PID"
	local deadline
	deadline=$(_deadline 10)
	until [ "$(grep -c 'SIGHUP: reloaded' "$STP_LOG")" -eq 2 ]; do
		_past "$deadline" && { cat "$STP_LOG" >&2; false; }
		sleep 0.05
	done
	# every connection is denied, whichever worker takes it
	run fetch_many 30
	assert_equal "$output" 0
	[ "$(grep -c '^stp-serve: rule 1 denies connect from 127.0.0.1' "$STP_LOG")" -eq 30 ]
	kill -0 "$STP_SERVE_PID"
}

@test "--workers 2: a worker killed with SIGKILL is started again" {
	start_http
	start_stp_serve --workers 2
	local workers victim after
	workers=$(wait_workers "$STP_SERVE_PID" 2)
	victim=$(printf '%s\n' "$workers" | head -n 1)
	kill -KILL "$victim"
	wait_for_line "$STP_LOG" "^stp-serve: worker $victim killed by signal 9 .*: starting another\$" >/dev/null
	local deadline
	deadline=$(_deadline 10)
	while :; do
		after=$(workers_of "$STP_SERVE_PID")
		if [ "$(printf '%s\n' "$after" | grep -c .)" -eq 2 ] &&
			! printf '%s\n' "$after" | grep -qx "$victim"; then
			break
		fi
		_past "$deadline" && { echo "workers now: $after" >&2; false; }
		sleep 0.05
	done
	run fetch_many 40
	assert_equal "$output" 40
	# the new worker accepts too
	assert_equal "$(serving_pids 24)" "$after"
}

@test "--workers 2: --stats sums the sessions of both workers" {
	start_http
	start_stp_serve --workers 2 --max-sessions 5 --stats 127.0.0.1:0
	local line sport deadline v
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$')
	sport=$(echo "$line" | cut -d' ' -f3)
	wait_workers "$STP_SERVE_PID" 2 >/dev/null
	run fetch_many 40
	assert_equal "$output" 40
	deadline=$(_deadline 10)
	while :; do
		curl -sS --max-time $((10 * STP_SLOW)) -o "$T/metrics" "http://127.0.0.1:$sport/metrics"
		v=$(awk '$1 == "stp_sessions_total{command=\"connect\",result=\"ok\"}" { print $2 }' "$T/metrics")
		[ "$v" = 40 ] && break
		_past "$deadline" && { cat "$T/metrics" >&2; false; }
		sleep 0.1
	done
	# each worker serves at most 3 (5 split in two, rounded up)
	assert_equal "$(awk '$1 == "stp_max_sessions" { print $2 }' "$T/metrics")" 6
	assert_equal "$(awk '$1 == "stp_handshake_seconds_count" { print $2 }' "$T/metrics")" 40
}

@test "--workers: 0, 65 and --inetd are usage errors; auto starts" {
	run -2 --separate-stderr stp-serve --workers 0
	assert_match "$stderr" "^stp-serve: --workers: 0 is out of range 1\\.\\.64"
	run -2 --separate-stderr stp-serve --workers 65
	assert_match "$stderr" "^stp-serve: --workers: 65 is out of range 1\\.\\.64"
	run -2 --separate-stderr stp-serve --workers many
	assert_match "$stderr" "^stp-serve: --workers: not a number: 'many'"
	run -2 --separate-stderr stp-serve --workers 2 --inetd
	assert_match "$stderr" "^stp-serve: --workers is for listeners, not --inetd"
	start_http
	start_stp_serve --workers auto
	local n
	n=$(nproc)
	[ "$n" -le 64 ] || n=64
	[ "$n" -gt 1 ] || n=0  # one worker: no supervisor, no child
	wait_workers "$STP_SERVE_PID" "$n" >/dev/null
	stp_serve_alive
}
