#!/usr/bin/env bats
# stp-resolve, and stp-serve's RESOLVE, RESOLVE_PTR, DNS channel and Happy
# Eyeballs, against a dnsmasq the tests start (--no-resolv: nothing leaves
# the machine), dig, curl, Dante and ssh -D.

bats_require_minimum_version 1.5.0
load lib/common
load lib/resolve

# A dnsmasq with the suite's records and stp-serve resolving through it.
serve_with_dns() {
	start_resolve_dns
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" "$@"
	PROXY="127.0.0.1:$STP_PORT"
}

# ---------------------------------------------------------------- RESOLVE

@test "forward: NAME ADDR per name; a name that does not resolve is named on stderr, the others printed, exit 1" {
	serve_with_dns
	run -1 --separate-stderr stp-resolve -x "$PROXY" both.test nosuch.test v4.test
	assert_equal "$output" "both.test 127.0.0.1
v4.test 127.0.0.2"
	assert_equal "${#stderr_lines[@]}" 1
	assert_match "$stderr" "^stp-resolve: nosuch\\.test: does not resolve \\(proxy 127\\.0\\.0\\.1:$STP_PORT, reply 4\\)$"
	run -0 --separate-stderr stp-resolve -x "$PROXY" v6.test
	assert_equal "$output" "v6.test ::1"
	grep -q 'cmd=resolve target=nosuch.test:0 .*result="Domain name not found"' "$STP_LOG"
}

@test "forward: names from stdin, one per line, blank lines skipped; --json validated with jq" {
	serve_with_dns
	printf 'both.test\n\n  v4.test  \nnosuch.test\n' >"$T/names"
	run -1 --separate-stderr bash -c "stp-resolve -x '$PROXY' --json <'$T/names'"
	assert_equal "${#lines[@]}" 2
	run -0 jq -e -s 'length == 2 and .[0] == {"name":"both.test","type":"A","ttl":null,"data":"127.0.0.1"}
		and .[1].name == "v4.test" and .[1].data == "127.0.0.2"' <<<"$output"
}

@test "reverse: -r prints ADDR NAME (RESOLVE_PTR); an address without a name fails alone" {
	serve_with_dns
	run -1 --separate-stderr stp-resolve -x "$PROXY" -r 192.0.2.10 192.0.2.99
	assert_equal "$output" "192.0.2.10 host10.test"
	assert_match "$stderr" "^stp-resolve: 192\\.0\\.2\\.99: has no name \\(proxy .*, reply 4\\)$"
	run -0 --separate-stderr stp-resolve -x "$PROXY" -r --json 192.0.2.10
	run -0 jq -e '. == {"name":"192.0.2.10","type":"PTR","ttl":null,"data":"host10.test"}' <<<"$output"
}

@test "FEATURES lists dns, resolve and resolve-ptr" {
	start_stp_serve
	run -0 features_py "$STP_PORT"
	for tok in dns resolve resolve-ptr; do
		[[ " $output " == *" $tok "* ]] || { echo "no '$tok' in: $output"; return 1; }
	done
}

# ---------------------------------------------------------------- DNS channel

@test "-t TXT and -t MX print dig's answer lines; -t PTR takes an address; --json has TTLs" {
	serve_with_dns
	run -0 --separate-stderr stp-resolve -x "$PROXY" -t TXT txt.test
	assert_equal "$output" 'txt.test. 0 IN TXT "hello world" "second string"'
	run -0 --separate-stderr stp-resolve -x "$PROXY" -t mx mx.test
	assert_equal "$output" "mx.test. 0 IN MX 10 mail.test."
	run -0 --separate-stderr stp-resolve -x "$PROXY" -t PTR 192.0.2.10
	assert_equal "$output" "10.2.0.192.in-addr.arpa. 0 IN PTR host10.test."
	run -0 --separate-stderr stp-resolve -x "$PROXY" -t AAAA --json both.test
	run -0 jq -e '. == {"name":"both.test.","type":"AAAA","ttl":0,"data":"::1"}' <<<"$output"
	grep -q 'cmd=dns target=0.0.0.0:0 up=[1-9][0-9]* down=[1-9][0-9]* .*result="ok"' "$STP_LOG"
}

@test "-t: NXDOMAIN and a name without that type fail alone; the others are printed, exit 1" {
	serve_with_dns
	run -1 --separate-stderr stp-resolve -x "$PROXY" -t TXT nosuch.test txt.test mx.test
	assert_equal "$output" 'txt.test. 0 IN TXT "hello world" "second string"'
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "stp-resolve: nosuch.test: no such name (NXDOMAIN)"
	assert_equal "${stderr_lines[1]}" "stp-resolve: mx.test: no TXT record"
}

