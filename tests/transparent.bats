#!/usr/bin/env bats
# transparent.bats - stp-serve --transparent and --transparent-udp (SPEC
# §3.6): a client namespace with no proxy settings at all is routed through
# a router namespace whose nftables hand its TCP (redirect, or tproxy) and
# UDP (tproxy) to stp-serve, which sends each flow through its --upstream
# (another stp-serve on the router's loopback) to the targets: curl, ssh,
# dig and a UDP echo, IPv4 and IPv6; a rule's denial closes the client's
# connection at once and nothing reaches the target; a connection that was
# not redirected is closed, not looped. The namespaces (tests/lib/tpnet.bash)
# are made once for the file; the parts that need none run anywhere.

load lib/common
load lib/wrapnet
load lib/tpnet
bats_require_minimum_version 1.5.0

# the namespaces, their rules and this suite's servers
ns_up() { tp_net "$BATS_FILE_TMPDIR/net" && tp_rules && tp_serve --stats 127.0.0.1:0; }

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
	UPLOG=$WN_DIR/up.err
}

# count_lines FILE RE: how many lines of FILE match RE.
count_lines() { grep -cE -- "$2" "$1" || true; }

# r_stats_port LOG: the port of the --stats line in LOG (a server in the
# router namespace).
r_stats_port() {
	wait_for_line "$1" '^listening 127\.0\.0\.1 [0-9]+ stats$' | cut -d' ' -f3
}

# r_get PORT PATH: the router's --stats endpoint at 127.0.0.1:PORT.
r_get() { ip netns exec "$TP_R" curl -sS --max-time $((10 * STP_SLOW)) "http://127.0.0.1:$1$2"; }

# r_metric PORT SAMPLE: the value of SAMPLE (name and labels as /metrics
# writes them) at the router's endpoint, 0 when absent.
r_metric() {
	local body
	body=$(r_get "$1" /metrics) || return 1
	awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' <<<"$body"
}

# tp_udp_flows_on PORT N: the router's endpoint lists N live udp-tcp
# sessions (transparent UDP flows) of every worker (for wait_until).
tp_udp_flows_on() {
	local n
	n=$(r_get "$1" /api/sessions | jq '[.sessions[] | select(.command == "udp-tcp")] | length') ||
		return 1
	[ "$n" -ge "$2" ] || { echo "$n udp-tcp sessions, not yet $2" >&2; return 1; }
}

# r_metric_at_least PORT SAMPLE N (for wait_until).
r_metric_at_least() {
	local v
	v=$(r_metric "$1" "$2") || return 1
	[ "$v" -ge "$3" ] || { echo "$2 is $v, not yet $3" >&2; return 1; }
}

@test "redirect: curl reaches the targets over IPv4 and IPv6 with no proxy settings; the log says transparent; the upstream carried them" {
	need_ns
	tp_tcp_mode redirect
	run -0 in_tclient curl -sS -m 10 http://10.94.0.2/
	assert_equal "$output" "hello from the targets"
	run -0 in_tclient curl -sS -m 10 'http://[fd94::2]/'
	assert_equal "$output" "hello from the targets"
	wait_for_line "$LOG" 'session client=10\.93\.0\.2:[0-9]+ user=- cmd=connect transparent=tcp target=10\.94\.0\.2:80 up=[1-9][0-9]* down=[1-9][0-9]* .*result="ok"'
	wait_for_line "$LOG" 'session client=\[fd93::2\]:[0-9]+ user=- cmd=connect transparent=tcp target=\[fd94::2\]:80 .*result="ok"'
	# the upstream made the connections, from the router's loopback
	wait_for_line "$UPLOG" 'session client=127\.0\.0\.1:[0-9]+ .*cmd=connect target=10\.94\.0\.2:80 .*result="ok"'
	wait_for_line "$UPLOG" 'cmd=connect target=\[fd94::2\]:80 .*result="ok"'
}

