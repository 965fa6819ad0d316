#!/usr/bin/env bats
# stp-serve's UDP relay in batches (issue 22, item 3): what one readiness
# event reads with recvmmsg goes on in one sendmmsg or UDP GSO send, and
# still every datagram arrives and is counted one by one. The bursts come
# from tests/lib/udpburst.py, which stops the server (SIGSTOP, by the PID
# this test started) while it sends, so the relay finds a whole burst
# waiting; strace counts the send calls.

bats_require_minimum_version 1.5.0
load lib/common

BURST="$TESTLIB/udpburst.py"

# traced PID: strace has attached to PID (for wait_until).
traced() {
	grep -Eq '^TracerPid:[[:space:]]*[1-9]' "/proc/$1/status" ||
		{ echo "no tracer on $1 yet" >&2; return 1; }
}

# trace_sends: strace on the test's stp-serve, its send calls in $T/sends.
trace_sends() {
	command -v strace >/dev/null || skip "strace is not installed"
	start_bg strace strace -qq -f -e trace=sendto,sendmsg,sendmmsg -e signal=none \
		-o "$T/sends" -p "$STP_SERVE_PID"
	wait_until "strace attached to stp-serve" traced "$STP_SERVE_PID"
}

# sends_done: strace is stopped; prints how many send calls it saw.
sends_done() {
	stop_bg strace INT
	grep -cE '^[0-9 ]*(sendto|sendmsg|sendmmsg)\(' "$T/sends"
}

@test "a burst to one target: 200 datagrams each way, all back in order, a few send calls for them" {
	start_stp_serve -v
	trace_sends
	TMO=40 run -0 --separate-stderr bounded "$PY" "$BURST" "$STP_PORT" "$STP_SERVE_PID" 200 1
	assert_equal "$output" "ok sent=200 echoed=200"
	run -0 sends_done
	# one datagram at a time is 402 calls (1 warm-up each way, 200 each way);
	# in batches of 32 it is about 16
	[ "$output" -le 60 ] || { echo "$output send calls for 402 datagrams" >&2; false; }
	# the counts stay per datagram (warm-up included)
	run -0 wait_for_line "$STP_LOG" 'udp association .* dropped:' 10
	assert_match "$output" 'datagrams up=201 down=201 dropped: stranger=0 malformed=0 frag=0 oversize=0 unknown-sender=0 full=0 resolve=0 family=0 send-error=0 denied=0$'
	run -0 wait_for_line "$STP_LOG" 'session .* cmd=udp ' 10
	assert_match "$output" 'up=2205 down=2205 .*result="ok"'
}

@test "a burst over three targets by turns: every datagram reaches its own target and comes back" {
	start_stp_serve -v
	trace_sends
	TMO=40 run -0 --separate-stderr bounded "$PY" "$BURST" "$STP_PORT" "$STP_SERVE_PID" 150 3
	assert_equal "$output" "ok sent=150 echoed=150"
	run -0 sends_done
	# the destinations change from one datagram to the next: sendmmsg
	# carries them, still far fewer calls than the 306 datagrams
	[ "$output" -le 60 ] || { echo "$output send calls for 306 datagrams" >&2; false; }
	run -0 wait_for_line "$STP_LOG" 'udp association .* dropped:' 10
	assert_match "$output" 'datagrams up=153 down=153 dropped: stranger=0 malformed=0'
}
