#!/usr/bin/env bats
# stp-bind, and BIND / BIND_MULTI / ATTACH in stp-serve: against Dante's
# classic BIND, a third-party BIND client (npm "socks"), nc as the peer,
# and hand-made requests for the ticket rules (tests/lib/bindtest.py).

bats_require_minimum_version 1.5.0
load lib/common

BT="$BATS_TEST_DIRNAME/lib/bindtest.py"

# bound_addr FILE: waits for stp-bind's --addr-file, sets ADDR and PORT.
bound_addr() {
	local deadline
	deadline=$(_deadline 10)
	until [ -s "$1" ]; do
		_past "$deadline" && { echo "no $1" >&2; return 1; }
		sleep 0.02
	done
	read -r ADDR PORT <"$1"
}

@test "classic BIND through stp-serve: bound, a peer connects with nc, bytes both ways, exit 0" {
	start_stp_serve
	printf 'from binder\n' >"$T/in"
	start_bg_stdin binder "$T/in" stp-bind -x "127.0.0.1:$STP_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	run -0 wait_for_line "$T/binder.err" "^bound $ADDR $PORT\$"
	run -0 --separate-stderr bounded bash -c "printf 'from peer\n' | nc -N $ADDR $PORT"
	assert_equal "$output" "from binder"
	wait_exit "${BG_PID[binder]}" 10
	assert_equal "$(cat "$T/binder.out")" "from peer"
	run -0 grep -E '^accepted 127\.0\.0\.1 [0-9]+$' "$T/binder.err"
}

@test "classic BIND through Dante sockd" {
	start_dante
	printf 'via dante\n' >"$T/in"
	start_bg_stdin binder "$T/in" stp-bind -x "socks5://127.0.0.1:$DANTE_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	run -0 --separate-stderr bounded bash -c "printf 'peer says hi\n' | nc -N $ADDR $PORT"
	assert_equal "$output" "via dante"
	wait_exit "${BG_PID[binder]}" 10
	assert_equal "$(cat "$T/binder.out")" "peer says hi"
}

@test "SOCKS4 BIND through stp-serve" {
	start_stp_serve
	printf 'four\n' >"$T/in"
	start_bg_stdin binder "$T/in" stp-bind -x "socks4://127.0.0.1:$STP_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	run -0 --separate-stderr bounded bash -c "printf 'peer4\n' | nc -N $ADDR $PORT"
	assert_equal "$output" "four"
	wait_exit "${BG_PID[binder]}" 10
	assert_equal "$(cat "$T/binder.out")" "peer4"
}

@test "--json: bound and accepted events are JSON lines" {
	start_stp_serve
	: >"$T/in"
	start_bg_stdin binder "$T/in" stp-bind --json -x "127.0.0.1:$STP_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	run -0 bounded bash -c "nc -N $ADDR $PORT </dev/null"
	wait_exit "${BG_PID[binder]}" 10
	run -0 jq -s -e --arg p "$PORT" 'length == 2 and .[0].event == "bound" and
		.[0].addr == "127.0.0.1" and (.[0].port|tostring) == $p and
		.[1].event == "accepted" and .[1].addr == "127.0.0.1" and .[1].port > 0' "$T/binder.err"
}

@test "-k -F: three peers in turn and three at once, each relayed to a local echo" {
	start_echo
	start_stp_serve
	start_bg binder stp-bind -k -x "127.0.0.1:$STP_PORT" -F "127.0.0.1:$ECHO_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	local n
	for n in 1 2 3; do
		run -0 --separate-stderr bounded bash -c "printf 'in turn $n\n' | nc -N $ADDR $PORT"
		assert_equal "$output" "in turn $n"
	done
	local pids=()
	for n in 1 2 3; do
		(printf 'at once %s\n' "$n" | bounded nc -N "$ADDR" "$PORT" >"$T/once.$n") 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	for n in 1 2 3; do
		assert_equal "$(cat "$T/once.$n")" "at once $n"
	done
	run -0 test "$(grep -c '^accepted ' "$T/binder.err")" -eq 6
	run -0 test "$(grep -c 'cmd=attach .*result="ok"' "$STP_LOG")" -eq 6
}

@test "-k without -F or -e: connections one after another on stdout" {
	start_stp_serve
	start_bg binder stp-bind -k -x "127.0.0.1:$STP_PORT" --addr-file "$T/addr"
	bound_addr "$T/addr"
	run -0 bounded bash -c "printf 'first\n' | nc -N $ADDR $PORT"
	run -0 wait_for_line "$T/binder.out" '^first$'
	run -0 bounded bash -c "printf 'second\n' | nc -N $ADDR $PORT"
	run -0 wait_for_line "$T/binder.out" '^second$'
}

