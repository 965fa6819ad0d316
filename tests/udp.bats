#!/usr/bin/env bats
# stp-udp and stp-serve's UDP relay (UDP ASSOCIATE, UDP_BIND, UDP_TCP)
# against real peers: Dante, PySocks, dig and dnsmasq, ssh -D, and
# hand-made datagrams (tests/lib/udppeers.py).

bats_require_minimum_version 1.5.0
load lib/common
load lib/udp

HELP_HINT="try 'stp-udp --help'"

# ---------------------------------------------------------------- formats

@test "line format: each line a datagram to a UDP echo through stp-serve and back" {
	start_udp_echo
	start_stp_serve
	printf 'one\ntwo\n\nlast without newline' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\n\nlast without newline')"
	assert_equal "$stderr" ""
	run -0 udp_session_line "$STP_LOG" udp
	assert_match "$output" 'up=26 down=26 .*result="ok"'
}

@test "hex format through stp-serve: every byte value survives" {
	start_udp_echo
	start_stp_serve
	"$PY" -c 'print(bytes(range(256)).hex()); print("00 0a FF"); print()' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --format hex -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$("$PY" -c 'print(bytes(range(256)).hex()); print("000aff"); print()')"
}

@test "json format through stp-serve: from, base64 data, and a per-datagram \"to\"" {
	start_udp_echo
	local other
	start_bg udp-echo2 "$PY" "$UDPPEERS" echo
	other=$(_listen_port udp-echo2)
	start_stp_serve
	{
		echo '{"data":"aGVsbG8="}'
		echo "{\"to\":\"127.0.0.1:$other\",\"data\":\"AAECAw==\"}"
	} >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --format json -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	# two targets: their answers may come in either order
	run -0 sort "$T/out"
	assert_equal "$output" "$(printf '%s\n' \
		"{\"from\":\"127.0.0.1:$UDP_ECHO_PORT\",\"data\":\"aGVsbG8=\"}" \
		"{\"from\":\"127.0.0.1:$other\",\"data\":\"AAECAw==\"}" | sort)"
}

@test "--json implies json datagrams; a bad input line is reported and skipped" {
	start_udp_echo
	start_stp_serve
	printf 'not json\n{"data":"eA=="}\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --json -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "{\"from\":\"127.0.0.1:$UDP_ECHO_PORT\",\"data\":\"eA==\"}"
	assert_match "$stderr" "^stp-udp: stdin: json: .*: skipped$"
}