@test "tproxy: curl over IPv4 and IPv6, the target taken from the accepted socket's address" {
	need_ns
	tp_tcp_mode tproxy
	run -0 in_tclient curl -sS -m 10 http://10.94.0.2/index.html
	assert_equal "$output" "hello from the targets"
	run -0 in_tclient curl -sS -m 10 'http://[fd94::2]/index.html'
	assert_equal "$output" "hello from the targets"
	tp_tcp_mode redirect
	run -0 grep -cE 'cmd=connect transparent=tcp target=(10\.94\.0\.2|\[fd94::2\]):80 ' "$LOG"
	[ "$output" -ge 2 ]
}

@test "ssh reaches sshd through the router, IPv4 (redirect) and IPv6 (tproxy)" {
	need_ns
	tp_tcp_mode redirect
	run tp_ssh 10.94.0.2 echo via-redirect
	[ "$status" -eq 0 ] || { echo "$output"; tail -n 5 "$WN_DIR/sshd.err" "$LOG"; false; }
	assert_equal "$output" "via-redirect"
	tp_tcp_mode tproxy
	run tp_ssh fd94::2 echo via-tproxy
	tp_tcp_mode redirect
	[ "$status" -eq 0 ] || { echo "$output"; tail -n 5 "$WN_DIR/sshd.err" "$LOG"; false; }
	assert_equal "$output" "via-tproxy"
	wait_for_line "$LOG" 'transparent=tcp target=10\.94\.0\.2:22 .*result="ok"'
	wait_for_line "$LOG" 'transparent=tcp target=\[fd94::2\]:22 .*result="ok"'
}

@test "UDP by tproxy: the echo's answers come from the target's address and port, IPv4 and IPv6, through the upstream's UDP-OVER-TCP" {
	need_ns
	run -0 tp_udp 10.94.0.2 7 hello4
	assert_equal "$output" "echo:hello4 10.94.0.2 7"
	run -0 tp_udp fd94::2 7 hello6
	assert_equal "$output" "echo:hello6 fd94::2 7"
	# -v: the router's stp-serve says how each flow went out
	wait_for_line "$LOG" 'upstream: UDP_TCP 10\.94\.0\.2:7 through 127\.0\.0\.1:1081 \(1 hop\): ok'
	wait_for_line "$LOG" 'upstream: UDP_TCP \[fd94::2\]:7 through 127\.0\.0\.1:1081 \(1 hop\): ok'
}

@test "dig over UDP gets its answer from the targets' dnsmasq, IPv4 and IPv6" {
	need_ns
	run -0 in_tclient dig +time=3 +tries=3 +short @10.94.0.2 web.stp.test A
	assert_equal "$output" "10.94.0.2"
	run -0 in_tclient dig +time=3 +tries=3 +short @fd94::2 web.stp.test AAAA
	assert_equal "$output" "fd94::2"
}

@test "a rule denies a target: the client's connection is reset at once, nothing reaches the target, and the log says why" {
	need_ns
	tp_tcp_mode redirect
	local t0 t1
	t0=$(date +%s%N)
	run in_tclient curl -sS -m 10 http://10.94.0.2:81/
	t1=$(date +%s%N)
	# 56: reset after connect (curl: "Recv failure"); 7: reset before
	[ "$status" -eq 56 ] || [ "$status" -eq 7 ]
	[ $(((t1 - t0) / 1000000)) -lt 3000 ]
	run in_tclient curl -sS -m 10 'http://[fd94::2]:81/'
	[ "$status" -eq 56 ] || [ "$status" -eq 7 ]
	wait_for_line "$LOG" 'rule 1 denies connect from 10\.93\.0\.2 user - to 10\.94\.0\.2:81'
	wait_for_line "$LOG" 'rule 2 denies connect from fd93::2 user - to \[fd94::2\]:81'
	wait_for_line "$LOG" 'transparent=tcp target=10\.94\.0\.2:81 up=0 down=0 .*result="not allowed by ruleset"'
	# the counter on port 81 works when reached, and was not
	run -0 in_tclient true
	[ ! -s "$WN_DIR/hits81" ]
	run -0 grep -c 'target=10\.94\.0\.2:81' "$UPLOG" || true
}

