#!/usr/bin/env bats
# stp-mcast and stp-serve's MCAST: receiving a group's datagrams, sending
# to a group, shared memberships, policy refusals, TCP delivery, and a
# proxy without MCAST. Multicast runs in a network namespace per test
# (tests/lib/mcast.bash); those tests skip where one cannot be made.

bats_require_minimum_version 1.5.0
load lib/common
load lib/mcast

HELP_HINT="try 'stp-mcast --help'"

setup() { stp_setup; }
teardown() { mc_teardown; }

# ---------------------------------------------------------------- receiving

@test "receive: a peer's datagrams to the group reach stp-mcast, sender in json" {
	mc_ns
	mc_serve
	mc_client stp-mcast-a 239.1.2.3 5000
	mc_client stp-mcast-j --json 239.1.2.3 5000
	assert_equal "$(cat "$T/stp-mcast-a.err")" "joined 239.1.2.3 5000"
	assert_equal "$(cat "$T/stp-mcast-j.err")" '{"event":"joined","group":"239.1.2.3","port":5000}'
	mc_send 239.1.2.3 5000 one two
	mc_wait_lines "$T/stp-mcast-a.out" 2
	assert_equal "$(cat "$T/stp-mcast-a.out")" "$(printf 'one\ntwo')"
	mc_wait_lines "$T/stp-mcast-j.out" 2
	run -0 head -1 "$T/stp-mcast-j.out"
	assert_match "$output" '^\{"from":"127\.0\.0\.1:[0-9]+","data":"b25l"\}$'
	# the session line when it ends: the membership is the session's
	stop_bg stp-mcast-a
	run -0 wait_for_line "$STP_LOG" 'session .* cmd=mcast target=239\.1\.2\.3:5000 .*result="ok"'
}

@test "two clients on one group share one membership, both receive, the last one leaving drops it" {
	mc_ns
	mc_serve
	mc_client stp-mcast-a 239.1.2.4 5004
	mc_client stp-mcast-b 239.1.2.4 5004
	mc_send 239.1.2.4 5004 shared
	mc_wait_lines "$T/stp-mcast-a.out" 1
	mc_wait_lines "$T/stp-mcast-b.out" 1
	assert_equal "$(cat "$T/stp-mcast-a.out")" shared
	assert_equal "$(cat "$T/stp-mcast-b.out")" shared
	assert_equal "$(grep -c 'mcast: joined group 239.1.2.4:5004' "$STP_LOG")" 1
	stop_bg stp-mcast-a
	mc_wait_count 'mcast client=.* group=239\.1\.2\.4:5004' 1
	assert_equal "$(grep -c 'mcast: left group' "$STP_LOG")" 0
	mc_send 239.1.2.4 5004 after
	mc_wait_lines "$T/stp-mcast-b.out" 2
	stop_bg stp-mcast-b
	mc_wait_count 'mcast: left group 239\.1\.2\.4:5004' 1
}

@test "another group, or the same group on another port, does not leak in" {
	mc_ns
	mc_serve
	mc_client stp-mcast-a 239.1.2.5 5005
	mc_client stp-mcast-b 239.1.2.6 5006
	mc_client stp-mcast-c 239.1.2.6 5005
	mc_send 239.1.2.6 5006 other-group
	mc_send 239.1.2.5 5006 other-port
	mc_send 239.1.2.6 5005 same-port
	mc_send 239.1.2.5 5005 mine
	mc_wait_lines "$T/stp-mcast-a.out" 1
	mc_wait_lines "$T/stp-mcast-b.out" 1
	mc_wait_lines "$T/stp-mcast-c.out" 1
	assert_equal "$(cat "$T/stp-mcast-a.out")" mine
	assert_equal "$(cat "$T/stp-mcast-b.out")" other-group
	assert_equal "$(cat "$T/stp-mcast-c.out")" same-port
}

@test "--tcp: the group's datagrams arrive on the TCP connection" {
	mc_ns
	mc_serve
	mc_client stp-mcast-t --tcp --format hex 239.1.2.7 5007
	mc_send 239.1.2.7 5007 abc
	mc_wait_lines "$T/stp-mcast-t.out" 1
	assert_equal "$(cat "$T/stp-mcast-t.out")" 616263
}

