#!/usr/bin/env bats
# sec-targets.bats - which targets stp-serve lets a client reach, and who
# may use a UDP association (stp-serve.1, RULES and SECURITY):
#   - rules judge the address the kernel really uses: 0.0.0.0, :: and
#     ::ffff:0.0.0.0 as loopback, v4-mapped IPv6 as IPv4, for CONNECT by
#     address and by name, SOCKS4, MUX streams and UDP datagrams;
#   - without a rule naming them, loopback, link-local and unspecified
#     targets are denied to clients that are not on loopback themselves;
#   - a UDP association takes datagrams from the control connection's host
#     only, unless --udp-any-sender.
#
# Each test makes a network namespace: lo with 127.0.0.1 and ::1, 10.200.0.1
# (the proxy's other address), 10.200.0.2 (a client that is not on
# loopback) and 169.254.169.254 (a metadata service on the proxy's host).
# stp-serve listens on 0.0.0.0 there; one echo server (TCP and UDP, every
# address) is the target; dnsmasq answers zero.test with 0.0.0.0. Without
# root, or where `ip netns add` fails, the tests skip saying why.

bats_require_minimum_version 1.5.0
load lib/common

SECT="$TESTLIB/sectargets.py"
NS=

setup() {
	stp_setup
	[ "$(id -u)" = 0 ] || skip "needs root to create a network namespace"
	command -v ip >/dev/null || skip "needs ip(8) (iproute2)"
	NS="stp-sec-$$-${BATS_TEST_NUMBER}"
	local err
	if ! err=$(ip netns add "$NS" 2>&1); then
		NS=
		skip "cannot create a network namespace: $err"
	fi
	ip -n "$NS" link set lo up
	ip -n "$NS" addr add 10.200.0.1/32 dev lo
	ip -n "$NS" addr add 10.200.0.2/32 dev lo
	ip -n "$NS" addr add 169.254.169.254/32 dev lo
	start_bg echo ip netns exec "$NS" "$PY" "$SECT" echo
	local line
	line=$(wait_for_line "$T/echo.err" '^listening echo [0-9]+$' 10)
	E=${line##* }
}

teardown() {
	local rc=0
	stp_teardown || rc=$?
	[ -z "$NS" ] || ip netns del "$NS" 2>/dev/null || true
	return "$rc"
}

in_ns() { ip netns exec "$NS" "$@"; }

# serve ARGS...: stp-serve -v on 0.0.0.0 in the namespace; sets P (port),
# LOOP (its address for a loopback client) and REMOTE (for 10.200.0.2).
serve() {
	start_bg stp-serve ip netns exec "$NS" stp-serve -v -l 0.0.0.0:0 "$@"
	local line
	line=$(wait_for_line "$T/stp-serve.err" '^listening 0\.0\.0\.0 [0-9]+$' 10) || return 1
	P=${line##* }
	LOOP="127.0.0.1:$P"
	REMOTE="10.200.0.1:$P"
}

# resolver: dnsmasq in the namespace on 127.0.0.1:5353, zero.test -> 0.0.0.0.
resolver() {
	start_bg dnsmasq ip netns exec "$NS" dnsmasq -d -C /dev/null --no-resolv --no-hosts \
		--no-poll --port=5353 --listen-address=127.0.0.1 --bind-interfaces \
		--user=root --group=root --host-record=zero.test,0.0.0.0
	wait_for_line "$T/dnsmasq.err" '^dnsmasq: started' 10 >/dev/null
}

sect() { in_ns "$PY" "$SECT" "$@"; }

# arrived: the datagrams the echo server got so far, in order ("d4 d0 d1").
# Once the answer to a client's last datagram is back, the echo has logged
# every earlier one that reached it (one socket, in order).
arrived() { sed -n 's/^udp \(d[0-9]*\) from .*/\1/p' "$T/echo.err" | paste -sd' '; }

DENY_LOCAL='[{"action":"deny","to":"127.0.0.0/8"},{"action":"deny","to":"::1"},
	{"action":"deny","to":"169.254.0.0/16"},{"action":"allow"}]'

@test "deny rules for loopback stop CONNECT to 0.0.0.0, ::, ::ffff:0.0.0.0 and a name for 0.0.0.0" {
	resolver
	serve --rules "$DENY_LOCAL" --resolver 127.0.0.1:5353
	run -0 sect connect "$LOOP" 127.0.0.1 "1/10.200.0.1/$E"
	[ "$output" = "reply 0 echo ping" ]
	for t in "1/0.0.0.0/$E" "4/::/$E" "4/::ffff:0.0.0.0/$E" "4/::ffff:127.0.0.1/$E" \
		"3/zero.test/$E" "1/127.0.0.1/$E"; do
		run -0 sect connect "$LOOP" 127.0.0.1 "$t"
		echo "$t: $output"
		[ "$output" = "reply 2" ]
	done
	grep -q 'rule 1 denies connect from 127.0.0.1 user - to 0.0.0.0:' "$T/stp-serve.err"
	grep -q 'rule 1 denies connect from 127.0.0.1 user - to zero.test:[0-9]* (0.0.0.0)' \
		"$T/stp-serve.err"
}

@test "deny rules for loopback stop SOCKS4 to 0.0.0.0 and MUX streams to unspecified addresses" {
	resolver
	serve --rules "$DENY_LOCAL" --resolver 127.0.0.1:5353
	run -0 sect socks4 "$LOOP" 127.0.0.1 10.200.0.1 "$E"
	[ "$output" = "reply 90 echo ping" ]
	run -0 sect socks4 "$LOOP" 127.0.0.1 0.0.0.0 "$E"
	[ "$output" = "reply 91" ]
	run -0 sect mux "$LOOP" 127.0.0.1 "1/10.200.0.1/$E"
	[ "$output" = "reply 0 echo ping" ]
	for t in "1/0.0.0.0/$E" "4/::/$E" "3/zero.test/$E"; do
		run -0 sect mux "$LOOP" 127.0.0.1 "$t"
		echo "$t: $output"
		[ "$output" = "reply 2" ]
	done
}

@test "deny rules for loopback stop UDP datagrams to unspecified addresses" {
	resolver
	serve --rules "$DENY_LOCAL" --resolver 127.0.0.1:5353
	# answers come back in the order sent: only the last target's does
	run -0 sect udp "$LOOP" 127.0.0.1 - - "1/0.0.0.0/$E" "4/::/$E" "4/::ffff:0.0.0.0/$E" \
		"3/zero.test/$E" "1/10.200.0.1/$E"
	[ "$output" = "got d4" ]
	[ "$(arrived)" = "d4" ]
}

@test "by default a client not on loopback reaches no loopback, link-local or unspecified target" {
	make_users "$T/users" alice secret
	serve --users "$T/users"
	run -0 sect connect "$REMOTE" 10.200.0.2 "1/10.200.0.1/$E" alice secret
	[ "$output" = "reply 0 echo ping" ]
	for t in "1/127.0.0.1/$E" "4/::1/$E" "1/169.254.169.254/$E" "1/0.0.0.0/$E" "4/::/$E" \
		"4/::ffff:127.0.0.1/$E"; do
		run -0 sect connect "$REMOTE" 10.200.0.2 "$t" alice secret
		echo "$t: $output"
		[ "$output" = "reply 2" ]
	done
	grep -q 'connect from 10.200.0.2 user alice to 169.254.169.254:[0-9]*: a loopback or link-local target, and no rule names it: denied' \
		"$T/stp-serve.err"
	# a client on loopback reaches its own host as before
	run -0 sect connect "$LOOP" 127.0.0.1 "1/127.0.0.1/$E" alice secret
	[ "$output" = "reply 0 echo ping" ]
	run -0 sect connect "$LOOP" 127.0.0.1 "1/169.254.169.254/$E" alice secret
	[ "$output" = "reply 0 echo ping" ]
}

@test "by default a client not on loopback sends no UDP to loopback or link-local targets" {
	make_users "$T/users" alice secret
	serve --users "$T/users"
	run -0 sect udp "$REMOTE" 10.200.0.2 alice secret "1/127.0.0.1/$E" \
		"1/169.254.169.254/$E" "1/0.0.0.0/$E" "4/::ffff:127.0.0.1/$E" "1/10.200.0.1/$E"
	[ "$output" = "got d4" ]
	[ "$(arrived)" = "d4" ]
	run -0 sect udp "$LOOP" 127.0.0.1 alice secret "1/127.0.0.1/$E" "1/10.200.0.1/$E"
	[ "$output" = "got d0 d1" ]
	[ "$(arrived)" = "d4 d0 d1" ]
}

@test "a rule whose to names a protected network allows it; to * does not" {
	serve --rules '[{"action":"allow","to":"169.254.169.254/32"},{"action":"allow","to":"*"}]'
	run -0 sect connect "$REMOTE" 10.200.0.2 "1/169.254.169.254/$E"
	[ "$output" = "reply 0 echo ping" ]
	run -0 sect mux "$REMOTE" 10.200.0.2 "1/169.254.169.254/$E"
	[ "$output" = "reply 0 echo ping" ]
	run -0 sect connect "$REMOTE" 10.200.0.2 "1/127.0.0.1/$E"
	[ "$output" = "reply 2" ]
	run -0 sect mux "$REMOTE" 10.200.0.2 "1/127.0.0.1/$E"
	[ "$output" = "reply 2" ]
	run -0 sect socks4 "$REMOTE" 10.200.0.2 0.0.0.0 "$E"
	[ "$output" = "reply 91" ]
	run -0 sect udp "$REMOTE" 10.200.0.2 - - "1/127.0.0.1/$E" "1/169.254.169.254/$E"
	[ "$output" = "got d1" ]
	[ "$(arrived)" = "d1" ]
}

@test "UDP ASSOCIATE: a host DST names cannot use another client's association" {
	make_users "$T/users" alice secret
	serve --users "$T/users"
	run -0 sect delegate "$LOOP" 127.0.0.1 10.200.0.2 "1/10.200.0.1/$E" alice secret
	[ "$output" = "first own" ]
}

@test "UDP ASSOCIATE with --udp-any-sender: the host DST names uses the association" {
	make_users "$T/users" alice secret
	serve --users "$T/users" --udp-any-sender
	run -0 sect delegate "$LOOP" 127.0.0.1 10.200.0.2 "1/10.200.0.1/$E" alice secret
	[ "$output" = "first other" ]
}