@test "DNS channel: many queries in flight come back each once with the client's ID" {
	serve_with_dns
	run -0 dns_py "$STP_PORT" many 300
	assert_equal "${lines[0]}" "reply 0 optlen 0"
	assert_equal "${lines[1]}" "ids OK"
}

@test "DNS channel: garbage, LEN 0 and cut-off messages get FORMERR or are dropped; the server is fine after" {
	start_http
	serve_with_dns
	run -0 dns_py "$STP_PORT" malformed
	assert_equal "$output" "reply 0 optlen 0
answer id 7 rcode 1 an 0
answer id 8 rcode 4 an 0
answer id 1 rcode 1 an 0
answer id 9 rcode 0 an 1
closed"
	stp_serve_alive
	run -0 --separate-stderr stp-resolve -x "$PROXY" -t A both.test
	assert_equal "$output" "both.test. 0 IN A 127.0.0.1"
}

# ---------------------------------------------------------------- --listen

@test "--listen: dig over UDP and TCP gets answers through the proxy" {
	serve_with_dns
	start_bg stp-resolve stp-resolve -x "$PROXY" --listen 0
	local port
	port=$(_listen_port stp-resolve) || return 1
	run -0 dig @127.0.0.1 -p "$port" +short +tries=1 +time=5 both.test A
	assert_equal "$output" "127.0.0.1"
	run -0 dig @127.0.0.1 -p "$port" +short +tcp +time=5 txt.test TXT
	assert_equal "$output" '"hello world" "second string"'
	run -0 dig @127.0.0.1 -p "$port" +short +tries=1 +time=5 -x 192.0.2.10
	assert_equal "$output" "host10.test."
	run -0 dig @127.0.0.1 -p "$port" +tries=1 +time=5 nosuch.test
	assert_match "$output" "status: NXDOMAIN"
	run -0 dig @127.0.0.1 -p "$port" +tcp +time=5 nosuch.test
	assert_match "$output" "status: NXDOMAIN"
}

@test "--listen: a UDP answer over 512 bytes comes truncated with TC; dig then gets it whole over TCP" {
	serve_with_dns
	start_bg stp-resolve stp-resolve -x "$PROXY" --listen 127.0.0.1:0
	local port
	port=$(_listen_port stp-resolve) || return 1
	run -0 dig @127.0.0.1 -p "$port" +noedns +ignore +tries=1 +time=5 big.test TXT
	assert_match "$output" "flags: qr[a-z ]* tc[a-z ]*;"
	assert_match "$output" "ANSWER: 0"
	# dig's own fallback to TCP
	run -0 dig @127.0.0.1 -p "$port" +noedns +short +tries=1 +time=5 big.test TXT
	assert_equal "$output" "\"$BIG_TXT\" \"$BIG_TXT\" \"$BIG_TXT\""
	# with EDNS offering 4096 bytes it fits in UDP
	run -0 dig @127.0.0.1 -p "$port" +bufsize=4096 +ignore +tries=1 +time=5 big.test TXT
	[[ ! $output =~ flags:\ qr[a-z\ ]*\ tc ]]
	assert_match "$output" "ANSWER: 1"
}

@test "--listen: a proxy without the DNS channel is an error at start (exit 7)" {
	start_dante
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$DANTE_PORT" --listen 0
	assert_match "$stderr" "^stp-resolve: proxy 127\\.0\\.0\\.1:$DANTE_PORT has no DNS channel \\(STP feature 'dns'\\)$"
}

# ---------------------------------------------------------------- CONNECT

@test "curl --socks5-hostname reaches a name only the server's resolver knows" {
	start_http
	serve_with_dns
	# the name exists only in the test's dnsmasq, never on this machine
	run -0 --separate-stderr curl -sS --max-time 10 --socks5-hostname "$PROXY" \
		-o "$T/got" "http://web.test:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	grep -q 'cmd=connect target=web.test:' "$STP_LOG"
}

# Happy Eyeballs: a closed first family must not cost a connect timeout
# (--connect-timeout is 30 s by default). The bound below is generous, a
# busy machine must not fail it; the latency itself is not asserted.
@test "Happy Eyeballs: AAAA ::1 closed, A 127.0.0.1 listening: connects, well before a connect timeout" {
	start_echo
	serve_with_dns
	local t0 t1
	t0=$(_now_ms)
	run -0 bnd_py "$STP_PORT" both.test "$ECHO_PORT"
	t1=$(_now_ms)
	assert_equal "$output" "reply 0 bnd 127.0.0.1
echo ping"
	[ $((t1 - t0)) -lt $((5000 * STP_SLOW)) ] || { echo "took $((t1 - t0)) ms" >&2; return 1; }
}

