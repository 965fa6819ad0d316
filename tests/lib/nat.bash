# tests/lib/nat.bash - helpers of tests/nat.bats (after `load lib/common`).
#
# nat_net makes three network namespaces joined by veth pairs:
#
#   client NS_C 203.0.113.2 --- 203.0.113.1 router NS_R 10.77.0.1 --- 10.77.0.2 server NS_S
#
# The router forwards and DNATs every TCP and UDP packet that reaches
# 203.0.113.1 from the client's side to 10.77.0.2 (nftables `dnat`, ports
# kept), as a cloud's public address does; the server's default route is
# the router. The client has no route to 10.77.0.0/24: an address of the
# server's own network is out of its reach, as behind a real NAT.
#
# egress_net makes one namespace NS_E with an interface d0 holding
# 10.88.0.1 (the target) and 10.88.0.2, 10.88.0.3, 10.88.0.4 (sources),
# and a veth pair to NS_T (10.99.0.2 here, 10.99.0.1 there).
#
# Without root, ip(8) or nft(8), or where a namespace cannot be made, the
# tests skip saying why. Teardown deletes what the test made.

NAT_NS=()

# _ns_add NAME: makes namespace NAME with lo up, or skips.
_ns_add() {
	local err
	if ! err=$(ip netns add "$1" 2>&1); then
		skip "cannot create a network namespace: $err"
	fi
	NAT_NS+=("$1")
	ip -n "$1" link set lo up
}

_ns_need() {
	[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
	command -v ip >/dev/null || skip "needs ip(8) (iproute2)"
	command -v nft >/dev/null || skip "needs nft(8) (nftables)"
	command -v socat >/dev/null || skip "needs socat"
}

nat_net() {
	_ns_need
	local id="$$-${BATS_TEST_NUMBER}"
	NS_C="stp-natc-$id" NS_R="stp-natr-$id" NS_S="stp-nats-$id"
	_ns_add "$NS_C"
	_ns_add "$NS_R"
	_ns_add "$NS_S"
	ip -n "$NS_C" link add c0 type veth peer name r0 netns "$NS_R"
	ip -n "$NS_R" link add r1 type veth peer name s0 netns "$NS_S"
	ip -n "$NS_C" addr add 203.0.113.2/24 dev c0
	ip -n "$NS_R" addr add 203.0.113.1/24 dev r0
	ip -n "$NS_R" addr add 10.77.0.1/24 dev r1
	ip -n "$NS_S" addr add 10.77.0.2/24 dev s0
	ip -n "$NS_C" link set c0 up
	ip -n "$NS_R" link set r0 up
	ip -n "$NS_R" link set r1 up
	ip -n "$NS_S" link set s0 up
	ip -n "$NS_S" route add default via 10.77.0.1
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS_R" nft -f - <<-'EOF'
		table ip stpnat {
			chain pre {
				type nat hook prerouting priority dstnat;
				iifname "r0" ip daddr 203.0.113.1 meta l4proto { tcp, udp } dnat to 10.77.0.2
			}
		}
	EOF
}

egress_net() {
	_ns_need
	local id="$$-${BATS_TEST_NUMBER}"
	NS_E="stp-egr-$id" NS_T="stp-egt-$id"
	_ns_add "$NS_E"
	_ns_add "$NS_T"
	# a veth pair inside the namespace (the dummy module may be missing)
	ip -n "$NS_E" link add d0 type veth peer name d1
	ip -n "$NS_E" link set d0 up
	ip -n "$NS_E" link set d1 up
	for a in 10.88.0.1 10.88.0.2 10.88.0.3 10.88.0.4; do
		ip -n "$NS_E" addr add "$a/24" dev d0
	done
	ip -n "$NS_E" link add v0 type veth peer name v1 netns "$NS_T"
	ip -n "$NS_E" addr add 10.99.0.2/24 dev v0
	ip -n "$NS_T" addr add 10.99.0.1/24 dev v1
	ip -n "$NS_E" link set v0 up
	ip -n "$NS_T" link set v1 up
}

# lo_ns: IN=(ip netns exec NS) for a fresh namespace with only lo where
# namespaces can be made, else IN=() (the host's loopback).
lo_ns() {
	IN=()
	[ "$(id -u)" = 0 ] && command -v ip >/dev/null || return 0
	local ns="stp-natl-$$-${BATS_TEST_NUMBER}"
	ip netns add "$ns" 2>/dev/null || return 0
	NAT_NS+=("$ns")
	ip -n "$ns" link set lo up
	IN=(ip netns exec "$ns")
}

nat_teardown() {
	local rc=0 ns
	stp_teardown || rc=$?
	for ns in "${NAT_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	NAT_NS=()
	return "$rc"
}

# ns_listening NS PROTO PORT: something in NS listens on PROTO (tcp, udp)
# PORT (for wait_until).
ns_listening() {
	local flag=-t
	[ "$2" = udp ] && flag=-u
	ip netns exec "$1" ss -Hln "$flag" "sport = :$3" | grep -q .
}

# whoami_tcp NAME NS ADDR PORT: a TCP service at ADDR:PORT in NS that
# answers each connection with the address it came from, one line.
whoami_tcp() {
	start_bg "$1" ip netns exec "$2" socat "TCP4-LISTEN:$4,bind=$3,reuseaddr,fork" \
		SYSTEM:'echo $SOCAT_PEERADDR'
	wait_until "$1 listens on $3:$4" ns_listening "$2" tcp "$4"
}

# whoami_udp NAME NS ADDR PORT: the same for UDP: each datagram is answered
# with the sender's address.
whoami_udp() {
	start_bg "$1" ip netns exec "$2" socat "UDP4-RECVFROM:$4,bind=$3,fork" \
		SYSTEM:'echo $SOCAT_PEERADDR'
	wait_until "$1 listens on udp $3:$4" ns_listening "$2" udp "$4"
}

# echo_udp NAME NS ADDR PORT: a UDP echo service at ADDR:PORT in NS.
echo_udp() {
	start_bg "$1" ip netns exec "$2" socat "UDP4-RECVFROM:$4,bind=$3,fork" PIPE
	wait_until "$1 listens on udp $3:$4" ns_listening "$2" udp "$4"
}

# nat_serve ARGS...: stp-serve -v in NS_S on 10.77.0.2:1080, open (the
# namespaces are the test's own). Exports STP_LOG.
nat_serve() {
	start_bg stp-serve ip netns exec "$NS_S" stp-serve -v -l 10.77.0.2:1080 --open "$@"
	STP_LOG="$BATS_TEST_TMPDIR/stp-serve.err"
	wait_for_line "$STP_LOG" '^listening 10\.77\.0\.2 1080$' >/dev/null
}
