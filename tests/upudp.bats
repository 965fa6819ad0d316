#!/usr/bin/env bats
# UDP through a plain SOCKS5 upstream (issue 19 §4, issue 18; SPEC §3.6):
# stp-serve is itself a client of the upstream's UDP ASSOCIATE (RFC 1928
# §7) and relays its clients' datagrams (UDP ASSOCIATE, and UDP_TCP, which
# Dante lacks) through the upstream's relay. Real peers: Dante sockd (the
# upstream, logging every datagram it relays), ssh -D (which has no UDP:
# refused, nothing sent from here), dnsmasq (the local resolver, which must
# see no query: names go to the upstream as names), a counting UDP echo.
# And egress (issue 19 §3): the connections to the upstream and the
# datagrams to its relay leave from --egress.

bats_require_minimum_version 1.5.0
load lib/common

ST="$BATS_TEST_DIRNAME/lib/sockstest.py"

# start_count_udp [NAME]: a UDP echo that logs each datagram to
# $T/NAME.out (default countudp). Exports COUNT_PORT.
start_count_udp() {
	local name=${1:-countudp}
	start_bg "$name" "$PY" "$TESTLIB/countudp.py"
	COUNT_PORT=$(_listen_port "$name") || return 1
	export COUNT_PORT
}

# no_datagram [NAME]: the counting echo NAME got nothing.
no_datagram() {
	local f="$T/${1:-countudp}.out"
	if [ -s "$f" ]; then
		echo "a datagram reached the target:" >&2
		cat "$f" >&2
		return 1
	fi
}

# start_dante_udplog: Dante (DANTE_PORT) that logs every UDP association
# and every datagram it relays, either way, to $T/danted.*.err.
start_dante_udplog() {
	start_dante $'socks pass {\n from: 127.0.0.0/8 to: 0.0.0.0/0\n command: udpassociate\n log: connect disconnect iooperation\n}' \
		$'socks pass {\n from: 0.0.0.0/0 to: 127.0.0.0/8\n command: udpreply\n log: connect disconnect iooperation\n}'
}
dante_log() { cat "$T"/danted.*.err; }

@test "stp-udp through stp-serve and Dante: datagrams come back, sent by Dante's relay; the name goes to Dante unresolved" {
	start_dnsmasq --log-queries
	start_dante_udplog
	start_count_udp
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$DANTE_PORT" --resolver "127.0.0.1:$DNS_PORT"
	printf 'one\ntwo\nthree\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" localhost "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
	run -0 grep -c '^datagram from 127\.0\.0\.1 ' "$T/countudp.out"
	assert_equal "$output" "3"
	# the target heard them from Dante's relay socket, as Dante's log says
	local src
	src=$(head -1 "$T/countudp.out" | cut -d' ' -f4)
	run -0 grep -c "udp/udpassociate -: .* -> 127\.0\.0\.1\.$src 127\.0\.0\.1\.$COUNT_PORT " < <(dante_log)
	[ "$output" -ge 3 ]
	run -0 grep -c "udp/udpreply -: 127\.0\.0\.1\.$COUNT_PORT 127\.0\.0\.1\.$src -> " < <(dante_log)
	[ "$output" -ge 3 ]
	# "localhost" was Dante's to resolve: the local resolver saw nothing
	! grep -q 'query\[' "$T"/dnsmasq.*.err
	run -0 wait_for_line "$STP_LOG" 'cmd=udp target=0\.0\.0\.0:0 up=11 down=11 .*result="ok"' 5
}

@test "UDP over TCP (stp-udp --tcp): Dante lacks it, so Dante's UDP ASSOCIATE carries the datagrams" {
	start_dante_udplog
	start_count_udp
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$DANTE_PORT"
	printf 'over\ntcp\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'over\ntcp')"
	run -0 grep -c '^datagram from ' "$T/countudp.out"
	assert_equal "$output" "2"
	run -0 grep -c "udp/udpassociate -: .* -> 127\.0\.0\.1\.[0-9]* 127\.0\.0\.1\.$COUNT_PORT " < <(dante_log)
	[ "$output" -ge 2 ]
	run -0 wait_for_line "$STP_LOG" 'cmd=udp-tcp target=0\.0\.0\.0:0 up=7 down=7 .*result="ok"' 5
}