@test "-k -e: a command per connection, with STP_PEER_ADDR and STP_PEER_PORT" {
	start_stp_serve
	start_bg binder stp-bind -k -x "127.0.0.1:$STP_PORT" --addr-file "$T/addr" \
		-e 'read -r line; echo "got $line from $STP_PEER_ADDR port $STP_PEER_PORT"'
	bound_addr "$T/addr"
	run -0 --separate-stderr bounded bash -c "printf 'x\n' | nc -N $ADDR $PORT"
	assert_match "$output" '^got x from 127\.0\.0\.1 port [0-9]+$'
}

@test "a third-party BIND client (npm socks) against stp-serve" {
	command -v npm >/dev/null || skip "npm is not installed"
	local dir=$STP_TOP/build/npm
	if [ ! -d "$dir/node_modules/socks" ]; then
		bounded npm install --silent --prefix "$dir" socks@2 >/dev/null 2>&1 ||
			skip "npm could not install the socks package"
	fi
	start_stp_serve
	run -0 --separate-stderr bounded env NODE_PATH="$dir/node_modules" node \
		"$BATS_TEST_DIRNAME/lib/js/bind.js" "$STP_PORT"
	assert_match "$output" 'bound 127\.0\.0\.1 [0-9]+'
	assert_match "$output" 'binder got from peer'
	assert_match "$output" 'peer got from binder'
}

@test "tickets: a wrong one gets X'C0', another user's X'C4', a reused one X'C0'" {
	make_users "$T/users" alice wonder bob builder
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr /usr/bin/python3 "$BT" tickets "$STP_PORT" alice wonder bob builder
	assert_equal "${lines[0]}" "wrong 192"
	assert_equal "${lines[1]}" "foreign 196"
	assert_equal "${lines[2]}" "right 0 hello"
	assert_equal "${lines[3]}" "reuse 192"
}

@test "tickets expire: ATTACH after EXPIRY gets X'C0'" {
	start_stp_serve
	run -0 --separate-stderr /usr/bin/python3 "$BT" expiry "$STP_PORT"
	assert_equal "$output" "expired 192"
}

@test "a peer not matching DST.ADDR is refused, the expected one announced" {
	start_stp_serve
	run -0 --separate-stderr /usr/bin/python3 "$BT" restrict "$STP_PORT"
	assert_equal "${lines[0]}" "notice 127.0.0.2"
	assert_equal "${lines[1]}" "stranger closed"
	assert_equal "${#lines[@]}" 2
}

@test "control channel closed while peers wait: peers dropped, listener gone" {
	start_stp_serve
	run -0 --separate-stderr /usr/bin/python3 "$BT" ctlclose "$STP_PORT"
	assert_equal "${lines[0]}" "peers closed 2"
	assert_equal "${lines[1]}" "listener gone"
}

@test "nobody connects before --bind-timeout: exit 16 with a message" {
	start_stp_serve --bind-timeout 1
	run -16 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" </dev/null
	assert_match "${stderr_lines[0]}" "^bound 127\.0\.0\.1 [0-9]+\$"
	assert_match "${stderr_lines[1]}" "^stp-bind: proxy 127\.0\.0\.1:$STP_PORT refused BIND 0\.0\.0\.0:0: TTL expired \(reply 6\)\$"
}

@test "-k against Dante (no BIND_MULTI): exit 7 naming the feature" {
	start_dante
	run -7 --separate-stderr bounded stp-bind -k -x "socks5://127.0.0.1:$DANTE_PORT" </dev/null
	assert_match "$stderr" "bind-multi"
}

@test "BIND through ssh -D (closes without a reply): exit 7" {
	start_sshd
	start_ssh_D
	run -7 --separate-stderr bounded stp-bind -x "socks5://127.0.0.1:$SSH_D_PORT" </dev/null
	assert_match "$stderr" "closed the connection without a reply to BIND"
}

@test "bad input: -F and -e together, a bad -F, too many arguments: exit 2" {
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 -F 127.0.0.1:1 -e true
	assert_match "$stderr" "try 'stp-bind --help'"
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 -F nope
	assert_match "$stderr" "^stp-bind: -F: "
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 a 1 extra
}
