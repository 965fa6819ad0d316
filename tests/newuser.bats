#!/usr/bin/env bats
# What a new user trips over (issue 16, items 2-8): ssh -D's silent close
# on a CONNECT it cannot complete, the failed-login block, stp-resolve's
# status for a ruleset refusal, stp-mcast --send, NO_PROXY and stp-bind,
# a reader that closes stdout, all_proxy before ALL_PROXY.

bats_require_minimum_version 1.5.0
load lib/common
load lib/mcast

setup() { stp_setup; }
teardown() { mc_teardown; }   # deletes the namespace of a multicast test

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
			rc=0
			bounded stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT" \
				2>"$T/err.$n" || rc=$?
			echo "$rc" >"$T/rc.$n"
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

# ---------------------------------------------------------------- stp-resolve

@test "stp-resolve: a name the proxy's rules refuse exits 12 (SPEC 2.3); the others are still resolved" {
	start_dnsmasq --address=/open.test/192.0.2.1 --address=/db.secret.test/192.0.2.2
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" \
		--rules '[{"action":"deny","command":"resolve","to":"*.secret.test"},{"action":"allow"}]'
	run -12 --separate-stderr stp-resolve -x "127.0.0.1:$STP_PORT" db.secret.test
	assert_equal "$output" ""
	assert_match "$stderr" "^stp-resolve: .*db\.secret\.test.*not allowed by ruleset"
	# a refusal outranks a name that does not resolve (1), in any order
	run -12 --separate-stderr stp-resolve -x "127.0.0.1:$STP_PORT" nosuch.invalid db.secret.test open.test
	assert_equal "$output" "open.test 192.0.2.1"
	assert_equal "${#stderr_lines[@]}" 2
	# a name that does not resolve alone is still 1
	run -1 --separate-stderr stp-resolve -x "127.0.0.1:$STP_PORT" nosuch.invalid open.test
	assert_equal "$output" "open.test 192.0.2.1"
}

# ---------------------------------------------------------------- stp-mcast --send

@test "stp-mcast --send: no 'joined', exit 0 once stdin has ended and all is sent, whatever --wait says" {
	mc_ns
	mc_serve
	start_bg listener ip netns exec "$MC_NS" "$PY" "$MCPEERS" recv 239.1.4.1 6101 6
	wait_for_line "$T/listener.err" '^joined$' 10 >/dev/null
	printf 'a\nbb\nccc\n' >"$T/in"
	# --wait 300 would hold it for 5 minutes: io's deadline (20 s) ends it
	TMO=20 run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" \
		stp-mcast --send --wait 300 -x "127.0.0.1:$STP_PORT" 239.1.4.1 6101
	assert_equal "$stderr" ""
	assert_equal "$output" ""
	# over the TCP control connection too
	printf 'd\nee\nfff\n' >"$T/in"
	TMO=20 run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" \
		stp-mcast --send --tcp --wait 300 -x "127.0.0.1:$STP_PORT" 239.1.4.1 6101
	assert_equal "$stderr" ""
	mc_wait_lines "$T/listener.out" 6
	assert_equal "$(cat "$T/listener.out")" "$(printf 'a\nbb\nccc\nd\nee\nfff')"
}

# ---------------------------------------------------------------- stp-bind and NO_PROXY

@test "stp-bind: NO_PROXY does not apply to a BIND, and its man page says so" {
	# the page no longer promises a direct path, and names the variable as unread
	run -1 grep -F 'lists is reached directly' "$STP_TOP/man/stp-bind.1"
	# the rendered page, its white space run together
	run -0 bash -c "mandoc -T ascii '$STP_TOP/man/stp-bind.1' | sed 's/.\x08//g' | tr -s ' \t\n' ' '"
	assert_match "$output" "NO_PROXY does not apply: a BIND is a port on the proxy's network"
	assert_match "$output" "NO_PROXY, no_proxy Not read: a BIND always goes to the proxy"
	# what the page says: with every host listed, the proxy still listens
	start_stp_serve
	printf 'from binder\n' >"$T/in"
	NO_PROXY='*' no_proxy='*' start_bg_stdin binder "$T/in" \
		stp-bind -x "socks5://127.0.0.1:$STP_PORT" --addr-file "$T/addr" 127.0.0.1
	wait_until "the bound address" test -s "$T/addr"
	local addr port
	read -r addr port <"$T/addr"
	run -0 --separate-stderr bounded bash -c "printf 'from peer\n' | nc -N $addr $port"
	assert_equal "$output" "from binder"
	wait_exit "${BG_PID[binder]}" 10
	assert_equal "$(cat "$T/binder.out")" "from peer"
	run -0 grep -E "session .*cmd=bind " "$STP_LOG"
}

# ---------------------------------------------------------------- the login block

@test "after 5 failed logins the right password is refused too: the client names the block, the server logs 'blocked'" {
	make_users "$T/users" alice right
	start_stp_serve --users "$T/users"
	start_echo
	local n why="(wrong user or password, or this address is blocked after too many failed logins)"
	for n in 1 2 3 4 5; do
		run -4 --separate-stderr bounded stp-connect -z -U alice:wrong -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
		assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$STP_PORT rejected the credentials of user 'alice' $why"
	done
	wait_for_line "$STP_LOG" '5 failed logins from 127\.0\.0\.1 within 60 s: its logins are refused for 60 s' 10
	run -4 --separate-stderr bounded stp-connect -z -U alice:right -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$STP_PORT rejected the credentials of user 'alice' $why"
	wait_for_line "$STP_LOG" "login of user 'alice' refused: 127\.0\.0\.1 is blocked after too many failed logins" 10
	wait_until "the blocked session logged" lines_at_least "$STP_LOG" 'session .*user=alice .*result="blocked"$' 1
	# the five before it were checked, and are logged as such
	run -0 grep -c 'result="authentication failed"$' "$STP_LOG"
	assert_equal "$output" 5
	run -0 grep -c "authentication failed for user 'alice'" "$STP_LOG"
	assert_equal "$output" 5
}

@test "--login-failures 0 turns the block off; --login-failures 2 blocks after 2" {
	make_users "$T/users" alice right
	start_stp_serve --users "$T/users" --login-failures 0
	start_echo
	local n
	for n in 1 2 3 4 5 6 7; do
		run -4 --separate-stderr bounded stp-connect -z -U alice:wrong -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	done
	run -0 --separate-stderr bounded stp-connect -z -U alice:right -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	run -1 grep -E 'failed logins from|blocked' "$STP_LOG"
	# a lower limit, from the configuration file's key as well
	echo '{"login-failures": 2}' >"$T/conf.json"
	start_stp_serve --users "$T/users" -c "$T/conf.json"
	for n in 1 2; do
		run -4 --separate-stderr bounded stp-connect -z -U alice:wrong -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	done
	wait_for_line "$STP_LOG" '2 failed logins from 127\.0\.0\.1 within 60 s' 10
	run -4 --separate-stderr bounded stp-connect -z -U alice:right -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	wait_until "the blocked session logged" lines_at_least "$STP_LOG" 'result="blocked"$' 1
}
