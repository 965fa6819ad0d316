#!/usr/bin/env bats
# stp-serve behind NAT (--advertise, --udp-ports; the clients' fallback to
# the proxy's own address; stp-probe's warning) and egress (--egress,
# --egress-interface, a rule's "egress"). The NAT and egress tests run in
# network namespaces they make (lib/nat.bash: nftables dnat on a router
# namespace); --udp-ports runs on loopback.

bats_require_minimum_version 1.5.0

load lib/common
load lib/nat

setup() { stp_setup; }
teardown() { nat_teardown; }

# -------------------------------------------------------------- behind NAT

@test "without --advertise: stp-probe warns of the private relay; stp-udp and stp-bind fall back to the proxy's address and say so with -v" {
	nat_net
	echo_udp echo "$NS_R" 10.77.0.1 7
	nat_serve
	run --separate-stderr bounded ip netns exec "$NS_C" stp-probe -w 5 \
		--udp-target 10.77.0.1:7 socks5://203.0.113.1:1080
	echo "$output"
	assert_match "$output" $'(^|\n)warn +udp +relay 10\\.77\\.0\\.2:[0-9]+ \\(a private address; proxy reached on 203\\.0\\.113\\.1: behind NAT\\? see stp-serve --advertise; the proxy.s address is used instead\\)'
	assert_match "$output" $'(^|\n)warn +bind +first reply 10\\.77\\.0\\.2:[0-9]+ \\(a private address'
	# the probe used the proxy's address instead: the round trip worked
	assert_match "$output" 'round trip to 10\.77\.0\.1:7'

	printf 'ping-nat\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$NS_C" \
		stp-udp -v -w 5 --wait 2 -x socks5://203.0.113.1:1080 10.77.0.1 7
	echo "$stderr"
	assert_equal "$(cat "$T/out")" "ping-nat"
	assert_match "$stderr" 'names 10\.77\.0\.2:[0-9]+ as its UDP relay \(a private address, not reachable from here\): using 203\.0\.113\.1:[0-9]+, the proxy.s own address'

	# stp-bind: the peer calls the public address
	start_bg bind ip netns exec "$NS_C" stp-bind -v -w 5 -x socks5://203.0.113.1:1080
	line=$(wait_for_line "$T/bind.err" '^bound ')
	assert_match "$line" '^bound 203\.0\.113\.1 [0-9]+$'
	assert_match "$(cat "$T/bind.err")" 'names 10\.77\.0\.2:[0-9]+ as where peers connect \(a private address'
	run -0 bounded ip netns exec "$NS_C" socat -u - "TCP4:203.0.113.1:${line##* }" <<<"peer-bytes"
	wait_until "stp-bind got the peer's bytes" size_at_least "$T/bind.out" 11
	assert_equal "$(cat "$T/bind.out")" "peer-bytes"
}

@test "--advertise: replies name the public address; stp-udp round trips without a fallback, stp-bind and stp-probe are content" {
	nat_net
	echo_udp echo "$NS_R" 10.77.0.1 7
	nat_serve --advertise 203.0.113.1
	printf 'ping-adv\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$NS_C" \
		stp-udp -v -w 5 --wait 2 -x socks5://203.0.113.1:1080 10.77.0.1 7
	echo "$stderr"
	assert_equal "$(cat "$T/out")" "ping-adv"
	assert_match "$stderr" "reply X'00' \\(succeeded\\), bound 203\\.0\\.113\\.1:[0-9]+"
	[[ $stderr != *"the proxy's own address"* ]]

	start_bg bind ip netns exec "$NS_C" stp-bind -v -w 5 -x socks5://203.0.113.1:1080
	line=$(wait_for_line "$T/bind.err" '^bound ')
	assert_match "$line" '^bound 203\.0\.113\.1 [0-9]+$'
	[[ $(cat "$T/bind.err") != *"the proxy's own address"* ]]
	run -0 bounded ip netns exec "$NS_C" socat -u - "TCP4:203.0.113.1:${line##* }" <<<"peer-bytes"
	wait_until "stp-bind got the peer's bytes" size_at_least "$T/bind.out" 11
	assert_equal "$(cat "$T/bind.out")" "peer-bytes"

	run --separate-stderr bounded ip netns exec "$NS_C" stp-probe -w 5 \
		--udp-target 10.77.0.1:7 socks5://203.0.113.1:1080
	echo "$output"
	assert_match "$output" $'(^|\n)ok +udp +relay 203\\.0\\.113\\.1:[0-9]+; round trip'
	assert_match "$output" $'(^|\n)ok +bind +first reply 203\\.0\\.113\\.1:'
}

