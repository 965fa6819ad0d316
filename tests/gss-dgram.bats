#!/usr/bin/env bats
# stp-serve: UDP_BIND and MCAST on a GSS-API protected session (RFC 1961 §5):
# every datagram between the client and the relay endpoint is one sealed
# message (X'01' X'03' LEN TOKEN, TOKEN = gss_wrap(UDP header + data)), as
# for UDP ASSOCIATE; with TCP_DELIVERY the frames travel inside the
# protected stream. Real peers: a throw-away realm (Debian krb5-kdc,
# lib/krb5realm.bash), stp's own clients at integrity and confidentiality
# (stp-udp -l, stp-mcast), UDP peers and an echo (lib/udppeers.py), the
# multicast peers of lib/mcastpeers.py in a network namespace
# (lib/mcast.bash), and an RFC 1961 client written from the RFCs with
# Python's gssapi package (lib/gssdgram.py on lib/gssclient.py) that can
# tamper with a datagram or send one in clear.

bats_require_minimum_version 1.5.0
load lib/common
load lib/krb5realm
load lib/udp
load lib/mcast

GSSD="$BATS_TEST_DIRNAME/lib/gssdgram.py"

setup() {
	stp_setup
	krb5_proxy_setup
}

teardown() { mc_teardown; }

# bound_port FILE: waits for stp-udp -l's "bound ADDR PORT" line in FILE,
# prints PORT.
bound_port() {
	local line
	line=$(wait_for_line "$1" '^bound ' 10) || return 1
	assert_match "$line" '^bound 127\.0\.0\.1 [0-9]+$'
	echo "${line##* }"
}

# ---------------------------------------------------------------- UDP_BIND

@test "stp-udp -l at integrity and confidentiality through stp-serve: a peer's datagram in, the answer out to it, stdin's lines to an echo and back, each datagram sealed" {
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	local lv port n=0
	for lv in integrity confidentiality; do
		n=$((n + 1))
		# any peer may send to the bound port; the answer goes to it
		rm -f "$T/in"
		hold_fifo in
		start_stp_udp "bind-$lv" "$T/in" -v --gssapi --gssapi-protection "$lv" \
			-x "localhost:$STP_PORT" -l
		port=$(bound_port "$T/bind-$lv.err")
		run -0 grep -q "GSS-API protection $lv" "$T/bind-$lv.err"
		start_bg "peer-$lv" "$PY" "$UDPPEERS" send 127.0.0.1 "$port" "hello-$lv from a peer"
		wait_for_line "$T/bind-$lv.out" "^hello-$lv from a peer\$" 10
		echo "answer-$lv" >"$T/in"
		wait_for_line "$T/peer-$lv.out" "^answer-$lv\$" 10
		wait_exit "${BG_PID[peer-$lv]}" 5
		stop_bg hold-in
		wait_exit "${BG_PID[bind-$lv]}" 10
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
		wait_until "session line $n" lines_at_least "$STP_LOG" 'cmd=udp-bind .*result="ok"' "$n"
		# stdin's lines: out of the external socket to the echo and back
		printf 'one-%s\ntwo-%s\nthree-%s\n' "$lv" "$lv" "$lv" >"$T/lines"
		run -0 --separate-stderr io "$T/lines" "$T/out" stp-udp --wait 2 --gssapi \
			--gssapi-protection "$lv" -x "localhost:$STP_PORT" -l 127.0.0.1 "$UDP_ECHO_PORT"
		assert_equal "$(cat "$T/out")" "$(printf 'one-%s\ntwo-%s\nthree-%s' "$lv" "$lv" "$lv")"
	done
	# 4 sessions, every datagram unsealed: nothing dropped
	wait_until "4 association lines" lines_at_least "$STP_LOG" 'udp association .* dropped:' 4
	run -0 grep -c 'udp association .* dropped: stranger=0 malformed=0 ' "$STP_LOG"
	assert_equal "$output" 4
	run -1 grep -q 'refused: not carried\|dropped: GSS-API' "$STP_LOG"
}

