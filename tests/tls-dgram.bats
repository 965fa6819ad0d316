#!/usr/bin/env bats
# stp-udp and stp-mcast through TLS proxies (socks5s/socks5hs, issue 16):
# UDP ASSOCIATE with its control connection in TLS, UDP-OVER-TCP frames
# inside TLS, chains whose first hop is TLS (and TLS inside TLS), the -L
# forwarder with dig and dnsmasq, multicast in a namespace of its own, and
# the TLS errors. stp-serve --tls-listen with a test CA (make_pki).

bats_require_minimum_version 1.5.0
load lib/common
load lib/udp
load lib/mcast
load lib/resolve

setup_file() {
	make_pki "$BATS_FILE_TMPDIR/pki"
	# a CA that did not sign the proxy's certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$BATS_FILE_TMPDIR/other.key" -out "$BATS_FILE_TMPDIR/other.pem" -days 30 \
		-subj "/CN=some other CA" 2>/dev/null
	[ -s "$BATS_FILE_TMPDIR/other.pem" ]
}

setup() { stp_setup; CA=$BATS_FILE_TMPDIR/pki/ca.pem; }
teardown() { mc_teardown; }

# tls_serve [NETNS] -- [ARGS...]: stp-serve -v with a plain and a TLS
# listener (inside network namespace NETNS when given). Exports STP_PORT,
# TLS_PORT and STP_LOG.
tls_serve() {
	local pki=$BATS_FILE_TMPDIR/pki ns=() line
	if [ "$1" != -- ]; then
		ns=(ip netns exec "$1")
		shift
	fi
	shift
	start_bg stp-serve "${ns[@]}" stp-serve -v -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$pki/srv.pem" --key "$pki/srv.key" "$@"
	STP_LOG=$T/stp-serve.err
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10) || return 1
	TLS_PORT=$(echo "$line" | cut -d' ' -f3)
	STP_PORT=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$STP_LOG" | cut -d' ' -f3)
	export STP_PORT TLS_PORT STP_LOG
}

# ---------------------------------------------------------------- stp-udp

@test "UDP ASSOCIATE through socks5hs with --cacert: datagrams to a UDP echo and back" {
	start_udp_echo
	tls_serve --
	printf 'one\ntwo\n\nlast' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$CA" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" ""
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\n\nlast')"
	run -0 udp_session_line "$STP_LOG" udp
	assert_match "$output" 'up=10 down=10 .*result="ok"'
}

@test "--tcp through socks5s: UDP-OVER-TCP frames inside TLS, 100 datagrams in a burst" {
	start_udp_echo
	tls_serve --
	# more than one read's batch; not so many that the echo's own socket
	# buffer (Python, default size) drops some
	seq 1 100 >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp --wait 3 \
		-x "socks5s://127.0.0.1:$TLS_PORT" --cacert "$CA" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" ""
	# each datagram once (UDP to and from the echo may reorder)
	assert_equal "$(sort -n "$T/out" | uniq | wc -l)" 100
	assert_equal "$(wc -l <"$T/out")" 100
	run -0 udp_session_line "$STP_LOG" udp-tcp
	assert_match "$output" 'result="ok"'
	run -1 grep -q 'cmd=udp ' "$STP_LOG"
}

