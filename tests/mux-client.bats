#!/usr/bin/env bats
# stp-connect --mux PATH as a client of a mux master (SPEC §3.1): the master
# speaks plain SOCKS5 without authentication on a Unix socket (muxmaster.h),
# so here a socat relay from a Unix socket to a stp-serve stands in for it
# (a real peer that is not the master). Also --mux-fallback, the usage rules
# of --mux / --mux-fallback / --mux-master, and the refusals of the
# master's socket (stp_unix_listen) once the master exists.

bats_require_minimum_version 1.5.0
load lib/common

HELP_HINT="try 'stp-connect --help'"

# start_unix_relay: a socat on the Unix socket $MUX (mode 0600) relaying
# each connection to stp-serve at $STP_PORT; waits for the socket.
start_unix_relay() {
	MUX="$T/m.sock"
	start_bg socat socat "UNIX-LISTEN:$MUX,fork,mode=600" "TCP:127.0.0.1:$STP_PORT"
	wait_for_socket "$MUX"
}

# wait_for_socket PATH [TIMEOUT]: polls until PATH is a socket.
wait_for_socket() {
	local deadline
	deadline=$(_deadline "${2:-10}")
	until [ -S "$1" ]; do
		if _past "$deadline"; then
			echo "wait_for_socket: no socket at $1 after ${2:-10}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

@test "--mux: bytes both ways through the Unix socket, the target name passed on" {
	start_echo
	start_stp_serve
	start_unix_relay
	head -c 300000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --mux "$MUX" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	assert_equal "$stderr" ""
	# the name went to the proxy as a name (ATYP 3): it resolved it
	wait_for_line "$STP_LOG" "localhost:$ECHO_PORT([^0-9]|$)"
}

@test "--mux: an IP literal target" {
	start_echo
	start_stp_serve
	start_unix_relay
	echo "by address" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --mux "$MUX" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "--mux: stdin EOF is passed on as a half-close and the answer still read" {
	start_digest
	start_stp_serve
	start_unix_relay
	head -c 2000000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/digest" stp-connect --mux "$MUX" 127.0.0.1 "$DIGEST_PORT"
	run -0 cat "$T/digest"
	assert_equal "$output" "$(sha "$T/in")"
}

@test "--mux: a refused target exits 10+REP with the proxy's reply named" {
	local closed
	start_stp_serve
	start_unix_relay
	closed=$(closed_port)
	run -15 --separate-stderr bounded stp-connect --mux "$MUX" 127.0.0.1 "$closed" </dev/null
	assert_equal "$output" ""
	assert_match "$stderr" "^stp-connect: proxy unix:$MUX refused CONNECT 127\.0\.0\.1:$closed: connection refused \(reply 5\)$"
}

@test "--mux -z checks the target through the master" {
	local closed
	start_echo
	start_stp_serve
	start_unix_relay
	run -0 --separate-stderr bounded stp-connect -z --mux "$MUX" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" ""
	closed=$(closed_port)
	run -15 --separate-stderr bounded stp-connect -z --mux "$MUX" 127.0.0.1 "$closed"
}

@test "--mux -L forwards each accepted connection through the master" {
	local port
	start_echo
	start_stp_serve
	start_unix_relay
	start_bg fwd stp-connect --mux "$MUX" -L 127.0.0.1:0 127.0.0.1 "$ECHO_PORT"
	port=$(_listen_port fwd) || return 1
	echo "one" >"$T/in1"
	echo "two" >"$T/in2"
	run -0 io "$T/in1" "$T/out1" stp-connect -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$port"
	run -0 io "$T/in2" "$T/out2" stp-connect -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$port"
	assert_files_equal "$T/out1" "$T/in1"
	assert_files_equal "$T/out2" "$T/in2"
}

@test "--mux with no master: exit 3, one line naming the socket" {
	run -3 --separate-stderr bounded stp-connect --mux "$T/none.sock" 127.0.0.1 80 </dev/null
	assert_equal "$output" ""
	assert_equal "$stderr" "stp-connect: mux master at $T/none.sock: not running (no socket there)"
	# a socket left behind with nobody listening: connection refused
	"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' "$T/stale.sock"
	run -3 --separate-stderr bounded stp-connect --mux "$T/stale.sock" 127.0.0.1 80 </dev/null
	assert_equal "$stderr" "stp-connect: mux master at $T/stale.sock: not running (connection refused)"
}

@test "--mux-fallback: with no master the stream goes through -x directly" {
	start_echo
	start_stp_serve
	echo "fallback" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --mux "$T/none.sock" --mux-fallback \
		-x "socks5h://127.0.0.1:$STP_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	assert_equal "$stderr" ""
	wait_for_line "$STP_LOG" "localhost:$ECHO_PORT([^0-9]|$)"
	# and from the environment
	STP_PROXY="127.0.0.1:$STP_PORT" run -0 --separate-stderr io "$T/in" "$T/out2" \
		stp-connect --mux "$T/none.sock" --mux-fallback 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out2" "$T/in"
}

@test "--mux-fallback with no master and no proxy: the usual no-proxy usage error" {
	run -2 --separate-stderr bounded stp-connect --mux "$T/none.sock" --mux-fallback 127.0.0.1 80 </dev/null
	assert_match "$stderr" "^stp-connect: no proxy: .*$HELP_HINT$"
}

@test "--mux with a running master needs no proxy configured, and ignores -x (but checks it)" {
	start_echo
	start_stp_serve
	start_unix_relay
	echo "master wins" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --mux "$MUX" --mux-fallback \
		-x "127.0.0.1:$(closed_port)" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out2" stp-connect --mux "$MUX" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out2" "$T/in"
	# the fallback chain is checked up front, master or not
	run -2 --separate-stderr bounded stp-connect --mux "$MUX" --mux-fallback 127.0.0.1 "$ECHO_PORT" </dev/null
	assert_match "$stderr" "^stp-connect: no proxy: .*$HELP_HINT$"
	run -2 --separate-stderr bounded stp-connect --mux "$MUX" --mux-fallback -x "ftp://x" 127.0.0.1 "$ECHO_PORT" </dev/null
	assert_match "$stderr" "^stp-connect: -x: .*ftp.*$HELP_HINT$"
}

@test "usage errors of --mux, --mux-fallback and --mux-master" {
	run -2 --separate-stderr stp-connect --mux-master "$T/m.sock" -x 127.0.0.1:1 127.0.0.1 80
	assert_equal "$stderr" "stp-connect: --mux-master takes no HOST PORT; $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux-master "$T/m.sock"
	assert_match "$stderr" "^stp-connect: no proxy: .*$HELP_HINT$"
	run -2 --separate-stderr stp-connect --mux-master "$T/m.sock" -z -x 127.0.0.1:1
	assert_equal "$stderr" "stp-connect: --mux-master does not go with -z; $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux-master "$T/m.sock" -L 0 -x 127.0.0.1:1
	assert_equal "$stderr" "stp-connect: --mux-master does not go with -L; $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux-master "$T/m.sock" --mux "$T/x" -x 127.0.0.1:1
	assert_equal "$stderr" "stp-connect: --mux-master does not go with --mux; $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux-fallback -x 127.0.0.1:1 127.0.0.1 80
	assert_equal "$stderr" "stp-connect: --mux-fallback needs --mux PATH; $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux "$T/m.sock" 127.0.0.1
	assert_equal "$stderr" "stp-connect: missing PORT after HOST '127.0.0.1' (write HOST PORT or HOST:PORT); $HELP_HINT"
	run -2 --separate-stderr stp-connect --mux "/$(printf 'x%.0s' {1..120})" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: --mux /x+: not a usable Unix socket path \(1 to 107 bytes\); $HELP_HINT$"
	[ ! -e "$T/m.sock" ]
}

# ------------------------------------------ the master's socket (stp_unix_listen)

# master_ready: is --mux-master built yet? (the lead's muxmaster.c)
master_built() {
	! stp-connect --mux-master "$T/probe.sock" -x 127.0.0.1:1 2>&1 </dev/null |
		grep -q 'not built yet'
}

@test "--mux-master refuses a path that is not a socket, not ours, or live; takes over a stale one" {
	master_built || skip "needs --mux-master (the lead is building muxmaster.c)"
	start_stp_serve
	# not a socket
	echo data >"$T/file"
	run -1 --separate-stderr bounded stp-connect --mux-master "$T/file" -x "127.0.0.1:$STP_PORT"
	assert_equal "$stderr" "stp-connect: $T/file: exists and is not a socket"
	assert_equal "$(cat "$T/file")" data
	# a socket owned by someone else
	"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' "$T/other.sock"
	chown nobody "$T/other.sock" 2>/dev/null || skip "cannot chown (not root)"
	run -1 --separate-stderr bounded stp-connect --mux-master "$T/other.sock" -x "127.0.0.1:$STP_PORT"
	assert_equal "$stderr" "stp-connect: $T/other.sock: not owned by you"
	# a live master (here: socat listening)
	MUX="$T/live.sock"
	start_bg socat socat "UNIX-LISTEN:$MUX,fork,mode=600" "TCP:127.0.0.1:$STP_PORT"
	wait_for_socket "$MUX"
	run -1 --separate-stderr bounded stp-connect --mux-master "$MUX" -x "127.0.0.1:$STP_PORT"
	assert_equal "$stderr" "stp-connect: $MUX: a master is already running"
	# a stale socket of ours is replaced, with mode 0600
	"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' "$T/stale.sock"
	chmod 666 "$T/stale.sock"
	start_bg master stp-connect --mux-master "$T/stale.sock" -x "127.0.0.1:$STP_PORT"
	wait_for_line "$T/master.err" "^listening $T/stale\.sock$"
	assert_equal "$(stat -c %a "$T/stale.sock")" 600
	# too long a path
	run -2 --separate-stderr bounded stp-connect --mux-master "/$(printf 'x%.0s' {1..120})" -x "127.0.0.1:$STP_PORT"
	assert_match "$stderr" "too long for a Unix socket"
}
