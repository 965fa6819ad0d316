#!/usr/bin/env bats
# What a new user trips over (issue 16, items 2-8): ssh -D's silent close
# on a CONNECT it cannot complete, the failed-login block, stp-resolve's
# status for a ruleset refusal, stp-mcast --send, NO_PROXY and stp-bind,
# a reader that closes stdout, all_proxy before ALL_PROXY.

bats_require_minimum_version 1.5.0
load lib/common

# ---------------------------------------------------------------- ssh -D

@test "ssh -D closes without a reply to a CONNECT to a closed port: exit 11, the message says why" {
	start_sshd
	start_ssh_D
	local closed
	closed=$(closed_port)
	run -11 --separate-stderr bounded stp-connect -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$closed" </dev/null
	assert_equal "$output" ""
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$SSH_D_PORT closed the connection without a reply to CONNECT 127.0.0.1:$closed (ssh -D does that when it cannot reach the target)"
	# a name sshd cannot resolve: the same close, the same status
	run -11 --separate-stderr bounded stp-connect -z -x "socks5h://127.0.0.1:$SSH_D_PORT" no-such-host.invalid 80
	assert_match "$stderr" "without a reply to CONNECT no-such-host\.invalid:80 \(ssh -D does that"
}

@test "stp-serve --upstream to ssh -D: a CONNECT it cannot complete is X'01' general failure for the client" {
	start_sshd
	start_ssh_D
	start_stp_serve --upstream "socks5://127.0.0.1:$SSH_D_PORT"
	local closed
	closed=$(closed_port)
	# curl, a client stp did not write, reports the SOCKS5 reply code
	run -97 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" "http://127.0.0.1:$closed/"
	assert_match "$stderr" "\(1\)"
	run -11 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$closed"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$STP_PORT refused CONNECT 127.0.0.1:$closed: general failure (reply 1)"
	wait_for_line "$STP_LOG" "upstream: .*127\.0\.0\.1:$SSH_D_PORT closed the connection without a reply to CONNECT" 5
	# what ssh -D can reach still goes through
	start_echo
	echo "through ssh -D" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- stdout closed

@test "a reader that closes stdout early (| head -c 5) is a normal end: 20 runs, all exit 0, stderr empty" {
	start_echo
	start_stp_serve
	local n
	for n in $(seq 20); do
		# 20 MB go to the echo server and back; head takes 5 bytes and
		# leaves while stp-connect is still writing
		head -c 20000000 /dev/zero | {
			bounded stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT" 2>"$T/err.$n"
			echo $? >"$T/rc.$n"
		} | head -c 5 >"$T/out.$n"
	done
	for n in $(seq 20); do
		assert_equal "$(stat -c %s "$T/out.$n")" 5
		assert_equal "run $n: $(cat "$T/rc.$n") $(cat "$T/err.$n")" "run $n: 0 "
	done
}

# ---------------------------------------------------------------- all_proxy

@test "all_proxy wins over ALL_PROXY, as for curl" {
	start_http
	start_stp_serve
	start_stp_serve
	local lower=$STP_PORT_1 upper=$STP_PORT_2
	# curl first: the order stp must follow
	all_proxy="socks5h://127.0.0.1:$lower" ALL_PROXY="socks5h://127.0.0.1:$upper" \
		run -0 --separate-stderr curl -sS --max-time 20 -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	start_echo
	echo "via all_proxy" >"$T/in"
	all_proxy="socks5h://127.0.0.1:$lower" ALL_PROXY="socks5h://127.0.0.1:$upper" \
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_until "both sessions logged by the all_proxy one" \
		lines_at_least "$STP_LOG_1" "session .*cmd=connect" 2
	run -0 grep -c "target=127\.0\.0\.1:$ECHO_PORT " "$STP_LOG_1"
	assert_equal "$output" 1
	run -1 grep "session " "$STP_LOG_2"
}
