#!/usr/bin/env bats
# wrap.bats - stp-connect --wrap CMD (SPEC §3.1): real programs that know
# nothing of proxies (curl, wget, ssh, git, python3, a C program with a
# non-blocking connect and epoll, sh -c chains) reach targets from a client
# namespace that has no route to them, through stp-serve in a proxy
# namespace, by names that only the targets' dnsmasq knows; the client's
# own resolver (a dnsmasq logging every query) sees no query from them.
# The namespaces (tests/lib/wrapnet.bash) are made once for the file.

load lib/common
load lib/wrapnet
bats_require_minimum_version 1.5.0

setup_file() {
	ns_suite_up wn_can wn_up "$BATS_FILE_TMPDIR/net"
	[ ! -f "$BATS_FILE_TMPDIR/skip" ] || return 0
	cc -O2 -Wall -Wextra -Werror -o "$BATS_FILE_TMPDIR/nbconnect" "$STP_TOP/tests/lib/nbconnect.c"
	# a loopback server inside the client namespace (reached directly)
	mkdir -p "$BATS_FILE_TMPDIR/lo" && echo "client loopback" >"$BATS_FILE_TMPDIR/lo/index.html"
	(cd "$BATS_FILE_TMPDIR/lo" && wn_bg lohttp "$WN_C" python3 -u -m http.server --bind 127.0.0.1 8080)
	wait_for_line "$WN_DIR/lohttp.out" "Serving HTTP" 10 >/dev/null || return 1
	# a resolver the client reaches directly at a non-loopback address of
	# its own (10.93.0.1; the proxy has no route to it), and a name for it
	# in the client's hosts file (ip netns exec shows /etc/netns/NS/hosts)
	# and at fd93::1 for IPv6: names with only an A record (dns), only an
	# AAAA record (dns6), and both (dns46)
	ip -n "$WN_C" addr add 10.93.0.1/32 dev wc || return 1
	ip -n "$WN_C" addr add fd93::1/128 dev wc nodad || return 1
	printf '%s\n' "10.93.0.1 dns.direct.test" "fd93::1 dns6.direct.test" \
		"10.93.0.1 dns46.direct.test" "fd93::1 dns46.direct.test" >"/etc/netns/$WN_C/hosts"
	# the client's lookups sort IPv4 first (as a host whose IPv6 is only
	# ULA may): a socket of one family must still get that family's address
	printf '%s\n' "precedence ::ffff:0:0/96 100" "precedence ::/0 40" \
		>"/etc/netns/$WN_C/gai.conf"
	wn_bg ddns "$WN_C" dnsmasq -d -C /dev/null --no-resolv --no-hosts --no-poll --port=53 \
		--listen-address=10.93.0.1 --listen-address=fd93::1 --bind-interfaces \
		--local=/direct.test/ --log-queries --host-record=here.direct.test,10.93.0.7
	# an http server there too (IPv6 only), for direct TCP
	mkdir -p "$BATS_FILE_TMPDIR/d6" && echo "client fd93::1" >"$BATS_FILE_TMPDIR/d6/index.html"
	(cd "$BATS_FILE_TMPDIR/d6" && wn_bg d6http "$WN_C" python3 -u -m http.server --bind fd93::1 8081)
	wait_for_line "$WN_DIR/ddns.err" "started" 10 >/dev/null &&
		wait_for_line "$WN_DIR/d6http.out" "Serving HTTP" 10 >/dev/null
}

teardown_file() {
	WN_DIR=$BATS_FILE_TMPDIR/net wn_down
}

setup() { ns_test_setup; }
teardown() { stp_teardown; }

# need_ns: the namespaces of setup_file (ns_need) and their names.
need_ns() {
	ns_need || return 1
	WN_DNSLOG=$WN_DIR/client-dns.log
	read -r WN_C WN_P WN_T <"$WN_DIR/netns"
	NBC=$BATS_FILE_TMPDIR/nbconnect
	SSH_D=$WN_DIR/ssh
	queries_before=$(queries)
}

# queries: how many queries the client namespace's resolver has logged.
queries() { grep -c 'query\[' "$WN_DNSLOG" 2>/dev/null || true; }

# no_new_queries: none since the test began (shows them if there are).
no_new_queries() {
	local now
	now=$(queries)
	[ "$now" -eq "$queries_before" ] && return 0
	echo "the client's resolver was asked:" >&2
	grep 'query\[' "$WN_DNSLOG" | tail -n $((now - queries_before)) >&2
	return 1
}

# wrap CMD...: stp-connect --wrap CMD in the client namespace, bounded.
wrap() {
	timeout $((30 * STP_SLOW)) ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" \
		-w 10 -x socks5h://10.91.0.1:1080 --wrap "$@"
}

@test "without --wrap the client namespace cannot resolve the targets' names, and its resolver logs the query" {
	need_ns
	run -6 in_client curl -sS -m 5 http://web.stp.test/
	[ "$(queries)" -gt "$queries_before" ]
	run -7 in_client curl -sS -m 5 http://10.92.0.2/
}

@test "curl and wget reach a target by a name only the targets' resolver knows; no DNS query leaves" {
	need_ns
	run --separate-stderr -0 wrap curl -sS http://web.stp.test/
	[ "$output" = "hello from the targets" ]
	run --separate-stderr -0 wrap wget -q -O - http://web.stp.test/
	[ "$output" = "hello from the targets" ]
	no_new_queries
}

