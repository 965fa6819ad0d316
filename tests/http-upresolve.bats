#!/usr/bin/env bats
# http-upresolve.bats - RESOLVE and RESOLVE_PTR through an --upstream chain
# whose last hop is an HTTP proxy (SPEC §3.6, issue 17): stp-serve CONNECTs
# through tinyproxy or Squid to its DNS server (--resolver, a dnsmasq the
# test starts that logs its queries) and asks over DNS over TCP. The proxy's
# log shows the CONNECT, dnsmasq's the questions; stp-resolve gets the
# answers; failures are the reply codes of a local lookup.

bats_require_minimum_version 1.5.0
load lib/common
load lib/resolve
load lib/hproxy

setup() { stp_setup; }
teardown() {
	stp_teardown
	stop_squid_dir
}

# dns_log: dnsmasq's log (start_dnsmasq's last try).
dns_log() { cat "$BATS_TEST_TMPDIR"/dnsmasq.*.err; }

@test "tinyproxy last: RESOLVE of an IPv4 and an IPv6 name and RESOLVE_PTR answered by the DNS server behind it" {
	start_resolve_dns --log-queries
	start_tinyproxy
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" --upstream "http://127.0.0.1:$TP_PORT"
	run -0 --separate-stderr stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" web.test v6.test both.test
	assert_equal "$output" "web.test 127.0.0.1
v6.test ::1
both.test 127.0.0.1"
	run -0 --separate-stderr stp-resolve -r -x "socks5h://127.0.0.1:$STP_PORT" 192.0.2.10
	assert_equal "$output" "192.0.2.10 host10.test"
	# the questions went through tinyproxy, to the DNS server, over TCP
	grep -q "CONNECT 127.0.0.1:$DNS_PORT HTTP/1.1" "$TP_LOG"
	[ "$(grep -c "CONNECT 127.0.0.1:$DNS_PORT" "$TP_LOG")" -eq 4 ]
	dns_log | grep -q "query\[A\] web.test from 127.0.0.1"
	dns_log | grep -q "query\[AAAA\] v6.test from 127.0.0.1"
	dns_log | grep -q "query\[PTR\] 10.2.0.192.in-addr.arpa from 127.0.0.1"
	# one log line each, naming the question, answer, server and proxy
	grep -q "upstream: A+AAAA v6.test: ::1 (DNS server 127.0.0.1:$DNS_PORT through proxy 127.0.0.1:$TP_PORT)" "$STP_LOG"
	grep -q "upstream: PTR 10.2.0.192.in-addr.arpa: host10.test (DNS server 127.0.0.1:$DNS_PORT through proxy 127.0.0.1:$TP_PORT)" "$STP_LOG"
}

@test "Squid with Basic credentials last, behind a SOCKS5 hop: RESOLVE and RESOLVE_PTR; Squid's access log shows the CONNECT" {
	start_resolve_dns --log-queries
	start_squid
	start_stp_serve
	local mid=$STP_PORT
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" \
		--upstream "socks5h://127.0.0.1:$mid" --upstream "http://alice:s3cret@127.0.0.1:$SQ_PORT"
	run -0 --separate-stderr stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" both.test v6.test
	assert_equal "$output" "both.test 127.0.0.1
v6.test ::1"
	run -0 --separate-stderr stp-resolve -r -x "socks5h://127.0.0.1:$STP_PORT" 192.0.2.10
	assert_equal "$output" "192.0.2.10 host10.test"
	wait_until "squid logged the CONNECTs" grep -q "CONNECT 127.0.0.1:$DNS_PORT .*alice" "$SQ_DIR/access.log"
	dns_log | grep -q "query\[PTR\] 10.2.0.192.in-addr.arpa from 127.0.0.1"
	# the SOCKS5 hop carried a CONNECT (to Squid), not a RESOLVE
	grep -q "cmd=connect target=127.0.0.1:$SQ_PORT" "$STP_LOG_1"
	! grep -q "cmd=resolve" "$STP_LOG_1"
}

@test "a name the DNS server does not know is reply 4 (as a local lookup), with its reason in the log" {
	start_resolve_dns --log-queries
	start_tinyproxy
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" --upstream "http://127.0.0.1:$TP_PORT"
	run -1 --separate-stderr stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" nosuch.test
	assert_match "$stderr" "nosuch.test: does not resolve .*reply 4"
	grep -q "upstream: A+AAAA nosuch.test: no such name (DNS server 127.0.0.1:$DNS_PORT" "$STP_LOG"
	dns_log | grep -q "query\[AAAA\] nosuch.test"
	run -1 --separate-stderr stp-resolve -r -x "socks5h://127.0.0.1:$STP_PORT" 192.0.2.99
	assert_match "$stderr" "reply 4"
}

@test "a DNS server that never answers: reply 6 after the connect timeout; the server keeps serving" {
	start_http
	start_blackhole_dns
	start_tinyproxy
	start_stp_serve --connect-timeout 2 --resolver "127.0.0.1:$BLACKHOLE_PORT" \
		--upstream "http://127.0.0.1:$TP_PORT"
	local t0 t1
	t0=$(_now_ms)
	run --separate-stderr bounded timeout $((20 * STP_SLOW)) stp-resolve \
		-x "socks5h://127.0.0.1:$STP_PORT" web.test
	t1=$(_now_ms)
	[ "$status" -eq 1 ]
	assert_match "$stderr" "reply 6"
	[ $((t1 - t0)) -ge 1900 ]
	grep -q "A+AAAA web.test: no answer from DNS server 127.0.0.1:$BLACKHOLE_PORT through proxy 127.0.0.1:$TP_PORT within 2 s" "$STP_LOG"
	# CONNECT through the same chain still works
	curl -sS --max-time $((10 * STP_SLOW)) --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "$HTTP_URL"
	cmp "$T/got" "$HTTP_FILE"
}

@test "the HTTP proxy cannot reach the DNS server: reply 4, the proxy's status line in the log" {
	start_tinyproxy
	local dead
	dead=$(closed_port)
	start_stp_serve --resolver "127.0.0.1:$dead" --upstream "http://127.0.0.1:$TP_PORT"
	run -1 --separate-stderr stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" web.test
	assert_match "$stderr" "reply 4"
	grep -q "CONNECT 127.0.0.1:$dead" "$TP_LOG"
	grep -q "upstream: .*client request RESOLVE web.test" "$STP_LOG"
}
