#!/usr/bin/env bats
# stp-serve at its limits: the file-descriptor limit, --max-sessions,
# --idle-timeout. Each test proves that refusals hit only new sessions and
# that the server serves again afterwards.

bats_require_minimum_version 1.5.0
load lib/common

HOLD="$BATS_TEST_DIRNAME/lib/hold.py"

@test "at the file-descriptor limit new sessions are refused, existing ones go on" {
	start_echo
	start_http
	# 64 fds: a handful of sessions fit, 40 do not
	start_bg lowfd bash -c 'ulimit -n 64 && exec stp-serve -l 127.0.0.1:0'
	local port
	port=$(_listen_port lowfd)
	start_bg hold /usr/bin/python3 "$HOLD" "$port" "$ECHO_PORT" 40 "$T/go"
	local line
	line=$(wait_for_line "$T/hold.out" '^established' 60)
	local est=${line#established } ref
	ref=${est#* refused }
	est=${est%% *}
	[ "$est" -ge 5 ]
	[ "$ref" -ge 1 ]
	touch "$T/go"
	line=$(wait_for_line "$T/hold.out" '^alive' 60)
	assert_equal "$line" "alive $est"
	wait_exit "${BG_PID[hold]}" 30
	# every held session is gone now: the server takes new ones again
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$port" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	kill -0 "${BG_PID[lowfd]}"
}

@test "--max-sessions 3: the fourth client is refused while three are held" {
	start_echo
	start_http
	start_stp_serve --max-sessions 3
	start_bg hold /usr/bin/python3 "$HOLD" "$STP_PORT" "$ECHO_PORT" 5 "$T/go"
	run -0 wait_for_line "$T/hold.out" '^established' 60
	assert_equal "$output" "established 3 refused 2"
	touch "$T/go"
	run -0 wait_for_line "$T/hold.out" '^alive' 60
	assert_equal "$output" "alive 3"
	wait_exit "${BG_PID[hold]}" 30
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "--idle-timeout 1 closes an idle relayed session and logs why" {
	start_echo
	start_stp_serve --idle-timeout 1
	# one round trip, then idle: the proxy must close the session
	run -0 --separate-stderr /usr/bin/python3 - "$STP_PORT" "$ECHO_PORT" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"\x05\x01\x00"); assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", int(sys.argv[2])))
rep = b""
while len(rep) < 10:
    rep += s.recv(10 - len(rep))
s.sendall(b"ping"); got = b""
while len(got) < 4:
    got += s.recv(4 - len(got))
t0 = time.time()
print("eof" if s.recv(1) == b"" else "data", "after %.1f" % (time.time() - t0))
PY
	# the idle timeout fires: not long before 1 s; the upper bound is generous
	assert_match "$output" '^eof after (0\.[5-9]|[1-9]\.[0-9])$'
	run -0 wait_for_line "$STP_LOG" 'result="idle timeout"' 10
}