@test "IPv6: curl -6 by name and by literal; the proxy is told the name" {
	need_ns
	run --separate-stderr -0 wrap curl -sS -6 http://web6.stp.test/
	[ "$output" = "hello from the targets" ]
	run --separate-stderr -0 wrap curl -sS 'http://[fd92::2]/'
	[ "$output" = "hello from the targets" ]
	run --separate-stderr -0 timeout 20 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -v \
		-x socks5h://10.91.0.1:1080 --wrap curl -sS -6 http://web6.stp.test/
	[[ $stderr == *"request CONNECT web6.stp.test:80"* ]]
	no_new_queries
}

@test "ssh reaches sshd by name (ssh's own getaddrinfo, connect, getpeername)" {
	need_ns
	run --separate-stderr -0 wrap ssh -F /dev/null -i "$SSH_D/user_key" -o BatchMode=yes \
		-o IdentitiesOnly=yes -o UserKnownHostsFile="$SSH_D/known_hosts" \
		-o StrictHostKeyChecking=yes -o ConnectTimeout=10 root@ssh.stp.test echo wrapped-ssh
	[ "$output" = "wrapped-ssh" ]
	no_new_queries
}

@test "git clone over http: git's exec'd helper (git-remote-http) stays wrapped" {
	need_ns
	run --separate-stderr -0 wrap git clone -q http://web.stp.test/repo.git "$T/clone"
	run -0 git -C "$T/clone" log --format=%s
	[ "$output" = "wrapped clone" ]
	no_new_queries
}

@test "python3: urllib, gethostbyname, gethostbyaddr and getnameinfo of a placeholder give the name back" {
	need_ns
	run --separate-stderr -0 wrap python3 -c '
import socket, urllib.request
print(urllib.request.urlopen("http://web.stp.test/", timeout=10).read().decode().strip())
a = socket.gethostbyname("web.stp.test")
print(a.startswith("198.18.") or a.startswith("198.19."))
print(socket.gethostbyaddr(a)[0])
print(socket.getnameinfo((a, 80), 0)[0])
print(socket.getaddrinfo("web.stp.test", 80, socket.AF_INET6)[0][4][0].startswith("100::"))
'
	[ "${lines[0]}" = "hello from the targets" ]
	[ "${lines[1]}" = "True" ]
	[ "${lines[2]}" = "web.stp.test" ]
	[ "${lines[3]}" = "web.stp.test" ]
	[ "${lines[4]}" = "True" ]
	no_new_queries
}

@test "UDP: dig asks the targets' resolver through the proxy, IPv4 and IPv6; the client's resolver hears nothing" {
	need_ns
	command -v dig >/dev/null || skip "needs dig (Debian dnsutils)"
	run --separate-stderr -0 wrap dig +short +tries=1 +time=5 @10.92.0.2 web.stp.test A
	[ "$output" = "10.92.0.2" ]
	run --separate-stderr -0 wrap dig +short +tries=1 +time=5 @fd92::2 web6.stp.test AAAA
	[ "$output" = "fd92::2" ]
	# without --wrap the client namespace has no route to that resolver
	run in_client dig +short +tries=1 +time=2 @10.92.0.2 web.stp.test A
	[ "$status" -ne 0 ] || [ -z "$output" ]
	no_new_queries
}

