#!/usr/bin/env bats
# upudp-tp.bats - --transparent-udp with a plain SOCKS5 upstream (issue 18;
# SPEC §3.6): the router namespace of tests/lib/tpnet.bash runs Dante
# sockd as the upstream instead of an stp-serve. A tproxy'd UDP flow asks
# for UDP_TCP, which Dante lacks; stp-serve then uses Dante's UDP
# ASSOCIATE, and the client's dig and UDP echo get their answers from the
# targets, sent by Dante's relay (its log says so).

load lib/common
load lib/wrapnet
load lib/tpnet
bats_require_minimum_version 1.5.0

DPORT=1082   # Dante on the router's loopback

# tp_dante: Dante on 127.0.0.1:$DPORT in the router, going out on the
# targets' link, logging each datagram it relays; then the transparent
# stp-serve with Dante as its upstream. Waits for both.
tp_dante() {
	cat >"$WN_DIR/danted.conf" <<-EOF
		logoutput: stderr
		internal: 127.0.0.1 port = $DPORT
		external: 10.94.0.1
		external: fd94::1
		socksmethod: none
		clientmethod: none
		user.privileged: root
		user.unprivileged: nobody
		client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
		socks pass {
			from: 127.0.0.0/8 to: 0.0.0.0/0
			command: connect udpassociate
			log: connect disconnect iooperation
		}
		socks pass {
			from: 127.0.0.0/8 to: ::/0
			command: udpassociate
			log: connect disconnect iooperation
		}
		socks pass {
			from: 0.0.0.0/0 to: 127.0.0.0/8
			command: udpreply
			log: connect disconnect iooperation
		}
		socks pass {
			from: ::/0 to: 127.0.0.0/8
			command: udpreply
			log: connect disconnect iooperation
		}
	EOF
	wn_bg danted "$TP_R" danted -f "$WN_DIR/danted.conf" -p "$WN_DIR/danted.pid"
	wait_for_line "$WN_DIR/danted.err" "running" 10 >/dev/null || return 1
	wn_bg tp "$TP_R" "$STP_TOP/bin/stp-serve" -l 127.0.0.1:0 \
		--transparent-udp "0.0.0.0:$TP_UPORT" --transparent-udp "[::]:$TP_UPORT" \
		--upstream "socks5h://127.0.0.1:$DPORT" -v --rules '[{"action":"allow"}]'
	wait_for_line "$WN_DIR/tp.err" "^listening :: $TP_UPORT transparent-udp" 10 >/dev/null
}

# the namespaces, their rules and this suite's servers
ns_up() { tp_net "$BATS_FILE_TMPDIR/net" && tp_rules && tp_dante; }

setup_file() { ns_suite_up tp_can ns_up; }

teardown_file() {
	WN_DIR=$BATS_FILE_TMPDIR/net wn_down
}

setup() { ns_test_setup; }
teardown() { stp_teardown; }

# need_ns: the namespaces of setup_file (ns_need) and their names.
need_ns() {
	ns_need || return 1
	read -r TP_C TP_R TP_T <"$WN_DIR/netns"
	LOG=$WN_DIR/tp.err
	DLOG=$WN_DIR/danted.err
}

@test "dig from the client, redirected by tproxy, gets its answer through Dante's UDP relay, IPv4 and IPv6" {
	need_ns
	run -0 ip netns exec "$TP_C" dig +time=3 +tries=3 +short @10.94.0.2 web.stp.test A
	assert_equal "$output" "10.94.0.2"
	run -0 ip netns exec "$TP_C" dig +time=3 +tries=3 +short @fd94::2 web.stp.test AAAA
	assert_equal "$output" "fd94::2"
	# Dante relayed the queries from its external address to the resolver
	run -0 wait_for_line "$DLOG" "udp/udpassociate -: .* -> 10\.94\.0\.1\.[0-9]+ 10\.94\.0\.2\.53 " 5
	run -0 wait_for_line "$DLOG" "udp/udpassociate -: .* -> fd94::1\.[0-9]+ fd94::2\.53 " 5
	# the flows asked for UDP_TCP, which Dante lacks: its UDP ASSOCIATE carried them
	run -0 wait_for_line "$LOG" 'upstream: UDP ASSOCIATE 10\.94\.0\.2:53 through 127\.0\.0\.1:1082 \(1 hop\): ok' 5
}

@test "the UDP echo's answers come from the target's address and port, through Dante" {
	need_ns
	run -0 tp_udp 10.94.0.2 7 hello4
	assert_equal "$output" "echo:hello4 10.94.0.2 7"
	run -0 tp_udp fd94::2 7 hello6
	assert_equal "$output" "echo:hello6 fd94::2 7"
	run -0 wait_for_line "$DLOG" "udp/udpreply -: 10\.94\.0\.2\.7 10\.94\.0\.1\.[0-9]+ -> " 5
}