@test "UDP_BIND on a protected session, the RFC 1961 client: a tampered datagram and a clear one are dropped with a line each, the next ones arrive" {
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	printf 'one\ntwo\nthree\nfour\n' >"$T/in"
	for lv in integrity confidentiality; do
		run -0 --separate-stderr bounded "$PY" "$GSSD" --level "$lv" "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
		assert_equal "$output" "$(printf 'one\ntwo\nthree\nfour')"
		assert_match "$stderr" "granted $([ $lv = integrity ] && echo 1 || echo 2)"
		assert_match "$stderr" 'bound 127\.0\.0\.1 [0-9]+'
	done
	run -1 grep -q 'dropped: GSS-API' "$STP_LOG"
	# the second datagram's token changed: dropped (no answer), the rest pass
	run -0 --separate-stderr bounded "$PY" "$GSSD" --level integrity --dgram-tamper 2 "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
	assert_equal "$output" "$(printf -- 'one\n-\nthree\nfour')"
	run -0 wait_for_line "$STP_LOG" 'udp: a datagram from the client dropped: GSS-API: (bad MIC|gss_unwrap failed)'
	# the third in clear: dropped too, and the fourth still unseals (a gap)
	run -0 --separate-stderr bounded "$PY" "$GSSD" --level confidentiality --dgram-clear 3 "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
	assert_equal "$output" "$(printf -- 'one\ntwo\n-\nfour')"
	run -0 wait_for_line "$STP_LOG" 'udp: a datagram from the client dropped: GSS-API: not one encapsulated message'
	# each counted as malformed in its association's line
	wait_until "4 association lines" lines_at_least "$STP_LOG" 'udp association .* dropped:' 4
	run -0 grep -c 'udp association .* up=3 down=3 dropped: stranger=0 malformed=1 ' "$STP_LOG"
	assert_equal "$output" 2
}

@test "stp-udp -l --tcp at integrity and confidentiality: UDP_BIND's TCP_DELIVERY frames inside the protected stream" {
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	local lv n=0
	for lv in integrity confidentiality; do
		n=$((n + 1))
		printf 'alpha-%s\nbeta-%s\n' "$lv" "$lv" >"$T/lines"
		run -0 --separate-stderr io "$T/lines" "$T/out" stp-udp --tcp -v --wait 2 --gssapi \
			--gssapi-protection "$lv" -x "localhost:$STP_PORT" -l 127.0.0.1 "$UDP_ECHO_PORT"
		assert_equal "$(cat "$T/out")" "$(printf 'alpha-%s\nbeta-%s' "$lv" "$lv")"
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
		wait_until "session line $n" lines_at_least "$STP_LOG" 'cmd=udp-bind .*up=[0-9]+ down=[0-9]+ .*result="ok"' "$n"
	done
	# a peer too: into the stream and its answer out
	rm -f "$T/in"
	hold_fifo in
	start_stp_udp bindtcp "$T/in" --tcp --gssapi --gssapi-protection confidentiality \
		-x "localhost:$STP_PORT" -l
	port=$(bound_port "$T/bindtcp.err")
	start_bg peer "$PY" "$UDPPEERS" send 127.0.0.1 "$port" "from a peer over tcp"
	wait_for_line "$T/bindtcp.out" '^from a peer over tcp$' 10
	echo back >"$T/in"
	wait_for_line "$T/peer.out" '^back$' 10
	run -1 grep -q 'refused: not carried' "$STP_LOG"
}

# ---------------------------------------------------------------- MCAST

# mc_gss_ns: the test's network namespace (lib/mcast.bash, or a skip), and
# tickets for rcmd/127.0.0.1 and rcmd/localhost fetched now: the KDC listens on the host's
# loopback, which the namespace does not reach; stp-mcast inside it finds
# the ticket in $KRB5CCNAME.
mc_gss_ns() {
	mc_ns
	kvno "rcmd/127.0.0.1@$KRB5_REALM" "rcmd/localhost@$KRB5_REALM" >/dev/null
}