@test "UDP: sendto/recvfrom, sendmsg/recvmsg and a connected socket keep their bytes; the source is the target, not the agent" {
	need_ns
	run --separate-stderr -0 wrap python3 -c '
import socket, struct
def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
def answer(d, qid):
    assert struct.unpack(">H", d[:2])[0] == qid, "id"
    return socket.inet_ntoa(d[-4:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(query("web.stp.test", 1), ("10.92.0.2", 53))
d, src = s.recvfrom(512); print(answer(d, 1), src)
s.sendmsg([query("ssh.stp.test", 2)], [], 0, ("10.92.0.2", 53))
d, anc, fl, src = s.recvmsg(512); print(answer(d, 2), src)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(10)
c.connect(("10.92.0.2", 53)); c.send(query("web.stp.test", 3))
print(answer(c.recv(512), 3), c.getpeername())
'
	[ "${lines[0]}" = "10.92.0.2 ('10.92.0.2', 53)" ]
	[ "${lines[1]}" = "10.92.0.2 ('10.92.0.2', 53)" ]
	[ "${lines[2]}" = "10.92.0.2 ('10.92.0.2', 53)" ]
	no_new_queries
}

@test "a non-blocking connect watched by epoll completes with SO_ERROR 0, IPv4 and IPv6" {
	need_ns
	run --separate-stderr -0 wrap "$NBC" web.stp.test 80
	[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
	run --separate-stderr -0 wrap "$NBC" fd92::2 80
	[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
	no_new_queries
}

@test "forks and execs stay wrapped and share the placeholders: sh -c 'curl; python3'" {
	need_ns
	run --separate-stderr -0 wrap sh -c '
curl -sS http://web.stp.test/
a=$(python3 -c "import socket; print(socket.gethostbyname(\"ssh.stp.test\"))")
python3 -c "import socket, sys; print(socket.gethostbyaddr(sys.argv[1])[0])" "$a"'
	[ "${lines[0]}" = "hello from the targets" ]
	[ "${lines[1]}" = "ssh.stp.test" ]
	no_new_queries
}

@test "errors reach the program as a direct connection's errno, with one line each under -v" {
	need_ns
	# refused by the target: curl's "connection refused" exit, ECONNREFUSED
	run --separate-stderr -7 wrap curl -sS http://10.92.0.2:9/
	run --separate-stderr -1 wrap "$NBC" 10.92.0.2 9
	[ "$output" = "error: ECONNREFUSED" ]
	# denied by the proxy's rules: EACCES
	run --separate-stderr -1 wrap "$NBC" 10.92.0.2 81
	[ "$output" = "error: EACCES" ]
	# no such name (the proxy's resolver says so): EHOSTUNREACH
	run --separate-stderr -1 wrap "$NBC" nosuch.stp.test 80
	[ "$output" = "error: EHOSTUNREACH" ]
	# unreachable network behind the proxy: ENETUNREACH
	run --separate-stderr -1 wrap "$NBC" 10.93.0.1 80
	[ "$output" = "error: ENETUNREACH" ]
	run --separate-stderr -1 timeout 20 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -v \
		-x socks5h://10.91.0.1:1080 --wrap "$NBC" 10.92.0.2 81
	[ "$output" = "error: EACCES" ]
	[[ $stderr == *"stp-connect: wrap: proxy 10.91.0.1:1080 refused CONNECT 10.92.0.2:81: "*"(reply 2)"* ]]
	[ "$(grep -c 'wrap: proxy' <<<"$stderr")" -eq 1 ]
	no_new_queries
}

@test "loopback targets go direct; NO_PROXY targets go direct (and here find no route)" {
	need_ns
	run --separate-stderr -0 timeout 20 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -v \
		-x socks5h://10.91.0.1:1080 --wrap curl -sS http://127.0.0.1:8080/
	[ "$output" = "client loopback" ]
	[[ $stderr != *"wrap:"* ]]
	NO_PROXY=10.92.0.2 run --separate-stderr -7 wrap curl -sS http://10.92.0.2/
	run --separate-stderr -0 wrap curl -sS http://10.92.0.2/
	[ "$output" = "hello from the targets" ]
}

@test "the exit status is the command's; its arguments are its own" {
	need_ns
	run -42 wrap sh -c 'exit 42'
	run -0 wrap sh -c 'echo "$1 $2"' sh -x -v
	[ "$output" = "-x -v" ]
	run -0 wrap sh -c 'case $LD_PRELOAD in *libstp-wrap.so) echo yes ;; esac'
	[ "$output" = yes ]
}

@test "the agent asks for the token: a wrong one is refused" {
	need_ns
	run --separate-stderr -0 wrap python3 -c '
import os, socket
host, port = os.environ["STP_WRAP"].rsplit(":", 1)
for pw in (b"wrong-token-xxxxxxxxxxxxxxxxxxxx", os.environ["STP_WRAP_TOKEN"].encode()):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"\x05\x01\x02" + bytes([1, 4]) + b"wrap" + bytes([len(pw)]) + pw)
    got = b""
    while len(got) < 4:
        d = s.recv(4 - len(got))
        if not d: break
        got += d
    print(got.hex())
    s.close()
'
	[ "${lines[0]}" = "05020101" ]
	[ "${lines[1]}" = "05020100" ]
}

@test "a statically linked command is refused with exit 7, pointing at --transparent" {
	command -v busybox >/dev/null || skip "needs busybox-static"
	run --separate-stderr -7 stp-connect -x socks5h://127.0.0.1:9 --wrap busybox true
	[[ $stderr == "stp-connect: --wrap: "*"/busybox is statically linked: no dynamic loader reads LD_PRELOAD, so its connections cannot be wrapped; use stp-serve --transparent" ]]
}

@test "a set-user-ID command is refused with exit 7, saying why" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to make a set-user-ID file of another user"
	cp /bin/true "$T/sutrue"
	chown nobody "$T/sutrue"
	chmod 4755 "$T/sutrue"
	run --separate-stderr -7 stp-connect -x socks5h://127.0.0.1:9 --wrap "$T/sutrue"
	[ "$stderr" = "stp-connect: --wrap: $T/sutrue is set-user-ID or set-group-ID: the dynamic loader ignores LD_PRELOAD for it, so its connections cannot be wrapped; use stp-serve --transparent" ]
}

@test "usage: --wrap needs a command and a proxy, takes no HOST PORT, and an unknown command is 127" {
	run --separate-stderr -2 stp-connect -x socks5h://127.0.0.1:9 --wrap
	[[ $stderr == "stp-connect: --wrap needs a command"* ]]
	run --separate-stderr -2 stp-connect --wrap true
	[[ $stderr == *"no proxy"* ]]
	run --separate-stderr -2 stp-connect -x socks5h://127.0.0.1:9 example.org 80 --wrap true
	[[ $stderr == *"--wrap takes no HOST PORT"* ]]
	run --separate-stderr -2 stp-connect -z -x socks5h://127.0.0.1:9 --wrap true
	[[ $stderr == *"--wrap does not go with -z"* ]]
	run --separate-stderr -127 stp-connect -x socks5h://127.0.0.1:9 --wrap no-such-command-here
	[ "$stderr" = "stp-connect: --wrap: no-such-command-here: command not found" ]
}

@test "--config routes decide per target: a name through the proxy, the rest direct" {
	need_ns
	cat >"$T/routes.json" <<-'JSON'
	{"proxies": {"p": "socks5h://10.91.0.1:1080"},
	 "routes": [{"match": "*.stp.test", "via": ["p"]}, {"match": "*", "via": "direct"}]}
	JSON
	run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" \
		-w 10 --config "$T/routes.json" --wrap curl -sS http://web.stp.test/
	[ "$output" = "hello from the targets" ]
	# 10.92.0.2 is routed direct, and the client namespace has no route to it
	run --separate-stderr -7 timeout 30 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" \
		-w 10 --config "$T/routes.json" --wrap curl -sS http://10.92.0.2/
	no_new_queries
}

# udp_sessions: how many UDP associations the proxy has logged.
udp_sessions() { grep -c 'cmd=udp ' "$WN_DIR/serve.err" || true; }
udp_sessions_are() { [ "$(udp_sessions)" -eq "$1" ]; }

# direct_routes: --config routes sending 10.93.0.1 and *.direct.test
# direct, the rest through the proxy.
direct_routes() {
	cat >"$T/routes.json" <<-'JSON'
	{"proxies": {"p": "socks5h://10.91.0.1:1080"},
	 "routes": [{"match": "10.93.0.1", "via": "direct"}, {"match": "*.direct.test", "via": "direct"},
	            {"match": "*", "via": ["p"]}]}
	JSON
}

@test "UDP routed direct by --config: dig gets its answer from the client's own resolver at 10.93.0.1, no association" {
	need_ns
	command -v dig >/dev/null || skip "needs dig (Debian dnsutils)"
	direct_routes
	before=$(udp_sessions)
	run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -v \
		-w 10 --config "$T/routes.json" --wrap dig +short +tries=1 +time=5 @10.93.0.1 here.direct.test A
	[ "$output" = "10.93.0.7" ]
	[[ $stderr == *"wrap: udp to 10.93.0.1:53 goes direct"* ]]
	[ "$(udp_sessions)" -eq "$before" ]
	# through the proxy the same query finds no route (the test can fail)
	run --separate-stderr wrap dig +short +tries=1 +time=2 @10.93.0.1 here.direct.test A
	[ "$status" -ne 0 ] || [ -z "$output" ]
}

@test "UDP: NO_PROXY sends dig straight to 10.93.0.1; no association" {
	need_ns
	command -v dig >/dev/null || skip "needs dig (Debian dnsutils)"
	before=$(udp_sessions)
	NO_PROXY=10.93.0.1 run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" \
		"$STP_TOP/bin/stp-connect" -v -w 10 -x socks5h://10.91.0.1:1080 \
		--wrap dig +short +tries=1 +time=5 @10.93.0.1 here.direct.test A
	[ "$output" = "10.93.0.7" ]
	[[ $stderr == *"wrap: udp to 10.93.0.1:53 goes direct"* ]]
	[ "$(udp_sessions)" -eq "$before" ]
}

@test "UDP: one socket talks to a direct and a proxied resolver; each answer reports its own source" {
	need_ns
	direct_routes
	before=$(udp_sessions)
	run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -v \
		-w 10 --config "$T/routes.json" --wrap python3 -c '
import socket, struct
def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
def answer(d):
    return struct.unpack(">H", d[:2])[0], socket.inet_ntoa(d[-4:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
for i in range(2):
    s.sendto(query("here.direct.test", 10 + i), ("10.93.0.1", 53))
    d, src = s.recvfrom(512); print(answer(d), src)
    s.sendto(query("web.stp.test", 20 + i), ("10.92.0.2", 53))
    d, src = s.recvfrom(512); print(answer(d), src)
# by name (a fresh socket): the route says direct, so the agent resolves
# it here (hosts); the answer comes from the name placeholder
a = socket.gethostbyname("dns.direct.test")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(query("here.direct.test", 30), ("dns.direct.test", 53))
d, src = s.recvfrom(512); print(answer(d), src[0] == a, src[0] != "10.93.0.1")
s.sendto(query("web.stp.test", 31), ("10.92.0.2", 53))
d, src = s.recvfrom(512); print(answer(d), src)
'
	printf '%s\n' "$output" "$stderr"
	[ "${lines[0]}" = "(10, '10.93.0.7') ('10.93.0.1', 53)" ]
	[ "${lines[1]}" = "(20, '10.92.0.2') ('10.92.0.2', 53)" ]
	[ "${lines[2]}" = "(11, '10.93.0.7') ('10.93.0.1', 53)" ]
	[ "${lines[3]}" = "(21, '10.92.0.2') ('10.92.0.2', 53)" ]
	[ "${lines[4]}" = "(30, '10.93.0.7') True True" ]
	[ "${lines[5]}" = "(31, '10.92.0.2') ('10.92.0.2', 53)" ]
	# the proxied resolver was reached through one association per socket
	wait_until "the associations' session lines" udp_sessions_are $((before + 2))
	no_new_queries
}

@test "UDP: a socket connect()ed to a direct resolver sends and receives on its own; getpeername names it" {
	need_ns
	before=$(udp_sessions)
	NO_PROXY=10.93.0.1 run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" \
		"$STP_TOP/bin/stp-connect" -w 10 -x socks5h://10.91.0.1:1080 --wrap python3 -c '
import socket, struct
q = struct.pack(">HHHHHH", 40, 0x0100, 1, 0, 0, 0) + b"\4here\6direct\4test\0" + struct.pack(">HH", 1, 1)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(10)
c.connect(("10.93.0.1", 53)); c.send(q)
d = c.recv(512)
print(struct.unpack(">H", d[:2])[0], socket.inet_ntoa(d[-4:]), c.getpeername())
'
	[ "$output" = "40 10.93.0.7 ('10.93.0.1', 53)" ]
	[ "$(udp_sessions)" -eq "$before" ]
}

@test "IPv6 UDP: NO_PROXY sends dig -6 straight to the resolver at fd93::1; no association" {
	need_ns
	command -v dig >/dev/null || skip "needs dig (Debian dnsutils)"
	before=$(udp_sessions)
	NO_PROXY=fd93::1 run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" \
		"$STP_TOP/bin/stp-connect" -v -w 10 -x socks5h://10.91.0.1:1080 \
		--wrap dig -6 +short +tries=1 +time=5 @fd93::1 here.direct.test A
	[ "$output" = "10.93.0.7" ]
	[[ $stderr == *"wrap: udp to fd93::1:53 goes direct"* ]]
	[ "$(udp_sessions)" -eq "$before" ]
	# through the proxy the same query finds no route (the test can fail)
	run --separate-stderr wrap dig -6 +short +tries=1 +time=2 @fd93::1 here.direct.test A
	[ "$status" -ne 0 ] || [ -z "$output" ]
}

# dns6_query NAME...: a python3 AF_INET6 UDP socket per NAME (routed
# direct) sends an A query for here.direct.test to NAME port 53 with
# sendto and then sendmsg, and prints the answer, whether recvfrom and
# recvmsg report the placeholder NAME stands for as the source, and the
# port.
dns6_query() {
	python3 -c '
import socket, struct, sys
q = struct.pack(">HHHHHH", 50, 0x0100, 1, 0, 0, 0) + b"\4here\6direct\4test\0" + struct.pack(">HH", 1, 1)
for name in sys.argv[1:]:
    to = socket.getaddrinfo(name, 53, socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(10)
    s.sendto(q, to)
    d, src = s.recvfrom(512)
    s.sendmsg([q], [], 0, to)
    d2, _, _, src2 = s.recvmsg(512)
    print(name, socket.inet_ntoa(d[-4:]), socket.inet_ntoa(d2[-4:]),
          to[0].startswith("100::"), src[:2] == to[:2], src2[:2] == to[:2])
' "$@"
}

@test "IPv6 UDP: an AF_INET6 socket reaches direct names with only AAAA, both, or only A; answers come from the placeholder" {
	need_ns
	before=$(udp_sessions)
	ddns_before=$(grep -c 'query\[A\] here.direct.test from fd93::1' "$WN_DIR/ddns.err" || true)
	NO_PROXY=direct.test run --separate-stderr -0 timeout 30 ip netns exec "$WN_C" \
		"$STP_TOP/bin/stp-connect" -v -w 10 -x socks5h://10.91.0.1:1080 --wrap \
		bash -c "$(declare -f dns6_query); dns6_query dns6.direct.test dns46.direct.test dns.direct.test"
	printf '%s\n' "$output" "$stderr"
	[ "${lines[0]}" = "dns6.direct.test 10.93.0.7 10.93.0.7 True True True" ]
	[ "${lines[1]}" = "dns46.direct.test 10.93.0.7 10.93.0.7 True True True" ]
	[ "${lines[2]}" = "dns.direct.test 10.93.0.7 10.93.0.7 True True True" ]
	[[ $stderr == *"wrap: udp to dns6.direct.test:53 goes direct"* ]]
	[ "$(udp_sessions)" -eq "$before" ]
	# dns6 and dns46 went to fd93::1 (4 queries from there), dns to 10.93.0.1
	[ "$(grep -c 'query\[A\] here.direct.test from fd93::1' "$WN_DIR/ddns.err")" -eq $((ddns_before + 4)) ]
	no_new_queries
}

@test "IPv6 TCP: a NO_PROXY IPv6 literal is reached directly, and through the proxy it is not" {
	need_ns
	NO_PROXY=fd93::1 run --separate-stderr -0 wrap curl -sS 'http://[fd93::1]:8081/'
	[ "$output" = "client fd93::1" ]
	# the proxy has no route to fd93::1 (the test can fail)
	run --separate-stderr wrap curl -sS --max-time 10 'http://[fd93::1]:8081/'
	[ "$status" -ne 0 ]
	[ "$output" != "client fd93::1" ]
}

@test "TCP: a name with only an IPv6 address, routed direct, is reached from the program's IPv4 socket (its placeholder's family)" {
	need_ns
	# the placeholder is IPv4, so curl's socket is: the agent cannot
	# connect it to fd93::1 and carries the bytes from its own socket
	NO_PROXY=.direct.test run --separate-stderr -0 wrap curl -sS http://dns6.direct.test:8081/
	[ "$output" = "client fd93::1" ]
	direct_routes
	run --separate-stderr -0 timeout $((30 * STP_SLOW)) ip netns exec "$WN_C" \
		"$STP_TOP/bin/stp-connect" -w 10 --config "$T/routes.json" \
		--wrap curl -sS http://dns6.direct.test:8081/
	[ "$output" = "client fd93::1" ]
}

# ---- the three ways a wrapped connect() takes (SPEC §3.1): the library
# speaks SOCKS5 to a plain proxy itself ("library way"); else it hands its
# socket to the agent's Unix door, which connects that very socket
# ("door"); else, for TLS and GSS-API chains, the agent relays from its
# loopback port ("relay"). The first two leave the program's own socket as
# the proxy's client, which the proxy's session line shows.

# more_bg NAME NS LINE CMD...: a further server in namespace NS (once for
# the file: later tests find it running; wn_down ends it), up once LINE (a
# regex) is in its log $WN_DIR/NAME.err.
more_bg() {
	local name=$1 ns=$2 line=$3
	shift 3
	[ -f "$WN_DIR/$name.err" ] || wn_bg "$name" "$ns" "$@"
	wait_for_line "$WN_DIR/$name.err" "$line" 10 >/dev/null
}

# more_serve NAME LINE ARGS...: a further stp-serve in the proxy namespace.
more_serve() {
	local name=$1 line=$2
	shift 2
	more_bg "$name" "$WN_P" "$line" "$STP_TOP/bin/stp-serve" "$@"
}

# tls_serve: stp-serve with a TLS listener at 10.91.0.1:1443, its CA in
# $WN_DIR/pki/ca.pem (a certificate for the address, as tls.bats makes).
tls_serve() {
	local d=$WN_DIR/pki
	[ -s "$d/srv.pem" ] || make_pki "$d" IP:10.91.0.1 10.91.0.1 || return 1
	more_serve tlsserve '^listening 10\.91\.0\.1 1443 tls$' --tls-listen 10.91.0.1:1443 \
		--resolver 10.92.0.2 --cert "$d/srv.pem" --key "$d/srv.key" --rules '[{"action":"allow"}]'
}

# users_serve: stp-serve at 10.91.0.1:1081 requiring alice's password.
users_serve() {
	[ -s "$WN_DIR/users" ] || make_users "$WN_DIR/users" alice s3cret || return 1
	more_serve userserve '^listening 10\.91\.0\.1 1081$' -l 10.91.0.1:1081 \
		--resolver 10.92.0.2 --users "$WN_DIR/users"
}

# wrap_with ARGS... -- CMD...: stp-connect ARGS --wrap CMD in the client
# namespace, bounded (ARGS name the proxy).
wrap_with() {
	local a=()
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	timeout $((30 * STP_SLOW)) ip netns exec "$WN_C" "$STP_TOP/bin/stp-connect" -w 10 \
		"${a[@]}" --wrap "$@"
}

# HTTP_GET: a python3 program that connects to HOST 80 (argv[1]), prints
# its socket's own port, sends a GET and prints the status line and body.
HTTP_GET='
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
print(s.getsockname()[1])
s.sendall(b"GET / HTTP/1.0\r\nHost: " + sys.argv[1].encode() + b"\r\n\r\n")
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
head, _, body = got.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
print(body.decode().strip())
'

# re_esc STRING: STRING as an extended regex matching itself.
re_esc() { sed 's/[][\.^$*+?(){}|]/\\&/g' <<<"$1"; }

# as_logged HOST: HOST port 80 as the proxy's session line names it.
as_logged() { case $1 in *:*) echo "[$1]:80" ;; *) echo "$1:80" ;; esac; }

# session_of LOG PORT HOST: the proxy's session line for the client
# 10.91.0.2:PORT and target HOST port 80, once it is logged (at the end of
# the session).
session_of() {
	wait_for_line "$1" "session client=10\.91\.0\.2:$2 user=[^ ]+ cmd=connect target=$(re_esc "$(as_logged "$3")") .*result=\"ok\"" 10
}

# new_session LOG N HOST: the client port of the first session line of LOG
# after its N-th for target HOST port 80, once it is logged (lines of
# earlier sessions, to other targets, may come in between).
new_session() {
	wait_until "a session line for $3 in $1" _new_session "$@" || return 1
	_new_session "$@"
}
_new_session() {
	local line re
	re="client=10\.91\.0\.2:([0-9]+) user=[^ ]+ cmd=connect target=$(re_esc "$(as_logged "$3")") .*result=\"ok\""
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			echo "${BASH_REMATCH[1]}"
			return 0
		fi
	done < <(grep ' session client=' "$1" | tail -n +$(($2 + 1)))
	echo "no session line for $3 yet" >&2
	return 1
}

# sessions LOG: how many session lines LOG holds.
sessions() { grep -c ' session client=' "$1" || true; }

@test "library way: the program's own socket is the proxy's client, by IPv4 and IPv6 address and by name" {
	need_ns
	for to in 10.92.0.2 web.stp.test fd92::2; do
		run --separate-stderr -0 wrap "$PY" -c "$HTTP_GET" "$to"
		[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
		[ "${lines[2]}" = "hello from the targets" ]
		[[ ${lines[0]} =~ ^[0-9]+$ ]]
		session_of "$WN_DIR/serve.err" "${lines[0]}" "$to"
		[ -z "$stderr" ]
	done
	# the control: without the library's proxy and the door (the
	# variables stp-connect sets for the library, client/wrapagent.h,
	# unset) the agent relays, and the proxy names another port than the
	# program's: the check above can fail
	n=$(sessions "$WN_DIR/serve.err")
	run --separate-stderr -0 wrap sh -c 'unset STP_WRAP_PROXY STP_WRAP_DOOR; exec "$0" -c "$1" "$2"' \
		"$PY" "$HTTP_GET" ssh.stp.test
	[ "${lines[2]}" = "hello from the targets" ]
	agent=$(new_session "$WN_DIR/serve.err" "$n" ssh.stp.test)
	[ "$agent" != "${lines[0]}" ]
	no_new_queries
}

@test "door (-v): the agent connects the program's own socket; the proxy's client is that socket" {
	need_ns
	for to in 10.92.0.2 web.stp.test fd92::2; do
		run --separate-stderr -0 wrap_with -v -x socks5h://10.91.0.1:1080 -- "$PY" -c "$HTTP_GET" "$to"
		[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
		[ "${lines[2]}" = "hello from the targets" ]
		[[ $stderr == *"stp-connect: wrap: connected $(as_logged "$to")"* ]]
		session_of "$WN_DIR/serve.err" "${lines[0]}" "$to"
	done
	no_new_queries
}

@test "library way configured, a placeholder another process looked up: the door connects the program's own socket, the proxy is told the name" {
	need_ns
	# sh's first python3 looks the name up; the second connects to the
	# placeholder it printed, a name its library does not keep
	run --separate-stderr -0 wrap sh -c '
a=$("$0" -c "import socket; print(socket.gethostbyname(\"web.stp.test\"))")
exec "$0" -c "$1" "$a"' "$PY" "$HTTP_GET"
	[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
	[ "${lines[2]}" = "hello from the targets" ]
	session_of "$WN_DIR/serve.err" "${lines[0]}" web.stp.test
	no_new_queries
}

@test "door with credentials (-U): the program's own socket logs in and is the proxy's client" {
	need_ns
	users_serve
	for to in 10.92.0.2 web.stp.test; do
		run --separate-stderr -0 wrap_with -U alice:s3cret -x socks5h://10.91.0.1:1081 -- \
			"$PY" -c "$HTTP_GET" "$to"
		[ "${lines[2]}" = "hello from the targets" ]
		line=$(session_of "$WN_DIR/userserve.err" "${lines[0]}" "$to")
		[[ $line == *" user=alice "* ]]
	done
	# a wrong password: the program gets no connection (the test can fail)
	run --separate-stderr wrap_with -U alice:wrong -x socks5h://10.91.0.1:1081 -- \
		"$PY" -c "$HTTP_GET" 10.92.0.2
	[ "$status" -ne 0 ]
	[[ $output != *"hello from the targets"* ]]
	no_new_queries
}

@test "relay (socks5hs): bytes come through; the proxy's client is the agent's connection, not the program's socket" {
	need_ns
	tls_serve
	tls=(-x socks5hs://10.91.0.1:1443 --cacert "$WN_DIR/pki/ca.pem")
	run --separate-stderr -0 wrap_with "${tls[@]}" -- curl -sS http://web.stp.test/
	[ "$output" = "hello from the targets" ]
	# targets no other test asks this proxy for
	for to in ssh.stp.test fd92::2; do
		n=$(sessions "$WN_DIR/tlsserve.err")
		run --separate-stderr -0 wrap_with "${tls[@]}" -- "$PY" -c "$HTTP_GET" "$to"
		[ "${lines[1]}" = "HTTP/1.0 200 OK" ]
		[ "${lines[2]}" = "hello from the targets" ]
		[[ ${lines[0]} =~ ^[0-9]+$ ]]
		agent=$(new_session "$WN_DIR/tlsserve.err" "$n" "$to")
		[ "$agent" != "${lines[0]}" ]
	done
	no_new_queries
}

# traced ARGS...: the HTTP_GET program to 10.92.0.2 wrapped by stp-connect
# ARGS under strace, its connect and sendmsg calls in $T/st.
traced() {
	rm -f "$T/st"
	wrap_with "$@" -- strace -f -qq -o "$T/st" -e trace=connect,sendmsg \
		"$PY" -c "$HTTP_GET" 10.92.0.2
}

# to_proxy PORT: the program itself connected a socket to 10.91.0.1:PORT.
to_proxy() { grep -E "connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\($1\), sin_addr=inet_addr\(\"10\.91\.0\.1\"\)" "$T/st"; }
# handed: the program sent a socket to the agent's Unix door.
handed() { grep -q 'sun_path=@"stp-wrap\.' "$T/st" && grep -q 'cmsg_type=SCM_RIGHTS' "$T/st"; }

@test "the way taken (strace): plain: the library connects to the proxy; -v, -U: the door gets the socket; TLS: then the agent's loopback port" {
	need_ns
	command -v strace >/dev/null || skip "needs strace"
	users_serve
	tls_serve
	run --separate-stderr -0 traced -x socks5h://10.91.0.1:1080
	[ "${lines[2]}" = "hello from the targets" ]
	to_proxy 1080
	! handed
	run --separate-stderr -0 traced -v -x socks5h://10.91.0.1:1080
	[ "${lines[2]}" = "hello from the targets" ]
	handed
	! to_proxy 1080
	run --separate-stderr -0 traced -U alice:s3cret -x socks5h://10.91.0.1:1081
	[ "${lines[2]}" = "hello from the targets" ]
	handed
	! to_proxy 1081
	run --separate-stderr -0 traced -x socks5hs://10.91.0.1:1443 --cacert "$WN_DIR/pki/ca.pem"
	[ "${lines[2]}" = "hello from the targets" ]
	handed
	! to_proxy 1443
	# after the door, the socket it sent connects to the agent's TCP port
	# (the door's name is stp-wrap.UID.PORT)
	door=$(grep -n 'cmsg_type=SCM_RIGHTS' "$T/st" | tail -1 | cut -d: -f1)
	fd=$(sed -n "${door}s/.*cmsg_data=\[\([0-9]*\)\].*/\1/p" "$T/st")
	port=$(grep -o 'sun_path=@"stp-wrap\.[0-9]*\.[0-9]*"' "$T/st" | tail -1 | tr -d '"')
	port=${port##*.}
	[ -n "$fd" ] && [ -n "$port" ]
	tail -n +"$door" "$T/st" | grep -E "connect\($fd, \{sa_family=AF_INET, sin_port=htons\($port\), sin_addr=inet_addr\(\"127\.0\.0\.1\"\)\}, 16\) = (0|-1 EINPROGRESS)"
}

# FIRST_BYTES: a python3 program that connects to each HOST:PORT of its
# arguments twice, with a blocking socket and with a timeout (Python's
# non-blocking connect), reads until EOF without writing, and says whether
# it got firstbytes.py's payload exactly.
FIRST_BYTES='
import socket, sys, firstbytes
want = firstbytes.payload()
for a in sys.argv[1:]:
    host, port = a.rsplit(":", 1)
    for how in ("blocking", "timeout"):
        if how == "blocking":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.connect((host, int(port)))
        else:
            s = socket.create_connection((host, int(port)), timeout=10)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        print(a, how, "intact" if got == want else
              "differs: %d bytes, %d wanted, starting %r" % (len(got), len(want), got[:30]))
'

# first_bytes_ok ARGS... -- HOST:PORT...: FIRST_BYTES wrapped by stp-connect
# ARGS finds every payload intact.
first_bytes_ok() {
	local a=() t want=
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	for t in "$@"; do want+="$t blocking intact"$'\n'"$t timeout intact"$'\n'; done
	run --separate-stderr wrap_with "${a[@]}" -- "$PY" -c "$FIRST_BYTES" "$@"
	if [ "$status" -ne 0 ] || [ "$output" != "${want%$'\n'}" ]; then
		printf 'stp-connect %s: status %s\n%s\n%s\n' "${a[*]}" "$status" "$output" "$stderr" >&2
		return 1
	fi
}

@test "a server-first target: its banner and the 64 KiB after it arrive intact right after the proxy's reply, each way" {
	need_ns
	more_bg banner "$WN_T" '^listening' "$PY" "$STP_TOP/tests/lib/firstbytes.py" banner 10.92.0.2 2323
	tls_serve
	targets=(10.92.0.2:2323 web.stp.test:2323)
	first_bytes_ok -x socks5h://10.91.0.1:1080 -- "${targets[@]}"
	first_bytes_ok -v -x socks5h://10.91.0.1:1080 -- "${targets[@]}"
	first_bytes_ok -x socks5hs://10.91.0.1:1443 --cacert "$WN_DIR/pki/ca.pem" -- "${targets[@]}"
	# and sshd's own banner, through the door
	run --separate-stderr -0 wrap_with -v -x socks5h://10.91.0.1:1080 -- ssh -F /dev/null \
		-i "$WN_DIR/ssh/user_key" -o BatchMode=yes -o IdentitiesOnly=yes \
		-o UserKnownHostsFile="$WN_DIR/ssh/known_hosts" -o StrictHostKeyChecking=yes \
		-o ConnectTimeout=10 root@ssh.stp.test echo door-ssh
	[ "$output" = "door-ssh" ]
	[[ $stderr == *"wrap: connected ssh.stp.test:22"* ]]
	no_new_queries
}

@test "a proxy that sends its reply and the target's first bytes in one segment: none is lost, whatever the BND address type, library way and door" {
	need_ns
	more_bg fsocks "$WN_P" '^listening' "$PY" "$STP_TOP/tests/lib/firstbytes.py" socks 10.91.0.1 1082
	# the port asked for picks the BND type: 1 IPv4, 2 IPv6, 3 a name
	targets=(10.92.0.2:1 10.92.0.2:2 10.92.0.2:3 web.stp.test:2 web.stp.test:3)
	first_bytes_ok -x socks5h://10.91.0.1:1082 -- "${targets[@]}"
	first_bytes_ok -v -x socks5h://10.91.0.1:1082 -- "${targets[@]}"
	no_new_queries
}

# FLAGS: a python3 program that connects a blocking and a non-blocking
# socket to HOST port 80 (argv[1]) and prints, for each, O_NONBLOCK
# before and after connect(), whether connect() again says it is
# connected (as a direct socket would), and what it then reads.
FLAGS='
import errno, fcntl, os, select, socket, sys
def nb(s):
    return bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)
def get(s):
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    return got.partition(b"\r\n\r\n")[2].decode().strip()
to = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
b = nb(s)
s.connect((to, 80))
print("blocking", b, nb(s), get(s))
n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
n.setblocking(False)
b = nb(n)
r = n.connect_ex((to, 80))
w = select.select([], [n], [], 10)[1]
err = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
a = nb(n)
# 0 or EISCONN, as for a direct socket; never a second handshake
again = n.connect_ex((to, 80)) in (0, errno.EISCONN)
n.settimeout(10)
print("non-blocking", b, a, r in (0, errno.EINPROGRESS), bool(w), err, again, get(n))
'

@test "a blocking socket stays blocking and a non-blocking one non-blocking after a proxied connect, and a second connect says it is connected, each way" {
	need_ns
	tls_serve
	for how in "-x socks5h://10.91.0.1:1080" "-v -x socks5h://10.91.0.1:1080" \
		"-x socks5hs://10.91.0.1:1443 --cacert $WN_DIR/pki/ca.pem"; do
		for to in 10.92.0.2 web.stp.test; do
			# shellcheck disable=SC2086 # $how: the options, split
			run --separate-stderr -0 wrap_with $how -- "$PY" -c "$FLAGS" "$to"
			[ "${lines[0]}" = "blocking False False hello from the targets" ]
			[ "${lines[1]}" = "non-blocking True True True True 0 True hello from the targets" ]
		done
	done
	no_new_queries
}

# PEERS: a python3 program that prints getpeername() of sockets connected
# to 10.92.0.2:80 and [fd92::2]:80, then of a direct one to the client's
# own 127.0.0.1:8080 made on the same fd number as the first.
PEERS='
import socket
s = socket.create_connection(("10.92.0.2", 80), timeout=10)
fd = s.fileno()
print(s.getpeername())
s.close()
s6 = socket.create_connection(("fd92::2", 80), timeout=10)
print(s6.getpeername()[:2])
s6.close()
d = socket.create_connection(("127.0.0.1", 8080), timeout=10)
print(d.fileno() == fd, d.getpeername())
'

@test "getpeername names the target, not the proxy or the agent, each way; a direct connection on a reused fd names its own peer" {
	need_ns
	tls_serve
	for how in "-x socks5h://10.91.0.1:1080" "-v -x socks5h://10.91.0.1:1080" \
		"-x socks5hs://10.91.0.1:1443 --cacert $WN_DIR/pki/ca.pem"; do
		# shellcheck disable=SC2086 # $how: the options, split
		run --separate-stderr -0 wrap_with $how -- "$PY" -c "$PEERS"
		[ "${lines[0]}" = "('10.92.0.2', 80)" ]
		[ "${lines[1]}" = "('fd92::2', 80)" ]
		[ "${lines[2]}" = "True ('127.0.0.1', 8080)" ]
	done
}