@test "--listen through TLS: UDP_BIND's second reply comes through, a peer is answered" {
	tls_serve --
	hold_fifo in
	start_stp_udp stp-udp-listen "$T/in" -x "socks5hs://127.0.0.1:$TLS_PORT" --cacert "$CA" -l
	local line port
	line=$(wait_for_line "$T/stp-udp-listen.err" '^bound ' 10)
	assert_match "$line" '^bound 127\.0\.0\.1 [0-9]+$'
	port=${line##* }
	start_bg peer "$PY" "$UDPPEERS" send 127.0.0.1 "$port" "hello over tls"
	wait_for_line "$T/stp-udp-listen.out" '^hello over tls$' 10
	echo "answer" >"$T/in"
	wait_for_line "$T/peer.out" '^answer$' 10
	wait_exit "${BG_PID[peer]}" 5
}

@test "chains: TLS then plain (ASSOCIATE), TLS inside TLS (--tcp)" {
	start_udp_echo
	tls_serve --
	printf 'via two hops\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --cacert "$CA" \
		-x "socks5hs://127.0.0.1:$TLS_PORT" -x "socks5h://127.0.0.1:$STP_PORT" \
		127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" ""
	assert_equal "$(cat "$T/out")" "via two hops"
	printf 'tls in tls\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp --cacert "$CA" \
		-x "socks5hs://127.0.0.1:$TLS_PORT" -x "socks5hs://127.0.0.1:$TLS_PORT" \
		127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" ""
	assert_equal "$(cat "$T/out")" "tls in tls"
}

@test "the proxy ends the association through TLS (idle timeout): exit 1 with a message" {
	start_udp_echo
	tls_serve -- --idle-timeout 0.5
	hold_fifo in
	start_stp_udp stp-udp-u "$T/in" -x "socks5hs://127.0.0.1:$TLS_PORT" --cacert "$CA" \
		127.0.0.1 "$UDP_ECHO_PORT"
	echo ping >"$T/in"
	wait_for_line "$T/stp-udp-u.out" '^ping$' 10
	local rc=0
	wait_exit "${BG_PID[stp-udp-u]}" 10 || rc=$?
	assert_equal "$rc" 1
	assert_equal "$(cat "$T/stp-udp-u.err")" "stp-udp: proxy 127.0.0.1:$TLS_PORT closed the association"
}

@test "dig through stp-udp -L with a TLS proxy to a dnsmasq behind it (UDP and --tcp)" {
	command -v dig >/dev/null || skip "dig is not installed"
	command -v dnsmasq >/dev/null || skip "dnsmasq is not installed"
	start_dnsmasq --local=/invalid/ --address=/tls.stp.test/192.0.2.54
	tls_serve --
	local port mode
	for mode in udp tcp; do
		local extra=()
		[ "$mode" = tcp ] && extra=(--tcp)
		start_bg "fwd-$mode" stp-udp "${extra[@]}" -x "socks5hs://127.0.0.1:$TLS_PORT" \
			--cacert "$CA" -L 0 127.0.0.1 "$DNS_PORT"
		port=$(_listen_port "fwd-$mode")
		run -0 bounded dig +short +tries=1 +time=5 -p "$port" @127.0.0.1 tls.stp.test A
		assert_equal "$output" 192.0.2.54
		run -0 bounded dig +tries=1 +time=5 -p "$port" @127.0.0.1 nothing.invalid A
		assert_match "$output" 'status: NXDOMAIN'
		assert_equal "$(cat "$T/fwd-$mode.err")" "listening 127.0.0.1 $port"
		# the sender's association ends with the forwarder
		stop_bg "fwd-$mode"
	done
	run -0 udp_session_line "$STP_LOG" udp
	run -0 udp_session_line "$STP_LOG" udp-tcp
}

@test "a CA that did not sign the proxy's certificate: exit 6 with the reason; -L logs it per sender" {
	start_udp_echo
	tls_serve --
	echo x >"$T/in"
	run -6 --separate-stderr io "$T/in" "$T/out" stp-udp -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/other.pem" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" "stp-udp: TLS to proxy 127.0.0.1: certificate verification failed: unable to get local issuer certificate; the CA that signed it is not in --cacert $BATS_FILE_TMPDIR/other.pem"
	run -6 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/other.pem" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$stderr" "stp-udp: TLS to proxy 127.0.0.1: certificate verification failed: unable to get local issuer certificate; the CA that signed it is not in --cacert $BATS_FILE_TMPDIR/other.pem"
	run -6 --separate-stderr stp-mcast -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/other.pem" 239.1.2.3 5000
	assert_equal "$stderr" "stp-mcast: TLS to proxy 127.0.0.1: certificate verification failed: unable to get local issuer certificate; the CA that signed it is not in --cacert $BATS_FILE_TMPDIR/other.pem"
	start_bg fwd stp-udp -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/other.pem" -L 0 127.0.0.1 "$UDP_ECHO_PORT"
	local port
	port=$(_listen_port fwd)
	"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))' "$port"
	run -0 wait_for_line "$T/fwd.err" 'association for local sender 127\.0\.0\.1:[0-9]+: TLS to proxy 127\.0\.0\.1: certificate verification failed' 10
}

# ---------------------------------------------------------------- stp-resolve --listen

@test "stp-resolve --listen through a TLS proxy: dig over UDP and TCP, a large answer, NXDOMAIN" {
	command -v dig >/dev/null || skip "dig is not installed"
	command -v dnsmasq >/dev/null || skip "dnsmasq is not installed"
	start_resolve_dns
	tls_serve -- --resolver "127.0.0.1:$DNS_PORT"
	start_bg stub stp-resolve -x "socks5hs://127.0.0.1:$TLS_PORT" --cacert "$CA" --listen 0
	local port
	port=$(_listen_port stub)
	run -0 bounded dig @127.0.0.1 -p "$port" +short +tries=1 +time=5 both.test A v4.test A
	assert_equal "$output" "$(printf '127.0.0.1\n127.0.0.2')"
	run -0 bounded dig @127.0.0.1 -p "$port" +short +tcp +time=5 txt.test TXT
	assert_equal "$output" '"hello world" "second string"'
	# over 512 bytes: truncated over UDP, then whole over TCP
	run -0 bounded dig @127.0.0.1 -p "$port" +noedns +short +tries=1 +time=5 big.test TXT
	assert_equal "$output" "\"$BIG_TXT\" \"$BIG_TXT\" \"$BIG_TXT\""
	run -0 bounded dig @127.0.0.1 -p "$port" +tries=1 +time=5 nosuch.test
	assert_match "$output" "status: NXDOMAIN"
	assert_equal "$(cat "$T/stub.err")" "listening 127.0.0.1 $port"
}

# ---------------------------------------------------------------- stp-mcast

# tls_mc_client NAME ARGS...: stp-mcast through the TLS listener, in the
# namespace, in the background; waits for "joined" and, with UDP
# delivery, until the relay knows it.
tls_mc_client() {
	local name=$1 known
	shift
	known=$(grep -c 'known at the relay' "$STP_LOG" 2>/dev/null) || true
	start_bg "$name" ip netns exec "$MC_NS" stp-mcast -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$CA" "$@"
	wait_for_line "$T/$name.err" '^joined ' 10 >/dev/null || return 1
	case " $* " in
	*" --tcp "*) ;;
	*) mc_wait_count 'known at the relay' $((known + 1)) ;;
	esac
}

