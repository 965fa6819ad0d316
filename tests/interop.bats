#!/usr/bin/env bats
# stp with OpenSSH and Dante: ssh's ProxyCommand through stp-connect (via
# stp-serve and via Dante), `ssh -D` as the SOCKS server for stp-connect, and
# a check of the harness itself (curl through Dante, ssh through nc -X 5).

bats_require_minimum_version 1.5.0
load lib/common

# ---------------------------------------------------------------- harness

@test "harness: curl through Dante fetches the test file" {
	start_http
	start_dante
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$DANTE_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "harness: ssh through OpenBSD nc -X 5 via Dante reaches the private sshd" {
	start_sshd
	start_dante
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="nc -X 5 -x 127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 echo harness-ok
	assert_equal "$output" harness-ok
}

# ---------------------------------------------------------------- ProxyCommand

@test "ssh ProxyCommand stp-connect through stp-serve" {
	start_sshd
	start_stp_serve
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 true
	assert_equal "$output" ""
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'echo "out:$((6 * 7))"; echo err >&2'
	assert_equal "$output" "out:42"
	assert_equal "$stderr" "err"
	wait_for_line "$STP_LOG" "127\.0\.0\.1:$SSHD_PORT([^0-9]|$)"
}

@test "ssh ProxyCommand stp-connect (socks5h, proxy resolves localhost) through stp-serve" {
	start_sshd
	start_stp_serve
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5h://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@localhost hostname
	assert_equal "$output" "$(hostname)"
}

@test "ssh ProxyCommand stp-connect through Dante" {
	start_sshd
	start_dante
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'echo via-dante'
	assert_equal "$output" via-dante
}

@test "ssh ProxyCommand: a bulk transfer over ssh through stp-serve and Dante" {
	start_sshd
	start_stp_serve
	start_dante
	head -c 5000000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/sum" ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT -x socks5://127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'sha256sum | cut -d" " -f1'
	run -0 cat "$T/sum"
	assert_equal "$output" "$(sha "$T/in")"
}

@test "ssh ProxyCommand: a failing stp-connect makes ssh fail with its message" {
	start_sshd
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -255 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$closed" root@127.0.0.1 true
	assert_match "$stderr" "stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT 127\.0\.0\.1:$closed: connection refused \(reply 5\)"
}

# ---------------------------------------------------------------- ssh -D

@test "stp-connect through ssh -D to the echo server" {
	start_sshd
	start_ssh_D
	start_echo
	head -c 200000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "stp-connect through ssh -D, proxy resolves the name (socks5h)" {
	start_sshd
	start_ssh_D
	start_echo
	echo "resolved by sshd" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://127.0.0.1:$SSH_D_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "stp-connect -z through ssh -D: a close before any reply to CONNECT is exit 11" {
	start_sshd
	start_ssh_D
	local closed
	closed=$(closed_port)
	# ssh -D closes the client connection without a reply when the channel
	# open fails; SPEC §2.3 maps a close before any reply to CONNECT to 11
	run -11 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$closed"
	assert_match "$stderr" "^stp-connect: .*127\.0\.0\.1:$SSH_D_PORT"
}

@test "chain: stp-serve then ssh -D then the echo server" {
	start_sshd
	start_ssh_D
	start_stp_serve
	start_echo
	echo "two different proxies" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5://127.0.0.1:$STP_PORT" -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}