@test "UDP to a denied target gets no answer and the log says so, once for the flow" {
	need_ns
	run -1 tp_udp 10.94.0.2 81 nope
	wait_for_line "$LOG" 'rules deny transparent udp from 10\.93\.0\.2 to 10\.94\.0\.2:81'
	wait_for_line "$LOG" 'session client=10\.93\.0\.2:[0-9]+ user=- cmd=udp-tcp transparent=udp target=10\.94\.0\.2:81 up=0 down=0 .*result="denied by rules"'
	assert_equal "$(count_lines "$LOG" 'rules deny transparent udp from 10\.93\.0\.2 to 10\.94\.0\.2:81')" 1
}

@test "a connection to the transparent port itself was not redirected: closed and logged, never proxied to itself" {
	need_ns
	tp_tcp_mode redirect
	local before
	before=$(count_lines "$LOG" 'session client=10\.93\.0\.2:.*target=10\.93\.0\.1:')
	run in_tclient curl -sS -m 10 "http://10.93.0.1:$TP_TPORT/"
	[ "$status" -eq 52 ] || [ "$status" -eq 56 ]
	wait_for_line "$LOG" "transparent: connection from 10\.93\.0\.2:[0-9]+ to 10\.93\.0\.1:$TP_TPORT was not redirected \(its target is this listener\): closed"
	# no session was made for it: nothing went to the upstream
	assert_equal "$(count_lines "$LOG" 'session client=10\.93\.0\.2:.*target=10\.93\.0\.1:')" "$before"
	run -0 grep -c "target=10\.93\.0\.1:$TP_TPORT" "$UPLOG" || true
	[ "$output" = 0 ] || [ -z "$output" ]
}

@test "datagrams sent to the transparent UDP port itself were not redirected: dropped and logged once, never relayed" {
	need_ns
	run -1 tp_udp 10.93.0.1 "$TP_UPORT" loop
	wait_for_line "$LOG" "transparent udp: datagrams from 10\.93\.0\.2:[0-9]+ to 10\.93\.0\.1:$TP_UPORT were not redirected \(their target is this listener\): dropped"
	assert_equal "$(count_lines "$LOG" "to 10\.93\.0\.1:$TP_UPORT were not redirected")" 1
	assert_equal "$(count_lines "$LOG" "target=10\.93\.0\.1:$TP_UPORT")" 0
}

@test "--transparent on loopback needs no privileges; a connection straight to it is closed as a loop" {
	start_http
	start_stp_serve --transparent 127.0.0.1:0
	local tport
	tport=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ transparent$' | cut -d' ' -f3)
	[ -n "$tport" ]
	TMO=10 run bounded curl -sS -m 5 "http://127.0.0.1:$tport/"
	[ "$status" -eq 52 ] || [ "$status" -eq 56 ]
	wait_for_line "$STP_LOG" "transparent: connection from 127\.0\.0\.1:[0-9]+ to 127\.0\.0\.1:$tport was not redirected"
	stp_serve_alive
}

@test "--transparent and --transparent-udp: bad addresses, and a non-loopback listener without rules are usage errors" {
	run -2 --separate-stderr stp-serve --transparent nonsense
	assert_match "$stderr" "^stp-serve: --transparent"
	run -2 --separate-stderr stp-serve --transparent-udp 127.0.0.1
	assert_match "$stderr" "^stp-serve: --transparent-udp"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --transparent 0.0.0.0:0
	assert_match "$stderr" "refusing to listen on 0\.0\.0\.0:0 without authentication or rules"
}

@test "the configuration file takes transparent and transparent-udp as lists" {
	echo '{"listen":["127.0.0.1:0"],"transparent":["127.0.0.1:0"],"transparent-udp":[]}' >"$T/c.json"
	start_stp_serve -c "$T/c.json"
	wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ transparent$'
	echo '{"transparent-udp":1}' >"$T/bad.json"
	run -2 --separate-stderr stp-serve -c "$T/bad.json"
	assert_match "$stderr" "transparent-udp"
}

