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