@test "--source: source-specific membership hears only that source" {
	mc_ns
	mc_serve
	in_ns ip addr add 127.0.0.2/8 dev lo
	mc_client stp-mcast-s --source 127.0.0.2 239.1.2.8 5008
	mc_send 239.1.2.8 5008 --from 127.0.0.1 not-this-one
	mc_send 239.1.2.8 5008 --from 127.0.0.2 from-the-source
	mc_wait_lines "$T/stp-mcast-s.out" 1
	assert_equal "$(cat "$T/stp-mcast-s.out")" from-the-source
	run -0 grep 'mcast: joined group 239.1.2.8:5008 source 127.0.0.2' "$STP_LOG"
}

@test "IPv6: a group joined on --mcast-iface (a veth pair) receives and sends" {
	mc_ns
	# no duplicate address detection: the link-local addresses work at once
	in_ns sysctl -qw net.ipv6.conf.default.accept_dad=0 || skip "cannot turn IPv6 DAD off"
	in_ns ip link add mca type veth peer name mcb 2>/dev/null || skip "cannot make a veth pair"
	in_ns ip link set mca up
	in_ns ip link set mcb up
	mc_serve --mcast-iface mca
	mc_client stp-mcast-6 --json ff15::1 5010
	# a peer on the other end of the pair
	bounded ip netns exec "$MC_NS" "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("mcb"))
s.sendto(b"v6", ("ff15::1", 5010))'
	mc_wait_lines "$T/stp-mcast-6.out" 1
	assert_match "$(cat "$T/stp-mcast-6.out")" '^\{"from":"\[fe80::[0-9a-f:]+\]:[0-9]+","data":"djY="\}$'
	echo sent6 >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast -s -x "127.0.0.1:$STP_PORT" ff15::1 5010
	mc_wait_lines "$T/stp-mcast-6.out" 2
	assert_match "$(tail -1 "$T/stp-mcast-6.out")" '"data":"c2VudDY="'
	# an interface that is gone: network unreachable
	in_ns ip link del mca
	run -13 --separate-stderr ip netns exec "$MC_NS" stp-mcast -x "127.0.0.1:$STP_PORT" ff15::1 5010
	assert_match "$stderr" "network unreachable"
}

# ---------------------------------------------------------------- sending

@test "--send: stdin's datagrams reach a listener on the group; exit 0 at the end" {
	mc_ns
	mc_serve
	start_bg listener ip netns exec "$MC_NS" "$PY" "$MCPEERS" recv 239.1.3.1 6001 3
	wait_for_line "$T/listener.err" '^joined$' 10 >/dev/null
	printf 'a\nbb\nccc\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --send --ttl 1 -x "127.0.0.1:$STP_PORT" 239.1.3.1 6001
	# sending joins nothing: nothing to announce
	assert_equal "$stderr" ""
	mc_wait_lines "$T/listener.out" 3
	assert_equal "$(cat "$T/listener.out")" "$(printf 'a\nbb\nccc')"
	run -0 wait_for_line "$STP_LOG" 'session .* cmd=mcast .* up=6 '
}

@test "--ttl is capped by stp-serve --mcast-max-ttl" {
	mc_ns
	mc_serve --mcast-max-ttl 3
	start_bg listener ip netns exec "$MC_NS" "$PY" "$MCPEERS" recvttl 239.1.3.3 6003 2
	wait_for_line "$T/listener.err" '^joined$' 10 >/dev/null
	echo capped >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast -s --ttl 9 -x "127.0.0.1:$STP_PORT" 239.1.3.3 6003
	echo asked >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast -s --ttl 2 -x "127.0.0.1:$STP_PORT" 239.1.3.3 6003
	mc_wait_lines "$T/listener.out" 2
	assert_equal "$(cat "$T/listener.out")" "$(printf '3 capped\n2 asked')"
}

@test "--both with --tcp: two clients talk through the group" {
	mc_ns
	mc_serve
	mc_client stp-mcast-r 239.1.3.2 6002
	printf 'hello\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast --both --tcp --wait 1 -x "127.0.0.1:$STP_PORT" 239.1.3.2 6002
	mc_wait_lines "$T/stp-mcast-r.out" 1
	assert_equal "$(cat "$T/stp-mcast-r.out")" hello
	# multicast loopback: the sender hears its own datagram as a member
	assert_equal "$(cat "$T/out")" hello
}

# ---------------------------------------------------------------- refusals and ends

