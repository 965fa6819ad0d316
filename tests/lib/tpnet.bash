# tests/lib/tpnet.bash - the network namespaces of tests/transparent.bats
# (and tools/bench-transparent): a client routed through a router that
# runs stp-serve --transparent.
#
#   client  (TP_C)  10.93.0.2, fd93::2   default routes via the router; no
#        |                               proxy settings of any kind
#   router  (TP_R)  10.93.0.1, fd93::1   forwards; nftables hands the
#        |          10.94.0.1, fd94::1   client's TCP and UDP to stp-serve
#        |                               (--transparent, --transparent-udp),
#        |                               which goes out through its upstream,
#        |                               another stp-serve on 127.0.0.1:1081
#   targets (TP_T)  10.94.0.2, fd94::2   http :80, a counter :81, sshd :22,
#                                        UDP echo :7, dnsmasq :53
#
# Processes are started with wn_bg (tests/lib/wrapnet.bash), so wn_down
# stops exactly them and removes the namespaces.

TP_TPORT=12345   # the transparent TCP listener's port on the router
TP_UPORT=12346   # the transparent UDP listener's port

# tp_net DIR: namespaces, links, routes, forwarding and the targets'
# servers (no stp-serve yet). Sets TP_C, TP_R, TP_T, WN_DIR.
tp_net() {
	WN_DIR=$1
	local tag="stpt-$$"
	TP_C=$tag-c TP_R=$tag-r TP_T=$tag-t
	export TP_C TP_R TP_T WN_DIR
	mkdir -p "$WN_DIR"
	: >"$WN_DIR/pids"
	echo "$TP_C $TP_R $TP_T" >"$WN_DIR/netns"
	ip netns add "$TP_C" && ip netns add "$TP_R" && ip netns add "$TP_T" || return 1
	ip link add rc netns "$TP_C" type veth peer name rr netns "$TP_R" || return 1
	ip link add rt netns "$TP_R" type veth peer name tt netns "$TP_T" || return 1
	wn_addr "$TP_C" rc 10.93.0.2 fd93::2
	wn_addr "$TP_R" rr 10.93.0.1 fd93::1
	wn_addr "$TP_R" rt 10.94.0.1 fd94::1
	wn_addr "$TP_T" tt 10.94.0.2 fd94::2
	ip -n "$TP_C" route add default via 10.93.0.1 || return 1
	ip -n "$TP_C" -6 route add default via fd93::1 || return 1
	ip -n "$TP_T" route add default via 10.94.0.1 || return 1
	ip -n "$TP_T" -6 route add default via fd94::1 || return 1
	ip netns exec "$TP_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
		return 1
	# the targets
	mkdir -p "$WN_DIR/www"
	echo "hello from the targets" >"$WN_DIR/www/index.html"
	(cd "$WN_DIR/www" && wn_bg http "$TP_T" python3 -u -m http.server --bind :: 80)
	# port 81: every connection that arrives is counted
	: >"$WN_DIR/hits81"
	wn_bg count81 "$TP_T" socat TCP6-LISTEN:81,ipv6only=0,fork,reuseaddr \
		SYSTEM:"echo hit >>$WN_DIR/hits81"
	wn_bg echo7 "$TP_T" python3 -u -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7))
print("echo ready", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"echo:" + d, a)'
	wn_bg tdns "$TP_T" dnsmasq -d -C /dev/null --no-resolv --no-hosts --no-poll --port=53 \
		--listen-address=10.94.0.2 --listen-address=fd94::2 --bind-interfaces \
		--local=/stp.test/ --host-record=web.stp.test,10.94.0.2,fd94::2
	tp_sshd || return 1
	wait_for_line "$WN_DIR/http.out" "Serving HTTP" 10 >/dev/null &&
		wait_for_line "$WN_DIR/echo7.out" "echo ready" 10 >/dev/null &&
		wait_for_line "$WN_DIR/tdns.err" "started" 10 >/dev/null &&
		wait_for_line "$WN_DIR/sshd.err" "^Server listening on :: port 22" 10 >/dev/null
}

# tp_sshd: an sshd in the targets on port 22 (both families).
tp_sshd() {
	local d=$WN_DIR/ssh
	mkdir -p "$d" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C hostkey -f "$d/host_key" </dev/null || return 1
	ssh-keygen -q -t ed25519 -N '' -C userkey -f "$d/user_key" </dev/null || return 1
	cp "$d/user_key.pub" "$d/authorized_keys"
	{
		echo "10.94.0.2 $(cut -d' ' -f1,2 "$d/host_key.pub")"
		echo "fd94::2 $(cut -d' ' -f1,2 "$d/host_key.pub")"
	} >"$d/known_hosts"
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 0.0.0.0:22
		ListenAddress [::]:22
		HostKey $d/host_key
		AuthorizedKeysFile $d/authorized_keys
		UsePAM no
		StrictModes no
		PidFile none
		PermitRootLogin yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
	EOF
	wn_bg sshd "$TP_T" /usr/sbin/sshd -D -e -f "$d/sshd_config"
}

# tp_rules: the router's policy routing (tproxy'd packets are marked 1
# and delivered locally), UDP to stp-serve by tproxy, and TCP by
# tp_tcp_mode redirect. The router's own connections (stp-serve's) are not
# touched: prerouting sees only what arrives, and only from the client's
# link is taken; `fib daddr type local return` leaves the router's own
# addresses alone.
tp_rules() {
	tp_udp_port "$TP_UPORT" || return 1
	ip -n "$TP_R" rule add fwmark 1 lookup 100 &&
		ip -n "$TP_R" route add local 0.0.0.0/0 dev lo table 100 &&
		ip -n "$TP_R" -6 rule add fwmark 1 lookup 100 &&
		ip -n "$TP_R" -6 route add local ::/0 dev lo table 100 &&
		tp_tcp_mode redirect
}