@test "the rules here judge each target before it goes to Dante: a denied one never arrives" {
	start_dante_udplog
	start_count_udp denied
	local denied=$COUNT_PORT
	start_count_udp
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$DANTE_PORT" \
		--rules "[{\"action\":\"deny\",\"command\":\"udp\",\"ports\":\"$denied\"},{\"action\":\"allow\"}]"
	echo ping >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$denied"
	assert_equal "$(cat "$T/out")" ""
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "ping"
	no_datagram denied
	! grep -q "127\.0\.0\.1\.$denied" < <(dante_log)
	run -0 wait_for_line "$STP_LOG" 'udp association .* denied=1$' 5
}

@test "a two-hop chain: UDP is refused with X'07' and a log line; no datagram leaves" {
	start_dante
	start_count_udp
	start_stp_serve
	local mid=$STP_PORT
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$mid" --upstream "socks5h://127.0.0.1:$DANTE_PORT"
	echo ping >"$T/in"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_match "$stderr" "refused UDP ASSOCIATE .*command not supported \(reply 7\)"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	run -0 grep -c "upstream: UDP refused: it goes through a one-hop upstream chain only" "$STP_LOG"
	assert_equal "$output" "2"
	no_datagram
}

@test "ssh -D upstream: UDP ASSOCIATE and UDP over TCP are refused with X'07' and a log line; no datagram leaves" {
	start_sshd
	start_ssh_D
	start_count_udp
	start_stp_serve -v --upstream "socks5://127.0.0.1:$SSH_D_PORT"
	echo ping >"$T/in"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_match "$stderr" "command not supported \(reply 7\)"
	run -0 grep -c "upstream: proxy 127\.0\.0\.1:$SSH_D_PORT closed the connection without a reply to UDP ASSOCIATE .*(client request UDP ASSOCIATE " "$STP_LOG"
	assert_equal "$output" "1"
	run -7 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	run -0 grep -c "upstream: proxy .* without a reply to UDP ASSOCIATE .*(client request UDP_TCP " "$STP_LOG"
	assert_equal "$output" "1"
	no_datagram
}

@test "the upstream's control connection ends: the association ends, and the client's control connection is closed" {
	start_dante
	start_count_udp
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$DANTE_PORT"
	# a client that holds its association open and reports when it ends
	start_bg holder "$PY" -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
c.sendall(b"\x05\x01\x00")
assert c.recv(2) == b"\x05\x00"
c.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
r = c.recv(10)
print("reply %d" % r[1], flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
relay = (socket.inet_ntoa(r[4:8]), int.from_bytes(r[8:10], "big"))
u.sendto(b"\x00\x00\x00\x01\x7f\x00\x00\x01" + int(sys.argv[2]).to_bytes(2, "big") + b"hi", relay)
u.settimeout(10)
print("echo %s" % u.recv(100)[10:].decode(), flush=True)
c.settimeout(30)
print("closed" if c.recv(1) == b"" else "data", flush=True)' "$STP_PORT" "$COUNT_PORT"
	run -0 wait_for_line "$T/holder.out" '^echo hi$' 10
	# Dante goes away: its end of the association's control connection closes
	kill -TERM -- "-${BG_PID[danted.1]}"
	run -0 wait_for_line "$T/holder.out" '^closed$' 10
	run -0 wait_for_line "$STP_LOG" 'cmd=udp .*result="upstream ended the association"' 5
}

@test "egress: the connection to the upstream and the datagrams to its relay leave from --egress" {
	start_dante_udplog
	start_count_udp
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$DANTE_PORT" --egress 127.0.0.2
	echo ping >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$COUNT_PORT"
	assert_equal "$(cat "$T/out")" "ping"
	# Dante saw its client (control connection and datagrams) at 127.0.0.2
	run -0 grep -c "udp/udpassociate -: 127\.0\.0\.2\.[0-9]* " < <(dante_log)
	[ "$output" -ge 1 ]
	! grep -q "udp/udpassociate -: 127\.0\.0\.1\." < <(dante_log)
	# a CONNECT's connection to an stp-serve upstream: its log names the source
	start_http
	start_stp_serve -v
	local up_log=$STP_LOG
	start_stp_serve -v --upstream "socks5h://127.0.0.1:$STP_PORT" --egress 127.0.0.3
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 wait_for_line "$up_log" 'session client=127\.0\.0\.3:[0-9]+ .*cmd=connect .*result="ok"' 5
}
