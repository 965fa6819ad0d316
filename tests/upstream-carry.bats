#!/usr/bin/env bats
# stp-serve --upstream carries every command it can and refuses the rest
# (issue 19 part 4, SPEC §3.6): with Dante and ssh -D as upstreams, what
# they cannot carry is refused with X'07', and no datagram, no DNS query and
# no listener leaves from the local server; --upstream-local allows that
# explicitly; through an stp-serve upstream, BIND, BIND_MULTI, UDP over TCP
# and the DNS channel reach what only the upstream can reach.

bats_require_minimum_version 1.5.0
load lib/common

ST="$BATS_TEST_DIRNAME/lib/sockstest.py"

# start_count_udp: a UDP echo that logs each datagram to $T/countudp.out.
# Exports COUNT_PORT.
start_count_udp() {
	start_bg countudp "$PY" "$TESTLIB/countudp.py"
	COUNT_PORT=$(_listen_port countudp) || return 1
	export COUNT_PORT
}

# no_datagram: the counting echo got nothing (checked after the client has
# ended, and after a round trip through it by another path would have
# arrived: the senders here are synchronous).
no_datagram() {
	if [ -s "$T/countudp.out" ]; then
		echo "a datagram reached the target:" >&2
		cat "$T/countudp.out" >&2
		return 1
	fi
}

# reply_of PORT CMD ATYP HOST PORT: the reply code to a hand-made request.
reply_of() {
	bounded "$PY" "$ST" reply "$@"
}

# ---------------------------------------------------------------- Dante

@test "Dante upstream: UDP_BIND is refused with X'07' and a log line; no datagram leaves" {
	# (UDP ASSOCIATE and UDP over TCP go through Dante's relay: upudp.bats)
	start_dante
	start_count_udp
	start_stp_serve --upstream "socks5h://127.0.0.1:$DANTE_PORT"
	echo ping >"$T/in"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp -l -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	run -0 grep -c "upstream: UDP_BIND .* refused: the upstream chain cannot carry it.*--upstream-local udp" "$STP_LOG"
	no_datagram
	# FEATURES no longer offers what is refused
	run --separate-stderr bounded stp-probe --json "127.0.0.1:$STP_PORT"
	assert_match "$output" "bind-multi"
	[[ "$output" != *udp-bind* ]]
	[[ "$output" != *mcast* ]]
}

@test "Dante upstream with --upstream-local udp: the local UDP relay works again" {
	start_dante
	start_count_udp
	start_stp_serve --upstream "socks5h://127.0.0.1:$DANTE_PORT" --upstream-local udp
	echo ping >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$output" ""
	assert_equal "$(cat "$T/out")" "ping"
	run -0 grep -c "^datagram from 127\.0\.0\.1 " "$T/countudp.out"
	assert_equal "$output" "1"
	! grep -q "upstream: UDP ASSOCIATE" "$STP_LOG"
}

@test "Dante upstream: the DNS channel is refused, and the local resolver sees no query" {
	start_dante
	start_dnsmasq --log-queries --address=/leak.test/127.0.0.9
	start_stp_serve --upstream "socks5h://127.0.0.1:$DANTE_PORT" --resolver "127.0.0.1:$DNS_PORT"
	run -7 --separate-stderr bounded stp-resolve -x "127.0.0.1:$STP_PORT" -t A leak.test
	! grep -q "query.*leak\.test" "$BATS_TEST_TMPDIR"/dnsmasq.*.err
	# --upstream-local dns: the local resolver answers (the check above can fail)
	start_stp_serve --upstream "socks5h://127.0.0.1:$DANTE_PORT" --resolver "127.0.0.1:$DNS_PORT" \
		--upstream-local dns
	run -0 --separate-stderr bounded stp-resolve -x "127.0.0.1:$STP_PORT" -t A leak.test
	assert_match "$output" "127\.0\.0\.9"
	run -0 grep -q "query.*leak\.test" "$BATS_TEST_TMPDIR"/dnsmasq.*.err
}

# ---------------------------------------------------------------- ssh -D

@test "ssh -D upstream: BIND, UDP and DNS are refused with X'07'; no listener, no datagram from here" {
	start_sshd
	start_ssh_D
	start_count_udp
	start_stp_serve --upstream "socks5://127.0.0.1:$SSH_D_PORT"
	# ssh -D closes without a reply to BIND: the client gets X'07'
	run -0 --separate-stderr reply_of "$STP_PORT" 2 1 127.0.0.1 0
	assert_equal "$output" "reply 7"
	run -7 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" </dev/null
	[[ "$stderr" != *bound* ]]
	run -0 wait_for_line "$STP_LOG" "upstream: .*127\.0\.0\.1:$SSH_D_PORT closed the connection without a reply to BIND" 5
	echo ping >"$T/in"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	run -7 --separate-stderr bounded stp-resolve -x "127.0.0.1:$STP_PORT" -t A localhost
	no_datagram
	# SOCKS4 BIND is refused here (SOCKS4 reply 91), never bound locally
	run -0 --separate-stderr bounded "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(b"\x04\x02\x00\x00\x7f\x00\x00\x01\x00")
r = s.recv(8)
print("cd %d" % r[1] if len(r) > 1 else "closed")' "$STP_PORT"
	assert_equal "$output" "cd 91"
	run -0 grep -c "upstream: BIND 127\.0\.0\.1:0 refused" "$STP_LOG"
}