@test "a group outside --mcast-allow, or a direction it does not grant: exit 12, X'C2'" {
	mc_ns
	mc_serve --mcast-allow 239.1.0.0/16 --mcast-allow 239.9.0.0/16:7000-7010/recv
	run -12 --separate-stderr ip netns exec "$MC_NS" stp-mcast -x "127.0.0.1:$STP_PORT" 239.2.0.1 5000
	assert_match "$stderr" "^stp-mcast: proxy 127\.0\.0\.1:$STP_PORT refused MCAST 239\.2\.0\.1:5000: multicast group or source not permitted"
	run -12 --separate-stderr ip netns exec "$MC_NS" stp-mcast --send -x "127.0.0.1:$STP_PORT" 239.9.0.1 7005 </dev/null
	assert_match "$stderr" "multicast group or source not permitted"
	run -12 --separate-stderr ip netns exec "$MC_NS" stp-mcast -x "127.0.0.1:$STP_PORT" 239.9.0.1 7011
	run -0 grep -c "mcast 239.2.0.1:5000 from 127.0.0.1:[0-9]* refused: group not in --mcast-allow" "$STP_LOG"
	# listed: allowed
	mc_client stp-mcast-ok 239.9.0.1 7005
}

@test "the rules engine governs command mcast too: denied by rules is X'02'" {
	mc_ns
	mc_serve --rules '[{"action":"deny","command":"mcast","to":"239.3.0.0/16"},{"action":"allow"}]'
	run -12 --separate-stderr ip netns exec "$MC_NS" stp-mcast -x "127.0.0.1:$STP_PORT" 239.3.0.1 5000
	assert_match "$stderr" "not allowed by ruleset"
	mc_client stp-mcast-ok 239.4.0.1 5000
}

@test "the proxy closes the session: exit 1 with a message" {
	mc_ns
	mc_serve
	mc_client stp-mcast-a 239.1.4.1 5000
	kill -KILL "${BG_PID[stp-serve]}"
	local rc=0
	wait_exit "${BG_PID[stp-mcast-a]}" 10 || rc=$?
	assert_equal "$rc" 1
	assert_match "$(cat "$T/stp-mcast-a.err")" "stp-mcast: proxy 127\.0\.0\.1:$STP_PORT closed the association"
}

@test "a proxy without MCAST (Dante): exit 7 naming the feature" {
	command -v danted >/dev/null || skip "needs danted"
	start_dante
	run -7 --separate-stderr stp-mcast -x "127.0.0.1:$DANTE_PORT" 239.1.2.3 5000
	assert_equal "$stderr" "stp-mcast: proxy 127.0.0.1:$DANTE_PORT does not support MCAST (STP feature 'mcast')"
}

@test "FEATURES lists mcast" {
	start_stp_serve
	run -0 --separate-stderr stp-probe "socks5://127.0.0.1:$STP_PORT"
	assert_match "$output" "features.* mcast"
}

# ---------------------------------------------------------------- usage

@test "usage errors: exit 2 with a hint" {
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 10.0.0.1 5000
	assert_equal "$stderr" "stp-mcast: '10.0.0.1' is not a multicast group address (224.0.0.0/4 or ff00::/8); $HELP_HINT"
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 239.1.1.1
	assert_match "$stderr" "missing PORT after GROUP '239.1.1.1'"
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 --send --both 239.1.1.1 1
	assert_match "$stderr" "--send and --both do not go together"
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 --ttl 2 239.1.1.1 1
	assert_match "$stderr" "--ttl is for --send or --both"
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 --source ::1 239.1.1.1 1
	assert_match "$stderr" "--source: expected a numeric IPv4 address, not '::1'"
	run -2 --separate-stderr stp-mcast -x 127.0.0.1:1 --ttl 256 -s 239.1.1.1 1
	run -0 stp-mcast --help
	assert_match "$output" "GROUP PORT"
}

@test "stp-serve refuses a bad --mcast-allow or --mcast-max-ttl" {
	run -2 --separate-stderr stp-serve --mcast-allow 239.1.0.0/40
	assert_match "$stderr" "--mcast-allow: '239.1.0.0/40': bad prefix length"
	run -2 --separate-stderr stp-serve --mcast-allow 239.1.0.0/16/sometimes
	assert_match "$stderr" "expected recv, send or both"
	run -2 --separate-stderr stp-serve --mcast-max-ttl 300
	assert_match "$stderr" "--mcast-max-ttl"
	printf '{"mcast-allow": ["239.1.0.0/16", "239.2.0.0/99/recv"]}\n' >"$T/c.json"
	run -2 --separate-stderr stp-serve -c "$T/c.json"
	assert_match "$stderr" "c.json:1:2: mcast-allow\[1\]: '239.2.0.0/99/recv': bad prefix length"
}