@test "raw format: one read, one datagram, written as is" {
	start_udp_echo
	start_stp_serve
	head -c 3000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --format raw -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "the proxy resolves a target name (socks5h) and caches it" {
	start_udp_echo
	start_stp_serve
	printf 'a\nb\nc\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "socks5h://127.0.0.1:$STP_PORT" localhost "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'a\nb\nc')"
}

# ---------------------------------------------------------------- other servers and clients

@test "through Dante sockd: line and json" {
	start_udp_echo
	start_dante
	printf 'via dante\nsecond\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "socks5://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'via dante\nsecond')"
	echo '{"data":"ZGFudGU="}' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --format json -x "socks5://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "{\"from\":\"127.0.0.1:$UDP_ECHO_PORT\",\"data\":\"ZGFudGU=\"}"
}

@test "PySocks UDP through stp-serve" {
	start_udp_echo
	start_stp_serve
	run -0 --separate-stderr udp_peer pysocks "$STP_PORT" "$UDP_ECHO_PORT" first second third
	assert_equal "$output" "$(printf 'first\nsecond\nthird')"
}

@test "a relay announced as 0.0.0.0: the proxy's address is used instead" {
	start_zeroproxy
	printf 'zero\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$ZERO_PORT" 127.0.0.1 9
	assert_equal "$(cat "$T/out")" zero
}

# ---------------------------------------------------------------- -L

@test "dig through stp-udp -L to a dnsmasq behind the proxy" {
	command -v dig >/dev/null || skip "dig is not installed"
	start_dnsmasq --local=/invalid/ --address=/udp.stp.test/192.0.2.53
	start_stp_serve
	start_bg stp-udp-fwd stp-udp -x "127.0.0.1:$STP_PORT" -L 0 127.0.0.1 "$DNS_PORT"
	local port
	port=$(_listen_port stp-udp-fwd)
	run -0 bounded dig +short +tries=1 +time=5 -p "$port" @127.0.0.1 udp.stp.test A
	assert_equal "$output" 192.0.2.53
	run -0 bounded dig +tries=1 +time=5 -p "$port" @127.0.0.1 nothing.invalid A
	assert_match "$output" 'status: NXDOMAIN'
}

@test "-L: concurrent local senders each get their own answers" {
	start_udp_echo
	start_stp_serve
	start_bg stp-udp-fwd stp-udp -x "127.0.0.1:$STP_PORT" -L 127.0.0.1:0 127.0.0.1 "$UDP_ECHO_PORT"
	local port
	port=$(_listen_port stp-udp-fwd)
	run -0 --separate-stderr udp_peer clients "$port" 8
	assert_equal "$output" ok
	# one association per sender; they end with the forwarder
	stop_bg stp-udp-fwd
	local deadline
	deadline=$(_deadline 10)
	until [ "$(grep -c 'cmd=udp ' "$STP_LOG")" = 8 ] || _past "$deadline"; do sleep 0.05; done
	assert_equal "$(grep -c 'cmd=udp ' "$STP_LOG")" 8
}

# ---------------------------------------------------------------- --listen, --tcp

@test "--listen: a peer sends to the bound address, stp-udp prints it and answers the last sender" {
	start_stp_serve
	hold_fifo in
	start_stp_udp stp-udp-listen "$T/in" -x "127.0.0.1:$STP_PORT" -l
	local line port
	line=$(wait_for_line "$T/stp-udp-listen.err" '^bound ' 10)
	assert_match "$line" '^bound 127\.0\.0\.1 [0-9]+$'
	port=${line##* }
	start_bg peer "$PY" "$UDPPEERS" send 127.0.0.1 "$port" "hello from a peer"
	wait_for_line "$T/stp-udp-listen.out" '^hello from a peer$' 10
	echo "answer" >"$T/in"
	wait_for_line "$T/peer.out" '^answer$' 10
	wait_exit "${BG_PID[peer]}" 5
	run -0 grep -q '^from 127\.0\.0\.1 ' "$T/peer.out"
}

@test "--listen --tcp: UDP_BIND with TCP_DELIVERY" {
	start_stp_serve
	hold_fifo in
	start_stp_udp stp-udp-listen "$T/in" -x "127.0.0.1:$STP_PORT" -l --tcp --json
	local line port
	line=$(wait_for_line "$T/stp-udp-listen.err" '"event":"bound"' 10)
	assert_match "$line" '^\{"event":"bound","addr":"127\.0\.0\.1","port":[0-9]+\}$'
	port=${line##*:}
	port=${port%\}}
	start_bg peer "$PY" "$UDPPEERS" send 127.0.0.1 "$port" "over tcp"
	wait_for_line "$T/stp-udp-listen.out" '"data":"b3ZlciB0Y3A="' 10
	echo '{"data":"YmFjaw=="}' >"$T/in"
	wait_for_line "$T/peer.out" '^back$' 10
	stop_bg hold-in
	wait_exit "${BG_PID[stp-udp-listen]}" 10
	run -0 udp_session_line "$STP_LOG" udp-bind
	assert_match "$output" 'up=4 down=8 '
}

@test "--tcp: the same exchange over the TCP connection (UDP_TCP)" {
	start_udp_echo
	start_stp_serve
	printf 'over\nthe\ntcp connection\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'over\nthe\ntcp connection')"
	run -0 udp_session_line "$STP_LOG" udp-tcp
	assert_match "$output" 'up=21 down=21 .*result="ok"'
	run -1 grep -q 'cmd=udp ' "$STP_LOG"
}

# ---------------------------------------------------------------- robustness

@test "malformed headers, FRAG!=0, a stranger, oversize, unsolicited: dropped and counted, association unharmed" {
	start_udp_echo
	start_stp_serve -v
	run -0 --separate-stderr udp_peer raw "$STP_PORT" "$UDP_ECHO_PORT"
	assert_equal "$output" ok
	run -0 udp_drops_line "$STP_LOG"
	assert_match "$output" 'up=5 down=5 dropped: stranger=1 malformed=8 frag=2 oversize=1 unknown-sender=1 full=0'
	start_http
	stp_serve_alive
}

@test "a flood on one association does not starve another" {
	start_udp_echo
	local flooded=$UDP_ECHO_PORT quiet n
	start_bg udp-echo2 "$PY" "$UDPPEERS" echo
	quiet=$(_listen_port udp-echo2)
	start_stp_serve -v
	# the flood runs until $T/stop exists (60 s at most)
	start_bg flood "$PY" "$UDPPEERS" flood "$STP_PORT" "$flooded" 60 "$T/stop"
	# the flood is on: its first echoes came back through the relay
	wait_for_line "$T/flood.err" '^flooding$' >/dev/null
	printf 'x\n' >"$T/in"
	# the flood has an echo of its own (which drops what it cannot
	# take); the relay's loop is what both associations share. --wait 2:
	# starved is no answer at all, slow on a busy machine is not
	for n in 1 2 3; do
		run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --wait 2 -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$quiet"
		assert_equal "$(cat "$T/out")" x
	done
	# and the flood was on all along: still running, then stopped
	kill -0 "${BG_PID[flood]}"
	touch "$T/stop"
	wait_exit "${BG_PID[flood]}" 10
	run -0 cat "$T/flood.out"
	assert_match "$output" '^sent [0-9]+ received [0-9]+$'
	# the relay carried it: the flood's association moved thousands
	wait_until "the flooded association's debug line" \
		grep -qE 'udp association .* datagrams up=[0-9]{4,} ' "$STP_LOG"
}

@test "the proxy ends the association (idle timeout): exit 1 with a message" {
	start_udp_echo
	start_stp_serve --idle-timeout 0.5
	hold_fifo in
	start_stp_udp stp-udp-u "$T/in" -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	echo ping >"$T/in"
	wait_for_line "$T/stp-udp-u.out" '^ping$' 10
	local rc=0
	wait_exit "${BG_PID[stp-udp-u]}" 10 || rc=$?
	assert_equal "$rc" 1
	assert_equal "$(cat "$T/stp-udp-u.err")" "stp-udp: proxy 127.0.0.1:$STP_PORT closed the association"
	run -0 udp_session_line "$STP_LOG" udp
	assert_match "$output" 'result="idle timeout"'
}

# ---------------------------------------------------------------- refusals and usage

@test "ssh -D has no UDP ASSOCIATE: exit 7 with a clear message" {
	start_sshd
	start_ssh_D
	run -7 --separate-stderr bounded stp-udp -x "127.0.0.1:$SSH_D_PORT" 127.0.0.1 53 </dev/null
	assert_equal "$stderr" "stp-udp: proxy 127.0.0.1:$SSH_D_PORT closed the connection without a reply to UDP ASSOCIATE (it does not support it)"
}

@test "Dante has no UDP_BIND or UDP_TCP: exit 7" {
	start_dante
	run -7 --separate-stderr bounded stp-udp -l -x "127.0.0.1:$DANTE_PORT" </dev/null
	assert_match "$stderr" "^stp-udp: proxy 127\.0\.0\.1:$DANTE_PORT .*UDP_BIND"
	run -7 --separate-stderr bounded stp-udp --tcp -x "127.0.0.1:$DANTE_PORT" 127.0.0.1 53 </dev/null
	assert_match "$stderr" "^stp-udp: proxy 127\.0\.0\.1:$DANTE_PORT .*UDP_TCP"
}

@test "usage errors exit 2 and point to --help" {
	run -2 --separate-stderr stp-udp -x 127.0.0.1:1 127.0.0.1
	assert_equal "$stderr" "stp-udp: missing PORT after HOST '127.0.0.1'; $HELP_HINT"
	run -2 --separate-stderr stp-udp -x 127.0.0.1:1
	assert_equal "$stderr" "stp-udp: missing HOST and PORT; $HELP_HINT"
	run -2 --separate-stderr stp-udp -x 127.0.0.1:1 --format xml h 1
	assert_equal "$stderr" "stp-udp: --format: expected line, raw, hex or json, not 'xml'; $HELP_HINT"
	run -2 --separate-stderr stp-udp -x 127.0.0.1:1 -l -L 0 h 1
	assert_equal "$stderr" "stp-udp: -L and -l do not go together; $HELP_HINT"
	run -2 --separate-stderr stp-udp 127.0.0.1 53
	assert_match "$stderr" "no proxy"
	NO_PROXY=127.0.0.1 run -2 --separate-stderr stp-udp -x 127.0.0.1:1 127.0.0.1 53
	assert_equal "$stderr" "stp-udp: 127.0.0.1 is to be reached directly (NO_PROXY or a \"direct\" route), and stp-udp sends only through a proxy; $HELP_HINT"
	run -3 --separate-stderr stp-udp -x "127.0.0.1:$(closed_port)" 127.0.0.1 53 </dev/null
	assert_match "$stderr" '^stp-udp: cannot reach proxy '
}

@test "rules judge each datagram's target: an allowed echo answers, another port is dropped" {
	start_bg udp-echo-2 "$PY" "$UDPPEERS" echo
	local other
	other=$(_listen_port udp-echo-2)
	start_udp_echo
	# the request's DST is the client itself: only the targets decide
	start_stp_serve -v --rules "[{\"action\":\"allow\",\"command\":\"udp\",\"to\":\"127.0.0.1/32\",\"ports\":\"$UDP_ECHO_PORT\"}]"
	printf 'allowed\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "allowed"
	printf 'denied\n' >"$T/in2"
	run -0 --separate-stderr io "$T/in2" "$T/out2" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$other"
	assert_equal "$(cat "$T/out2")" ""
	run -0 wait_for_line "$STP_LOG" 'denied=1' 10
	# a rule that denies UDP outright refuses the association at once
	start_stp_serve --rules '[{"action":"deny","command":"udp"},{"action":"allow"}]'
	run -12 --separate-stderr bounded stp-udp -x "127.0.0.1:$STP_PORT_2" 127.0.0.1 "$UDP_ECHO_PORT" </dev/null
}