@test "--advertise and --udp-ports: usage errors name the option" {
	run -2 stp-serve --advertise example.org
	assert_match "$output" "--advertise: expected an IPv4 or IPv6 address"
	run -2 stp-serve --advertise 192.0.2.1 --advertise 192.0.2.2
	assert_match "$output" "--advertise: a second IPv4 address \\('192\\.0\\.2\\.2'\\): one per address family"
	run -2 stp-serve --advertise 0.0.0.0
	assert_match "$output" "unspecified address"
	run -2 stp-serve --udp-ports 5000-4000
	assert_match "$output" "--udp-ports: 5000 is above 4000"
	run -2 stp-serve --udp-ports 0-10
	assert_match "$output" "--udp-ports"
	run -2 stp-serve --egress 10.0.0.1/8
	assert_match "$output" "--egress: expected an IPv4 or IPv6 address"
	run -2 stp-serve --egress-interface 'a/b'
	assert_match "$output" "--egress-interface: expected an interface name"
	run -2 stp-serve --rules '[{"action":"deny","egress":"192.0.2.1"}]'
	assert_match "$output" 'rules\[0\]\.egress: only an allow rule sends anything out'
	run -2 stp-serve --rules '[{"action":"allow","egress":"nowhere"}]'
	assert_match "$output" 'rules\[0\]\.egress: expected an IPv4 or IPv6 address'
}

@test "--udp-ports: relay ports come from the range; an exhausted range is refused (X'01', X'C5' for UDP_BIND) and logged" {
	lo_ns  # no other test's socket can hold a port of the range there
	start_bg stp-serve "${IN[@]}" stp-serve -v -l 127.0.0.1:0 --udp-ports 40310-40311
	STP_LOG="$T/stp-serve.err"
	STP_PORT=$(_listen_port stp-serve)
	printf 'a\n' >"$T/in"
	# two associations held open (stdin ends, --wait keeps them)
	start_bg u1 "${IN[@]}" stp-udp -v -w 5 --wait 60 -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 9
	start_bg u2 "${IN[@]}" stp-udp -v -w 5 --wait 60 -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 9
	r1=$(wait_for_line "$T/u1.err" "reply X'00'")
	r2=$(wait_for_line "$T/u2.err" "reply X'00'")
	assert_match "$r1" 'bound 127\.0\.0\.1:4031[01]$'
	assert_match "$r2" 'bound 127\.0\.0\.1:4031[01]$'
	[ "${r1##*:}" != "${r2##*:}" ]
	# the third finds none free
	run -11 --separate-stderr bounded "${IN[@]}" stp-udp -w 5 --wait 1 \
		-x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 9 <"$T/in"
	assert_match "$stderr" "general failure"
	wait_for_line "$STP_LOG" 'udp: no free port in --udp-ports 40310-40311: all 2 in use; UDP ASSOCIATE refused' >/dev/null
	# UDP_BIND takes two (relay and external): X'C5', address in use
	run -11 --separate-stderr bounded "${IN[@]}" stp-udp -l -w 5 --wait 1 \
		-x "socks5://127.0.0.1:$STP_PORT" <"$T/in"
	assert_match "$stderr" "X'C5'|address in use"
	wait_for_line "$STP_LOG" 'UDP_BIND refused' >/dev/null
	# once one is free again (its association's end logged), it is used again
	ends=$(grep -c 'udp association client=' "$STP_LOG") || ends=0
	stop_bg u1
	wait_until "u1's association ended" lines_at_least "$STP_LOG" 'udp association client=' $((ends + 1))
	run -0 --separate-stderr bounded "${IN[@]}" stp-udp -v -w 5 --wait 1 \
		-x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 9 <"$T/in"
	assert_match "$stderr" "bound 127\\.0\\.0\\.1:${r1##*:}"
}