@test "stp-mcast --gssapi-protection integrity through stp-serve: the group's datagrams reach it sealed, its own reach a listener on the group, the membership stays the server's" {
	mc_gss_ns
	mc_serve --gssapi-keytab "$KEYTAB"
	# receiving: the client announces its port with a sealed empty datagram
	mc_client gss-r --gssapi --gssapi-protection integrity 239.1.4.1 7001
	run -0 wait_for_line "$STP_LOG" 'GSS-API: protection integrity asked, integrity granted'
	mc_send 239.1.4.1 7001 one two
	mc_wait_lines "$T/gss-r.out" 2
	assert_equal "$(cat "$T/gss-r.out")" "$(printf 'one\ntwo')"
	# sending: stdin's datagrams, sealed to the relay, reach the group in clear
	start_bg listener ip netns exec "$MC_NS" "$PY" "$MCPEERS" recv 239.1.4.2 7002 3
	wait_for_line "$T/listener.err" '^joined$' 10 >/dev/null
	printf 'a\nbb\nccc\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --send \
		--gssapi --gssapi-protection integrity -x "127.0.0.1:$STP_PORT" 239.1.4.2 7002
	mc_wait_lines "$T/listener.out" 3
	assert_equal "$(cat "$T/listener.out")" "$(printf 'a\nbb\nccc')"
	run -0 wait_for_line "$STP_LOG" 'session .*user=alice@STP\.TEST cmd=mcast target=239\.1\.4\.2:7002 up=6 .*result="ok"'
	stop_bg gss-r
	run -0 wait_for_line "$STP_LOG" 'session .*user=alice@STP\.TEST cmd=mcast target=239\.1\.4\.1:7001 up=0 down=6 .*result="ok"'
	run -1 grep -q 'refused: not carried\|dropped: GSS-API' "$STP_LOG"
}

@test "stp-mcast --both at confidentiality, with and without --tcp: two protected clients talk through the group" {
	mc_gss_ns
	mc_serve --gssapi-keytab "$KEYTAB" --gssapi-protection confidentiality
	mc_client gss-r --gssapi 239.1.4.3 7003
	for tcp in "" --tcp; do
		printf 'hello%s\n' "$tcp" >"$T/in"
		run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --both $tcp \
			--wait 1 --gssapi -x "127.0.0.1:$STP_PORT" 239.1.4.3 7003
		# multicast loopback: the sender hears its own datagram as a member
		assert_equal "$(cat "$T/out")" "hello$tcp"
	done
	mc_wait_lines "$T/gss-r.out" 2
	assert_equal "$(cat "$T/gss-r.out")" "$(printf 'hello\nhello--tcp')"
	run -0 grep -c 'GSS-API: protection none asked, confidentiality granted' "$STP_LOG"
	assert_equal "$output" 3
	run -1 grep -q 'refused: not carried\|dropped: GSS-API' "$STP_LOG"
}

@test "MCAST on a protected session, the RFC 1961 client: a tampered datagram and a clear one are dropped with a line each, the next ones reach the group and come back sealed" {
	mc_gss_ns
	mc_serve --gssapi-keytab "$KEYTAB"
	printf 'one\ntwo\nthree\n' >"$T/in"
	# the first one tampered with: dropped (the relay learns the client's
	# port from the second, the first that unseals)
	run -0 --separate-stderr bounded ip netns exec "$MC_NS" "$PY" "$GSSD" --mcast --level integrity \
		--dgram-tamper 1 "$STP_PORT" 239.1.4.4 7004 <"$T/in"
	assert_equal "$output" "$(printf -- '-\ntwo\nthree')"
	run -0 wait_for_line "$STP_LOG" 'mcast: a datagram from the client dropped: GSS-API: (bad MIC|gss_unwrap failed)'
	# the second in clear, at confidentiality
	run -0 --separate-stderr bounded ip netns exec "$MC_NS" "$PY" "$GSSD" --mcast --level confidentiality \
		--dgram-clear 2 "$STP_PORT" 239.1.4.4 7004 <"$T/in"
	assert_equal "$output" "$(printf -- 'one\n-\nthree')"
	assert_match "$stderr" 'granted 2'
	run -0 wait_for_line "$STP_LOG" 'mcast: a datagram from the client dropped: GSS-API: not one encapsulated message'
	# two datagrams each way per session; the bad one counted as malformed
	wait_until "2 sessions" lines_at_least "$STP_LOG" 'cmd=mcast .* up=8 down=8 .*result="ok"' 2
	run -0 grep -cE 'mcast client=.* datagrams up=2 down=2 dropped: stranger=0 malformed=1 ' "$STP_LOG"
	assert_equal "$output" 2
}