# tp_udp_port PORT: the client's UDP goes by tproxy to PORT on the router
# (the tables of tp_rules, made again).
tp_udp_port() {
	local fam
	for fam in ip ip6; do
		ip netns exec "$TP_R" nft delete table "$fam" stpudp 2>/dev/null || true
	done
	ip netns exec "$TP_R" nft -f - <<-EOF
		table ip stpudp {
			chain pre {
				type filter hook prerouting priority mangle; policy accept;
				fib daddr type local return
				iifname "rr" meta l4proto udp tproxy to :$1 meta mark set 1 accept
			}
		}
		table ip6 stpudp {
			chain pre {
				type filter hook prerouting priority mangle; policy accept;
				fib daddr type local return
				iifname "rr" meta l4proto udp tproxy to [fd93::1]:$1 meta mark set 1 accept
			}
		}
	EOF
}

# tp_tcp_mode redirect|tproxy|none [PORT]: how the client's TCP reaches
# stp-serve (nat redirect: SO_ORIGINAL_DST; tproxy: the accepted socket's
# address), or not at all (plain routing, for tools/bench-transparent);
# PORT is the transparent listener's (default TP_TPORT).
tp_tcp_mode() {
	local fam port=${2:-$TP_TPORT}
	for fam in ip ip6; do
		ip netns exec "$TP_R" nft delete table "$fam" stptcp 2>/dev/null || true
	done
	case $1 in
	redirect)
		ip netns exec "$TP_R" nft -f - <<-EOF
			table ip stptcp {
				chain pre {
					type nat hook prerouting priority dstnat; policy accept;
					iifname "rr" meta l4proto tcp redirect to :$port
				}
			}
			table ip6 stptcp {
				chain pre {
					type nat hook prerouting priority dstnat; policy accept;
					iifname "rr" meta l4proto tcp redirect to :$port
				}
			}
		EOF
		;;
	tproxy)
		ip netns exec "$TP_R" nft -f - <<-EOF
			table ip stptcp {
				chain pre {
					type filter hook prerouting priority mangle; policy accept;
					fib daddr type local return
					iifname "rr" meta l4proto tcp tproxy to :$port meta mark set 1 accept
				}
			}
			table ip6 stptcp {
				chain pre {
					type filter hook prerouting priority mangle; policy accept;
					fib daddr type local return
					iifname "rr" meta l4proto tcp tproxy to [fd93::1]:$port meta mark set 1 accept
				}
			}
		EOF
		;;
	esac
}

# tp_serve [ARGS...]: the upstream stp-serve on the router's loopback,
# then the transparent one with its rules (port 81 of the targets denied)
# and ARGS. Waits for both.
tp_serve() {
	wn_bg up "$TP_R" "$STP_TOP/bin/stp-serve" -l 127.0.0.1:1081
	wait_for_line "$WN_DIR/up.err" "^listening 127.0.0.1 1081" 10 >/dev/null || return 1
	wn_bg tp "$TP_R" "$STP_TOP/bin/stp-serve" -l 127.0.0.1:0 \
		--transparent "0.0.0.0:$TP_TPORT" --transparent "[::]:$TP_TPORT" \
		--transparent-udp "0.0.0.0:$TP_UPORT" --transparent-udp "[::]:$TP_UPORT" \
		--upstream socks5h://127.0.0.1:1081 -v \
		--rules '[{"action":"deny","to":"10.94.0.2/32","ports":"81"},{"action":"deny","to":"fd94::2/128","ports":"81"},{"action":"allow"}]' \
		"$@"
	wait_for_line "$WN_DIR/tp.err" "^listening :: $TP_UPORT transparent-udp" 10 >/dev/null
}

# tp_can: whether this machine lets the test build the set-up (else
# prints why).
tp_can() {
	wn_can || return 1
	if ! command -v nft >/dev/null; then
		echo "nft (nftables) is not installed"
		return 1
	fi
	local ns="stpt-can-$$" ok=0
	ip netns add "$ns" 2>/dev/null || { echo "ip netns add is not permitted here"; return 1; }
	ip netns exec "$ns" nft -f - 2>/dev/null <<-EOF || ok=1
		table ip t {
			chain p {
				type filter hook prerouting priority mangle;
				meta l4proto udp tproxy to :1 meta mark set 1 accept
			}
		}
	EOF
	ip netns del "$ns"
	[ "$ok" -eq 0 ] || { echo "the kernel has no nftables tproxy"; return 1; }
}

in_tclient() { ip netns exec "$TP_C" "$@"; }

# tp_ssh ADDR CMD: ssh from the client to the targets' sshd at ADDR.
tp_ssh() {
	local d=$WN_DIR/ssh addr=$1
	shift
	ip netns exec "$TP_C" ssh -F /dev/null -i "$d/user_key" -o BatchMode=yes \
		-o IdentitiesOnly=yes -o UserKnownHostsFile="$d/known_hosts" \
		-o StrictHostKeyChecking=yes -o ConnectTimeout=10 "root@$addr" "$@"
}

# tp_udp ADDR PORT TEXT: one datagram from the client, prints the answer.
tp_udp() {
	ip netns exec "$TP_C" python3 -c '
import socket, sys
a, p, t = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for _ in range(3):  # a datagram may be lost: the answer proves the path
    s.sendto(t.encode(), (a, p))
    try:
        d, src = s.recvfrom(65535)
    except socket.timeout:
        continue
    print(d.decode(), src[0], src[1])
    sys.exit(0)
sys.exit(1)' "$@"
}