@test "the README's host recipe: an output redirect sends the host's own TCP through stp-serve --user nobody, whose connections skip it, IPv4 and IPv6" {
	need_ns
	getent passwd nobody >/dev/null || skip "no user nobody"
	tp_tcp_mode none  # the router only routes now
	in_tclient nft -f - <<-EOF
		table ip stphost {
			chain out {
				type nat hook output priority -100; policy accept;
				meta skuid "nobody" return
				ip daddr 127.0.0.0/8 return
				meta l4proto tcp redirect to :12347
			}
		}
		table ip6 stphost {
			chain out {
				type nat hook output priority -100; policy accept;
				meta skuid "nobody" return
				ip6 daddr ::1 return
				meta l4proto tcp redirect to :12347
			}
		}
	EOF
	wn_bg host "$TP_C" "$STP_TOP/bin/stp-serve" --user nobody -l 127.0.0.1:0 \
		--transparent 127.0.0.1:12347 --transparent '[::1]:12347'
	local ok=0
	if wait_for_line "$WN_DIR/host.err" '^listening ::1 12347 transparent$' 10 >/dev/null &&
		out4=$(in_tclient curl -sS -m 10 http://10.94.0.2/) &&
		out6=$(in_tclient curl -sS -m 10 'http://[fd94::2]/'); then
		ok=1
	fi
	# undo before judging: the next tests need the plain client back
	kill -TERM "$WN_PID_host" 2>/dev/null
	in_tclient nft delete table ip stphost
	in_tclient nft delete table ip6 stphost
	tp_tcp_mode redirect
	[ "$ok" -eq 1 ] || { cat "$WN_DIR/host.err" >&2; false; }
	assert_equal "$out4" "hello from the targets"
	assert_equal "$out6" "hello from the targets"
	wait_for_line "$WN_DIR/host.err" 'session client=[^ ]+ user=- cmd=connect transparent=tcp target=10\.94\.0\.2:80 .*result="ok"'
	wait_for_line "$WN_DIR/host.err" 'session client=[^ ]+ user=- cmd=connect transparent=tcp target=\[fd94::2\]:80 .*result="ok"'
}

@test "per listener: redirected TCP and UDP flows are counted for their transparent listener in /metrics and /api/status, not for the SOCKS one" {
	need_ns
	tp_tcp_mode redirect
	local sport t4 t6 u4 proxy
	sport=$(r_stats_port "$LOG")
	[ -n "$sport" ]
	proxy=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$LOG" | cut -d' ' -f3)
	t4="stp_listener_sessions_total{listener=\"0.0.0.0:$TP_TPORT\",kind=\"transparent\"}"
	t6="stp_listener_sessions_total{listener=\"[::]:$TP_TPORT\",kind=\"transparent\"}"
	u4="stp_listener_sessions_total{listener=\"0.0.0.0:$TP_UPORT\",kind=\"transparent-udp\"}"
	local b4 b6 bu
	b4=$(r_metric "$sport" "$t4") && b6=$(r_metric "$sport" "$t6") && bu=$(r_metric "$sport" "$u4")
	# earlier tests' flows were counted here already
	[ "$b4" -ge 1 ] && [ "$b6" -ge 1 ]
	for n in 1 2 3; do
		run -0 in_tclient curl -sS -m 10 -o /dev/null http://10.94.0.2/
	done
	run -0 in_tclient curl -sS -m 10 -o /dev/null 'http://[fd94::2]/'
	wait_until "three more IPv4 sessions on 0.0.0.0:$TP_TPORT" r_metric_at_least "$sport" "$t4" $((b4 + 3))
	wait_until "one more IPv6 session on [::]:$TP_TPORT" r_metric_at_least "$sport" "$t6" $((b6 + 1))
	# a UDP flow the rules refuse ends at once: counted for the UDP listener
	run -1 tp_udp 10.94.0.2 81 counted
	wait_until "one more UDP flow on 0.0.0.0:$TP_UPORT" r_metric_at_least "$sport" "$u4" $((bu + 1))
	# nothing came in by the SOCKS listener
	run -0 r_metric "$sport" "stp_listener_sessions_total{listener=\"127.0.0.1:$proxy\",kind=\"proxy\"}"
	assert_equal "$output" 0
	# a live UDP flow is open on its listener
	run -0 tp_udp 10.94.0.2 7 live
	run -0 r_get "$sport" /api/status
	jq -e --argjson tp "$TP_TPORT" --argjson up "$TP_UPORT" --argjson n4 $((b4 + 3)) '
	  (.listeners | length == 5) and
	  (.listeners[0] | .kind == "proxy" and .sessions_total == 0) and
	  (.listeners[1] | .addr == "0.0.0.0" and .port == $tp and .kind == "transparent" and .sessions_total >= $n4) and
	  (.listeners[2] | .addr == "::" and .port == $tp and .kind == "transparent") and
	  (.listeners[3] | .addr == "0.0.0.0" and .port == $up and .kind == "transparent-udp" and .sessions_open >= 1) and
	  (.listeners[4] | .addr == "::" and .port == $up and .kind == "transparent-udp")
	' <<<"$output" || { jq . <<<"$output"; false; }
}

@test "--workers 2: each worker has its own transparent TCP and UDP socket; flows spread over both and each gets its own bytes" {
	need_ns
	local k
	for ((k = 1; k <= 16; k++)); do echo "file $k" >"$WN_DIR/www/w$k.txt"; done
	wn_bg tpw "$TP_R" "$STP_TOP/bin/stp-serve" --workers 2 -l 127.0.0.1:0 --stats 127.0.0.1:0 \
		--transparent 0.0.0.0:12355 --transparent-udp 0.0.0.0:12356 \
		--upstream socks5h://127.0.0.1:1081 --rules '[{"action":"allow"}]'
	local sport out="" ok=0
	sport=$(r_stats_port "$WN_DIR/tpw.err")
	tp_tcp_mode redirect 12355
	tp_udp_port 12356
	# 16 TCP connections held open while ss shows who serves them, then a
	# file of its own fetched on each; 16 UDP flows, each its own echo
	if [ -n "$sport" ] && out=$(timeout $((60 * STP_SLOW)) ip netns exec "$TP_C" python3 -c '
import socket, subprocess, sys, time
router = sys.argv[1]
conns = [socket.create_connection(("10.94.0.2", 80), timeout=10) for _ in range(16)]
for _ in range(200):  # until every connection is accepted (bounded: 10 s)
    ss = subprocess.run(["ip", "netns", "exec", router, "ss", "-tnpH", "state", "established",
                         "( sport = :12355 )"], capture_output=True, text=True, check=True).stdout
    held = [l for l in ss.splitlines() if "pid=" in l]
    if len(held) >= 16:
        break
    time.sleep(0.05)
pids = sorted({l.split("pid=")[1].split(",")[0] for l in held})
print("tcp workers", len(pids))
good = 0
for k, c in enumerate(conns, 1):
    c.sendall(b"GET /w%d.txt HTTP/1.0\r\n\r\n" % k)
    body = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        body += d
    good += body.endswith(b"\r\n\r\nfile %d\n" % k)
    c.close()
print("tcp right", good)
good = 0
for k in range(1, 17):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    for _ in range(3):  # a datagram may be lost: the answer proves the path
        s.sendto(b"u%d" % k, ("10.94.0.2", 7))
        try:
            d, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        good += d == b"echo:u%d" % k and src == ("10.94.0.2", 7)
        break
print("udp right", good)' "$TP_R") &&
		WAIT_S=20 wait_until "16 live UDP flows on the page" tp_udp_flows_on "$sport" 16; then
		ok=1
	fi
	local status_json metrics
	status_json=$(r_get "$sport" /api/sessions) || true
	wait_until "16 TCP sessions counted" r_metric_at_least "$sport" \
		'stp_listener_sessions_total{listener="0.0.0.0:12355",kind="transparent"}' 16 || ok=0
	# undo before judging: the next tests need the first server's ports
	kill -TERM "$WN_PID_tpw" 2>/dev/null
	tp_tcp_mode redirect
	tp_udp_port "$TP_UPORT"
	[ "$ok" -eq 1 ] || { echo "$out"; cat "$WN_DIR/tpw.err" >&2; false; }
	assert_equal "$out" "tcp workers 2
tcp right 16
udp right 16"
	# the UDP flows are sessions of both workers too
	jq -e '[.sessions[] | select(.command == "udp-tcp") | .worker] | unique == [0, 1]' \
		<<<"$status_json" || { jq . <<<"$status_json"; false; }
	wait_for_line "$WN_DIR/tpw.err" 'cmd=connect transparent=tcp target=10\.94\.0\.2:80 .*result="ok"'
}