@test "ssh -D upstream with --upstream-local bind: BIND is served here again" {
	start_sshd
	start_ssh_D
	start_stp_serve --upstream "socks5://127.0.0.1:$SSH_D_PORT" --upstream-local bind
	run -0 --separate-stderr reply_of "$STP_PORT" 2 1 127.0.0.1 0
	assert_equal "$output" "reply 0"
}

# ---------------------------------------------------------------- stp-serve

# start_pair [UPSTREAM-ARGS...]: an stp-serve upstream (UP_PORT, UP_LOG) with
# a password, and the front under test chaining to it as alice.
start_pair() {
	make_users "$T/users" alice s3cret || return 1
	start_stp_serve -v --users "$T/users" "$@"
	UP_PORT=$STP_PORT UP_LOG=$STP_LOG
	start_stp_serve -v --upstream "socks5h://alice:s3cret@127.0.0.1:$UP_PORT"
}

@test "stp-serve upstream: UDP over TCP goes out from the upstream, which judges it" {
	start_count_udp
	start_pair --rules '[{"action":"deny","command":"udp","user":"bob"},{"action":"allow"}]'
	printf 'one\ntwo\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo')"
	run -0 wait_for_line "$UP_LOG" "user=alice cmd=udp-tcp .*result=\"ok\"" 10
	run -0 wait_for_line "$UP_LOG" "udp association client=.* datagrams up=2 down=2" 10
	! grep -q "udp association" "$STP_LOG"
}

@test "stp-serve upstream: its rules decide BIND and UDP over TCP (X'02' comes back)" {
	start_count_udp
	start_pair --rules '[{"action":"deny","command":"bind"},{"action":"deny","command":"udp"},{"action":"allow"}]'
	run -12 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" </dev/null
	echo ping >"$T/in"
	run -12 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	no_datagram
}

@test "stp-serve upstream: stp-bind and stp-bind -k listen on the upstream; peers reach the client" {
	start_pair
	# one BIND: the upstream listens, the peer's bytes come through both servers
	mkfifo "$T/bin"
	start_bg_stdin bind1 "$T/bin" stp-bind -x "127.0.0.1:$STP_PORT"
	exec 5>"$T/bin"
	local line port
	line=$(wait_for_line "$T/bind1.err" '^bound 127\.0\.0\.1 [0-9]+$' 10)
	port=${line##* }
	start_bg peer sh -c "exec 5>&-; echo 'from the peer' | nc -N 127.0.0.1 $port"
	run -0 wait_until "the peer's line" grep -q "from the peer" "$T/bind1.out"
	exec 5>&-
	run -0 wait_for_line "$UP_LOG" "user=alice cmd=bind .*result=\"ok\"" 10
	# BIND_MULTI: NOTICEs come from the upstream, ATTACH goes there too
	start_bg bindk stp-bind -k -x "127.0.0.1:$STP_PORT" -e 'echo "served $STP_PEER_PORT"'
	line=$(wait_for_line "$T/bindk.err" '^bound 127\.0\.0\.1 [0-9]+$' 10)
	port=${line##* }
	run -0 bounded nc 127.0.0.1 "$port" </dev/null
	assert_match "$output" "^served [0-9]+$"
	run -0 bounded nc 127.0.0.1 "$port" </dev/null
	assert_match "$output" "^served [0-9]+$"
	run -0 wait_for_line "$UP_LOG" "user=alice cmd=attach .*result=\"ok\"" 10
	run -0 wait_for_line "$STP_LOG" "upstream: ATTACH .* through 127\.0\.0\.1:$UP_PORT" 10
}

@test "stp-serve upstream: the DNS channel asks the upstream's resolver, never the local one" {
	start_dnsmasq --log-queries --address=/only-up.test/127.0.0.42 --local=/test/
	local up_dns=$DNS_PORT
	start_dnsmasq --log-queries --address=/only-up.test/127.0.0.66 --local=/test/
	local local_dns=$DNS_PORT
	make_users "$T/users" alice s3cret
	start_stp_serve --users "$T/users" --resolver "127.0.0.1:$up_dns"
	local up=$STP_PORT
	start_stp_serve --upstream "socks5h://alice:s3cret@127.0.0.1:$up" --resolver "127.0.0.1:$local_dns"
	run -0 --separate-stderr bounded stp-resolve -x "127.0.0.1:$STP_PORT" -t A only-up.test
	assert_match "$output" "only-up\.test\.? [0-9]+ IN A 127\.0\.0\.42"
	! grep -q "query.*only-up" "$T/dnsmasq.2.err"
}

@test "--upstream-local: needs --upstream, takes udp, bind, dns; the config key too" {
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --upstream-local udp
	assert_match "$stderr" "--upstream-local needs --upstream URL"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --upstream socks5h://127.0.0.1:1 --upstream-local udp,tcp
	assert_match "$stderr" "expected udp, bind or dns .*not 'tcp'"
	start_count_udp
	start_dante
	echo '{"upstream": "socks5h://127.0.0.1:'"$DANTE_PORT"'", "upstream-local": ["bind", "udp"]}' >"$T/c.json"
	start_stp_serve -v -c "$T/c.json"
	echo ping >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "ping"
	! grep -q "upstream: UDP ASSOCIATE" "$STP_LOG"
	# SIGHUP without the key: UDP goes through Dante's UDP ASSOCIATE again
	echo '{"upstream": "socks5h://127.0.0.1:'"$DANTE_PORT"'"}' >"$T/c.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" "SIGHUP: reloaded" 10
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "ping"
	run -0 grep -c "upstream: UDP ASSOCIATE 0\.0\.0\.0:0 through 127\.0\.0\.1:$DANTE_PORT (1 hop): ok" "$STP_LOG"
	assert_equal "$output" "1"
}
