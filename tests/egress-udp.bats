#!/usr/bin/env bats
# egress-udp.bats - --egress for the datagram commands beyond UDP ASSOCIATE
# (issue 19 §3; SPEC §3.6; nat.bats has CONNECT and UDP ASSOCIATE, and
# upudp.bats the connections to upstreams): UDP_BIND's external socket is
# bound to the egress address, which its reply names and its peers see;
# MCAST's datagrams to a group leave from it. On loopback addresses
# 127.0.0.2/127.0.0.3 (UDP_BIND) and in a network namespace (MCAST).

bats_require_minimum_version 1.5.0
load lib/common
load lib/mcast

teardown() { mc_teardown; }

# udp_bind_peer PROXY-PORT: a raw UDP_BIND client (X'D3') and a peer: the
# peer sends to the external address of the reply, the client answers it
# through its relay; prints "ext ADDR PORT" and "peer saw ADDR PORT".
udp_bind_peer() {
	bounded "$PY" -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
c.settimeout(10)
c.sendall(b"\x05\x01\x00")
assert c.recv(2) == b"\x05\x00"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.settimeout(10)
port = u.getsockname()[1].to_bytes(2, "big")
c.sendall(b"\x05\xd3\x00\x01\x7f\x00\x00\x01" + port + b"\x00\x00")
def reply():
    r = b""
    while len(r) < 12:
        r += c.recv(12 - len(r))
    assert r[1] == 0, "reply %d" % r[1]
    return socket.inet_ntoa(r[4:8]), int.from_bytes(r[8:10], "big")
relay, ext = reply(), reply()
print("ext %s %d" % ext, flush=True)
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p.bind(("127.0.0.3", 0))
p.settimeout(10)
p.sendto(b"hello", ext)
d = u.recv(100)
hdr = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.3") + p.getsockname()[1].to_bytes(2, "big")
assert d == hdr + b"hello", d
u.sendto(hdr + b"back", relay)
d, src = p.recvfrom(100)
assert d == b"back", d
print("peer saw %s %d" % src, flush=True)' "$1"
}

@test "UDP_BIND with --egress: the external socket is on the egress address; the reply names it, peers see it" {
	start_stp_serve -v --egress 127.0.0.2
	run -0 udp_bind_peer "$STP_PORT"
	local ext_port
	ext_port=$(echo "$output" | awk '/^ext /{print $3}')
	assert_match "$output" "ext 127\.0\.0\.2 $ext_port"
	assert_match "$output" "peer saw 127\.0\.0\.2 $ext_port"
	# without --egress: the listener's address, as before
	start_stp_serve -v
	run -0 udp_bind_peer "$STP_PORT"
	assert_match "$output" "ext 127\.0\.0\.1 [0-9]+"
	assert_match "$output" "peer saw 127\.0\.0\.1 [0-9]+"
}

@test "MCAST --send with --egress: the group hears the datagrams from the egress address" {
	mc_ns
	mc_serve --egress 127.0.0.2
	start_bg listener ip netns exec "$MC_NS" "$PY" -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("239.1.9.1", 6091))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton("239.1.9.1"), socket.inet_aton("0.0.0.0")))
s.settimeout(20)
print("joined", file=sys.stderr, flush=True)
d, a = s.recvfrom(100)
print(d.decode(), a[0], flush=True)'
	wait_for_line "$T/listener.err" '^joined$' 10 >/dev/null
	echo egress >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ip netns exec "$MC_NS" stp-mcast -s -x "127.0.0.1:$STP_PORT" 239.1.9.1 6091
	mc_wait_lines "$T/listener.out" 1
	assert_equal "$(cat "$T/listener.out")" "egress 127.0.0.2"
}
