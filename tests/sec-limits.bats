#!/usr/bin/env bats
# stp-serve against a client that attacks its limits (security review,
# items 5-8): accepting at the fd limit without spinning, MUX streams under
# the per-client limit and the fd budget, so are BIND_MULTI peers and UDP
# sockets, --idle-timeout on BIND_MULTI
# control channels and MUX connections, and --stats under idle connections.

bats_require_minimum_version 1.5.0
load lib/common

SEC="$BATS_TEST_DIRNAME/lib/seclimits.py"

# ---------------------------------------------------------------- fd limit

@test "at the fd limit a BIND and a BIND_MULTI listener with queued peers do not spin" {
	# started with 256 fds, then left 64: the budget, made for 256, lets
	# the BIND_MULTI listener's peers take all that is left, as when the
	# descriptors run out all the same (prlimit: util-linux, essential)
	start_bg lowfd bash -c 'ulimit -n 256 && exec stp-serve -v -l 127.0.0.1:0'
	local port
	port=$(_listen_port lowfd)
	prlimit --pid "${BG_PID[lowfd]}" --nofile=64:64
	start_bg fill "$PY" "$SEC" bindfill "$port" "${BG_PID[lowfd]}"
	run -0 wait_for_line "$T/fill.out" '^cpu [0-9]+$' 60
	# 2 s of a spinning loop are ~200 ticks; pausing costs next to none
	local ticks=${output#cpu }
	[ "$ticks" -le 20 ] || { echo "stp-serve used $ticks ticks in 2 s at the fd limit"; false; }
	# the fds come back: the queued BIND peer is accepted and relayed
	run -0 wait_for_line "$T/fill.out" '^second ' 30
	assert_equal "$output" "second 0"
	wait_exit "${BG_PID[fill]}" 30
	# said once per listener and pause, not once per attempt
	local n
	n=$(grep -c 'accept: .*pausing the listener' "$T/lowfd.err" || true)
	[ "$n" -ge 1 ] && [ "$n" -le 4 ]
	kill -0 "${BG_PID[lowfd]}"
}

# ---------------------------------------------------------------- MUX limits

@test "--max-sessions-per-client counts MUX streams: beyond it a stream gets RST X'C1'" {
	start_echo
	start_stp_serve --max-sessions-per-client 2
	run -0 --separate-stderr "$PY" "$SEC" muxlimit "$STP_PORT" "$ECHO_PORT"
	# the MUX connection and its first stream make two
	assert_equal "${lines[0]}" "stream 1 REPLY 0"
	assert_equal "${lines[1]}" "stream 3 RST 193"
	assert_equal "${lines[2]}" "stream 5 RST 193"
	assert_equal "${lines[3]}" "plain refused"
	assert_equal "${lines[4]}" "again REPLY 0"
	grep -q 'max-sessions-per-client' "$STP_LOG"
}

@test "MUX streams are budgeted at their real fd cost: refused with X'C1' before the fds run out" {
	start_echo
	start_bg lowfd bash -c 'ulimit -n 128 && exec stp-serve -l 127.0.0.1:0'
	local port
	port=$(_listen_port lowfd)
	run -0 --separate-stderr "$PY" "$SEC" muxbudget "$port" "$ECHO_PORT" 60 "${BG_PID[lowfd]}"
	assert_equal "${lines[2]}" "other 0"
	local ok=${lines[0]#ok } fds
	[ "$ok" -ge 10 ]
	[ "${lines[1]}" = "rst-c1 $((60 - ok))" ]
	# the server never got near the limit itself
	fds=${lines[3]#fds }
	fds=${fds%% *}
	[ "$fds" -le 120 ]
	assert_equal "${lines[4]}" "echo ok"
	! grep -q 'file-descriptor limit reached' "$T/lowfd.err"
}

# ---------------------------------------------------------------- extra descriptors

# The descriptors a session opens beyond its two (BIND_MULTI peers waiting
# for ATTACH, a UDP association's sockets to targets) are budgeted: one
# client piling them up cannot stop another client's CONNECT, and they all
# come back.
@test "BIND_MULTI peers waiting for ATTACH are budgeted: another client still connects" {
	start_echo
	start_bg lowfd bash -c 'ulimit -n 128 && exec stp-serve -l 127.0.0.1:0'
	local port fds
	port=$(_listen_port lowfd)
	run -0 --separate-stderr "$PY" "$SEC" extrafds "$port" "$ECHO_PORT" "${BG_PID[lowfd]}" bindmulti 2
	fds=${lines[0]#fds }
	[ "${fds%% *}" -le 100 ]
	assert_equal "${lines[1]}" "other 0 echo ok"
	assert_equal "${lines[2]}" "released"
	grep -q '^stp-serve: bind-multi for 127\.0\.0\.1: file-descriptor budget spent: a peer refused$' "$T/lowfd.err"
	! grep -q 'file-descriptor limit reached' "$T/lowfd.err"
}

@test "a UDP association's sockets are budgeted: another client still connects" {
	start_echo
	start_bg lowfd bash -c 'ulimit -n 128 && exec stp-serve -l 127.0.0.1:0 --max-sessions-per-client 32'
	local port fds
	port=$(_listen_port lowfd)
	run -0 --separate-stderr "$PY" "$SEC" extrafds "$port" "$ECHO_PORT" "${BG_PID[lowfd]}" udp 32
	fds=${lines[0]#fds }
	[ "${fds%% *}" -le 110 ]
	assert_equal "${lines[1]}" "other 0 echo ok"
	assert_equal "${lines[2]}" "released"
	grep -q '^stp-serve: udp for 127\.0\.0\.1: file-descriptor budget spent: a UDP socket refused$' "$T/lowfd.err"
	! grep -q 'file-descriptor limit reached' "$T/lowfd.err"
}

# ---------------------------------------------------------------- --idle-timeout

@test "--idle-timeout closes an idle BIND_MULTI control channel" {
	start_stp_serve --idle-timeout 1
	run -0 --separate-stderr "$PY" "$SEC" bmidle "$STP_PORT"
	assert_match "$output" '^closed after [1-6]$'
	run -0 wait_for_line "$STP_LOG" 'bind-multi.*idle timeout|idle timeout.*bind-multi' 10
}

@test "--idle-timeout closes a MUX connection once its last stream was idled out" {
	start_echo
	start_stp_serve --idle-timeout 1
	run -0 --separate-stderr "$PY" "$SEC" muxidle "$STP_PORT" "$ECHO_PORT"
	assert_equal "${lines[0]}" "stream ended"
	assert_match "${lines[1]}" '^closed after [1-6]$'
}

# ---------------------------------------------------------------- --stats

@test "--stats answers promptly while 20 idle or non-reading connections are open" {
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local line sport
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$')
	sport=$(awk '{ print $3 }' <<<"$line")
	run -0 --separate-stderr "$PY" "$SEC" statsidle "$sport" "$STP_SERVE_PID" 20
	assert_equal "${lines[0]}" "status HTTP/1.0 200 OK"
	assert_match "${lines[1]}" '^answered after [01]$'
	stp_serve_alive
}
