#!/usr/bin/env bats
# stp-serve: failed-login blocking and the password-check queue under
# attack. Logins in flight count against the client address, one address
# cannot take the hashing from the others, and the checks of closed
# sessions are dropped. Raw RFC 1929 from several loopback addresses
# (lib/loginflood.py, lib/sessions.py).

bats_require_minimum_version 1.5.0
load lib/common

FLOOD="$BATS_TEST_DIRNAME/lib/loginflood.py"
SESS="$BATS_TEST_DIRNAME/lib/sessions.py"

# timed_users FILE: alice:right. Under the sanitizers PBKDF2 costs ten
# times as much CPU, which says nothing of the queue: there the hash has
# 10000 iterations (plain runs keep the real 100000).
timed_users() {
	if [ -z "${STP_SANITIZE:-}" ]; then
		make_users "$1" alice right
		return
	fi
	"$PY" -c 'import base64, hashlib, os, sys
salt = os.urandom(16)
key = hashlib.pbkdf2_hmac("sha256", b"right", salt, 10000, 32)
b = lambda x: base64.b64encode(x).decode()
print("alice:$pbkdf2-sha256$10000$%s$%s" % (b(salt), b(key)))' >"$1"
}

# login_within SRC SECS: the right password from SRC is accepted, answered
# within SECS (times STP_SLOW); prints the time taken.
login_within() {
	run -0 "$PY" "$SESS" "$STP_PORT" login "$1" alice right
	echo "# login from $1: $output" >&3
	assert_match "$output" '^ok '
	"$PY" -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' \
		"${output#ok }" "$(($2 * STP_SLOW))"
}

@test "99 wrong passwords and the right one at once: the right one is refused too" {
	make_users "$T/users" alice right
	# the 5 checks may be slow on a busy machine: no handshake timeout
	start_stp_serve --users "$T/users" --handshake-timeout 120
	run -0 "$PY" "$FLOOD" "$STP_PORT" race 127.0.0.1 alice wrong right 99
	echo "# $output" >&3
	assert_equal "${lines[0]}" "right denied"
	# 5 were checked; the others were refused before any hash was computed
	assert_equal "${lines[1]}" "wrong ok=0 denied=99 closed=0"
	run -0 wait_for_line "$STP_LOG" '5 failed logins from 127\.0\.0\.1 within 60 s: its logins are refused for 60 s'
	run -0 "$PY" "$SESS" "$STP_PORT" login 127.0.0.1 alice right
	assert_match "$output" '^denied '
	# another address is not concerned
	run -0 "$PY" "$SESS" "$STP_PORT" login 127.0.0.2 alice right
	assert_match "$output" '^ok '
}

@test "a right login is not taken for a failure: its slot is given back" {
	make_users "$T/users" alice right
	start_stp_serve --users "$T/users"
	local n
	for n in 1 2 3 4; do
		run -0 "$PY" "$SESS" "$STP_PORT" login 127.0.0.1 alice wrong
		assert_match "$output" '^denied '
	done
	for n in 1 2 3 4 5 6; do
		run -0 "$PY" "$SESS" "$STP_PORT" login 127.0.0.1 alice right
		assert_match "$output" '^ok '
	done
	run -0 "$PY" "$SESS" "$STP_PORT" login 127.0.0.1 alice wrong
	assert_match "$output" '^denied '
	run -1 grep -F 'failed logins from' "$STP_LOG"
}

@test "400 simultaneous wrong logins from one address: a login from another answers within 1 s" {
	timed_users "$T/users"
	start_stp_serve --users "$T/users"
	start_bg flood "$PY" "$FLOOD" "$STP_PORT" flood 127.0.0.1 alice wrong 400 "$T/flooding"
	WAIT_S=60 wait_until "the flood to be under way" test -e "$T/flooding" ||
		{ cat "$T/flood.err" >&2; false; }
	login_within 127.0.0.2 1
	wait_exit "${BG_PID[flood]}" 60
	run -0 cat "$T/flood.out"
	assert_equal "$output" "ok=0 denied=400 closed=0"
}

@test "checks of sessions closed by the handshake timeout are dropped, not hashed" {
	timed_users "$T/users"
	start_stp_serve --users "$T/users" --handshake-timeout 2
	mkfifo "$T/in"
	# 40 addresses with 5 wrong logins each: below the block, 200 checks
	start_bg_stdin abandon "$T/in" "$PY" "$FLOOD" "$STP_PORT" abandon 127.0.0.10 40 5 alice wrong
	exec 4>"$T/in"
	run -0 wait_for_line "$T/abandon.out" '^sent 200' 60
	# each ends, checked or timed out
	WAIT_S=60 run -0 wait_until "200 session lines" \
		lines_at_least "$STP_LOG" 'session client=127\.0\.0\.[1-5][0-9]:' 200
	login_within 127.0.0.2 1
	exec 4>&-
}