@test "stp-mcast through TLS: receive (UDP and --tcp delivery), --send, --both --tcp" {
	mc_ns
	tls_serve "$MC_NS" --
	tls_mc_client mc-udp 239.1.5.1 5100
	tls_mc_client mc-tcp --tcp --format hex 239.1.5.1 5100
	assert_equal "$(cat "$T/mc-udp.err")" "joined 239.1.5.1 5100"
	mc_send 239.1.5.1 5100 one two
	mc_wait_lines "$T/mc-udp.out" 2
	assert_equal "$(cat "$T/mc-udp.out")" "$(printf 'one\ntwo')"
	mc_wait_lines "$T/mc-tcp.out" 2
	assert_equal "$(cat "$T/mc-tcp.out")" "$(printf '6f6e65\n74776f')"
	# --send: stdin's datagrams to the group, heard by both members
	printf 'sent\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --send \
		-x "socks5hs://127.0.0.1:$TLS_PORT" --cacert "$CA" 239.1.5.1 5100
	mc_wait_lines "$T/mc-udp.out" 3
	assert_equal "$(tail -1 "$T/mc-udp.out")" sent
	# --both --tcp: the sender hears its own datagram (multicast loopback)
	printf 'both\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --both --tcp \
		--wait 1 -x "socks5hs://127.0.0.1:$TLS_PORT" --cacert "$CA" 239.1.5.1 5100
	assert_equal "$(cat "$T/out")" both
	mc_wait_lines "$T/mc-tcp.out" 4
	assert_equal "$(tail -1 "$T/mc-tcp.out")" 626f7468
}

@test "stp-mcast through TLS: the proxy goes away, exit 1 with a message" {
	mc_ns
	tls_serve "$MC_NS" --
	tls_mc_client mc-a 239.1.5.2 5200
	kill -KILL "${BG_PID[stp-serve]}"
	local rc=0
	wait_exit "${BG_PID[mc-a]}" 10 || rc=$?
	assert_equal "$rc" 1
	assert_equal "$(cat "$T/mc-a.err")" "$(printf 'joined 239.1.5.2 5200\nstp-mcast: proxy 127.0.0.1:%s closed the association' "$TLS_PORT")"
}