@test "--udp-ports and --advertise from the configuration file" {
	cat >"$T/conf.json" <<-'EOF'
		{ "udp-ports": "40320-40329", "advertise": ["127.0.0.7"] }
	EOF
	start_stp_serve -c "$T/conf.json"
	run -0 --separate-stderr bounded stp-udp -v -w 5 --wait 1 -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 9 </dev/null
	assert_match "$stderr" 'bound 127\.0\.0\.7:4032[0-9]$'
}

# ------------------------------------------------------------------ egress

@test "egress: a rule's \"egress\" per user, --egress for the rest; the target sees that source (TCP and UDP)" {
	egress_net
	whoami_tcp who "$NS_E" 10.88.0.1 8080
	whoami_udp whou "$NS_E" 10.88.0.1 9000
	make_users "$T/users" alice pw-a bob pw-b
	start_bg stp-serve ip netns exec "$NS_E" stp-serve -v -l 127.0.0.1:0 --users "$T/users" \
		--egress 10.88.0.3 \
		--rules '[{"action":"allow","user":"alice","egress":"10.88.0.2"},
			  {"action":"allow","to":"10.88.0.1","ports":"8081","egress":"10.88.0.4"},
			  {"action":"allow"}]'
	STP_LOG="$T/stp-serve.err"
	port=$(_listen_port stp-serve)
	run -0 --separate-stderr bounded ip netns exec "$NS_E" stp-connect -w 5 \
		-x "socks5://alice:pw-a@127.0.0.1:$port" 10.88.0.1 8080 </dev/null
	assert_equal "$output" "10.88.0.2"
	run -0 --separate-stderr bounded ip netns exec "$NS_E" stp-connect -w 5 \
		-x "socks5://bob:pw-b@127.0.0.1:$port" 10.88.0.1 8080 </dev/null
	assert_equal "$output" "10.88.0.3"
	# per destination: the rule for port 8081 names its own source
	whoami_tcp who2 "$NS_E" 10.88.0.1 8081
	run -0 --separate-stderr bounded ip netns exec "$NS_E" stp-connect -w 5 \
		-x "socks5://bob:pw-b@127.0.0.1:$port" 10.88.0.1 8081 </dev/null
	assert_equal "$output" "10.88.0.4"
	# UDP ASSOCIATE's datagrams leave from the same source
	printf 'who\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$NS_E" stp-udp -w 5 --wait 2 \
		-x "socks5://alice:pw-a@127.0.0.1:$port" 10.88.0.1 9000
	assert_equal "$(cat "$T/out")" "10.88.0.2"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$NS_E" stp-udp -w 5 --wait 2 \
		-x "socks5://bob:pw-b@127.0.0.1:$port" 10.88.0.1 9000
	assert_equal "$(cat "$T/out")" "10.88.0.3"
}

@test "--egress-interface: connections leave by that interface only" {
	egress_net
	whoami_tcp who "$NS_T" 10.99.0.1 8080
	start_bg stp-serve ip netns exec "$NS_E" stp-serve -v -l 127.0.0.1:0 --egress-interface v0
	port=$(_listen_port stp-serve)
	run -0 --separate-stderr bounded ip netns exec "$NS_E" stp-connect -w 5 \
		-x "socks5://127.0.0.1:$port" 10.99.0.1 8080 </dev/null
	assert_equal "$output" "10.99.0.2"
	stop_bg stp-serve
	# d0 has no route to 10.99.0.0/24: bound to it, the target is unreachable
	start_bg stp-serve2 ip netns exec "$NS_E" stp-serve -v -l 127.0.0.1:0 --egress-interface d0
	port=$(_listen_port stp-serve2)
	run --separate-stderr bounded ip netns exec "$NS_E" stp-connect -w 5 \
		-x "socks5://127.0.0.1:$port" 10.99.0.1 8080 </dev/null
	echo "$stderr"
	[ "$status" -eq 13 ] || [ "$status" -eq 14 ]
	[ -z "$output" ]
}