@test "Happy Eyeballs: AAAA ::1 listening, A 127.0.0.1 closed: IPv6 wins, well before a connect timeout, BND is ::1" {
	start_v6_echo
	serve_with_dns
	local t0 t1
	t0=$(_now_ms)
	run -0 bnd_py "$STP_PORT" both.test "$V6_ECHO_PORT"
	t1=$(_now_ms)
	assert_equal "$output" "reply 0 bnd ::1
echo ping"
	[ $((t1 - t0)) -lt $((5000 * STP_SLOW)) ] || { echo "took $((t1 - t0)) ms" >&2; return 1; }
	# and through stp-connect
	run -0 --separate-stderr bash -c "printf hello | timeout 5 stp-connect -x '$PROXY' both.test '$V6_ECHO_PORT'"
	assert_equal "$output" "hello"
}

# The latency of CONNECTs while lookups hang is a figure of tools/bench
# (--modes resolver-stall); here: they are served while the lookups are in
# flight, which --stats shows before and after.
@test "a resolver that never answers delays no other session: CONNECTs to addresses are served while 8 lookups hang" {
	start_http
	start_blackhole_dns
	start_stp_serve --resolver "127.0.0.1:$BLACKHOLE_PORT" --stats 127.0.0.1:0
	local n sport
	sport=$(stats_port)
	for n in 1 2 3 4 5 6 7 8; do
		start_bg "slow$n" stp-resolve -x "127.0.0.1:$STP_PORT" -w 20 "slow$n.test"
	done
	# the lookups are in flight on the server: 8 started, 8 sessions open
	wait_until "8 lookups started" stats_at_least "$sport" stp_resolver_lookups_total 8
	wait_until "8 sessions open" stats_at_least "$sport" stp_sessions_open 8
	for n in 1 2 3 4 5; do
		stp_serve_alive
	done
	# and still in flight once the fetches are done: none of them ended
	# (c-ares gives up after a few seconds; the fetches came before that)
	assert_equal "$(stats_value "$sport" 'stp_sessions_total{command="resolve",result="ok"}')" 0
	assert_equal "$(stats_value "$sport" 'stp_sessions_total{command="resolve",result="failed"}')" 0
	run -1 grep -E 'cmd=resolve ' "$STP_LOG"
	for n in 1 2 3 4 5 6 7 8; do
		kill -0 "${BG_PID[slow$n]}"   # still waiting for their names
	done
}

# ---------------------------------------------------------------- other servers

@test "against Dante: RESOLVE closes the connection (exit 7, clear message); -t MX exits 7 naming the feature" {
	start_dante
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$DANTE_PORT" localhost
	assert_equal "$output" ""
	assert_match "$stderr" "^stp-resolve: proxy 127\\.0\\.0\\.1:$DANTE_PORT closed the connection without a reply to RESOLVE \\(it does not support it\\)$"
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$DANTE_PORT" -t MX example.test
	assert_match "$stderr" "^stp-resolve: proxy 127\\.0\\.0\\.1:$DANTE_PORT has no DNS channel \\(STP feature 'dns'\\)$"
	# -t A falls back to RESOLVE, which Dante lacks too
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$DANTE_PORT" -t A localhost
	assert_match "$stderr" "falls back to RESOLVE"
	assert_match "$stderr" "without a reply to RESOLVE"
}

@test "against ssh -D: RESOLVE and the DNS channel are unsupported (exit 7)" {
	start_sshd
	start_ssh_D
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$SSH_D_PORT" -w 10 localhost
	assert_match "$stderr" "without a reply to RESOLVE \\(it does not support it\\)$"
	run -7 --separate-stderr stp-resolve -x "127.0.0.1:$SSH_D_PORT" -w 10 -t TXT example.test
	assert_match "$stderr" "has no DNS channel \\(STP feature 'dns'\\)$"
}

@test "usage errors: an unknown type, -r with -t, --listen with names (exit 2)" {
	serve_with_dns
	run -2 --separate-stderr stp-resolve -x "$PROXY" -t NOSUCHTYPE both.test
	assert_match "$stderr" "^stp-resolve: -t: unknown record type 'NOSUCHTYPE'; try 'stp-resolve --help'$"
	run -2 --separate-stderr stp-resolve -x "$PROXY" -r -t A both.test
	run -2 --separate-stderr stp-resolve -x "$PROXY" --listen 0 both.test
}

@test "the proxy unreachable: exit 3 at once, not one failure per name" {
	local port
	port=$(closed_port)
	run -3 --separate-stderr stp-resolve -x "127.0.0.1:$port" a.test b.test
	assert_equal "${#stderr_lines[@]}" 1
	assert_match "$stderr" "^stp-resolve: cannot reach proxy 127\\.0\\.0\\.1:$port: "
}
