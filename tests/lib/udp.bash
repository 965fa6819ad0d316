# tests/lib/udp.bash - helpers of tests/udp.bats (after `load lib/common`).

UDPPEERS="$TESTLIB/udppeers.py"

# start_udp_echo: a UDP echo on 127.0.0.1. Exports UDP_ECHO_PORT.
start_udp_echo() {
	start_bg udp-echo "$PY" "$UDPPEERS" echo
	UDP_ECHO_PORT=$(_listen_port udp-echo) || return 1
	export UDP_ECHO_PORT
}

# start_zeroproxy: a SOCKS5 server whose UDP relay is announced as
# 0.0.0.0 (udppeers.py zeroproxy). Exports ZERO_PORT.
start_zeroproxy() {
	start_bg zeroproxy "$PY" "$UDPPEERS" zeroproxy
	ZERO_PORT=$(_listen_port zeroproxy) || return 1
	export ZERO_PORT
}

# udp_peer ARGS...: udppeers.py ARGS, bounded in time.
udp_peer() {
	bounded "$PY" "$UDPPEERS" "$@"
}

# start_stp_udp NAME STDIN ARGS...: stp-udp ARGS in the background with
# stdin from STDIN (a fifo keeps it open); output in $T/NAME.out/.err.
start_stp_udp() {
	local name=$1 in=$2
	shift 2
	start_bg_stdin "$name" "$in" stp-udp "$@"
}

# hold_fifo NAME: a fifo at $T/NAME with a writer that keeps it open
# until the test ends (teardown kills it); write more with `>$T/NAME`.
hold_fifo() {
	mkfifo "$T/$1"
	start_bg "hold-$1" bash -c 'exec 7<>"$1"; sleep 60' _ "$T/$1"
}

# udp_session_line LOG CMD: waits for stp-serve's session line of command
# CMD (udp, udp-bind, udp-tcp) in LOG and prints it.
udp_session_line() {
	wait_for_line "$1" "session .* cmd=$2 " 10
}

# udp_drops_line LOG: waits for the debug line with the drop counts.
udp_drops_line() {
	wait_for_line "$1" 'udp association .* dropped:' 10
}
