#!/usr/bin/env bats
# http:// and https:// hops on the client side (issue 17, SPEC §2.1, §2.3):
# tinyproxy and Squid (Basic auth through basic_ncsa_auth and a throw-away
# htpasswd) as real HTTP proxies, alone and in chains with stp-serve, behind
# a TLS front (socat) for https://, from -x, the proxy variables and
# --config routes, and as stp-serve's --upstream.

bats_require_minimum_version 1.5.0
load lib/common
load lib/hproxy

setup_file() {
	make_pki "$BATS_FILE_TMPDIR/pki"
}

teardown() {
	stp_teardown
	# Squid's folder lives outside the test's own (see start_squid)
	[ -n "${SQ_DIR:-}" ] && rm -rf "$SQ_DIR"
	return 0
}

# start_tls_front PORT: a TLS listener (socat, the test PKI) in front of
# 127.0.0.1:PORT; exports TLSF_PORT.
start_tls_front() {
	local pki=$BATS_FILE_TMPDIR/pki try
	for try in 1 2 3; do
		TLSF_PORT=$(free_port)
		start_bg "tlsfront.$try" socat \
			"OPENSSL-LISTEN:$TLSF_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$pki/srv.pem,key=$pki/srv.key,verify=0" \
			"TCP:127.0.0.1:$1"
		wait_for_port "$TLSF_PORT" 5 && return 0
	done
	return 1
}

# ------------------------------------------------------------------ tinyproxy

@test "tinyproxy as an http:// hop: bytes both ways, its log shows the CONNECT" {
	start_echo
	start_tinyproxy
	head -c 100000 /dev/urandom >"$T/in"
	# tinyproxy closes the tunnel at the client's EOF: stdin stays open
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect -x "http://127.0.0.1:$TP_PORT" \
		127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/in" "$T/out"
	assert_equal "$stderr" ""
	wait_for_line "$TP_LOG" "Established connection to host \"127.0.0.1\"" 5 >/dev/null
}

@test "tinyproxy cannot connect to the target: exit 11 with its status line" {
	start_tinyproxy
	local port
	port=$(closed_port)
	run -11 --separate-stderr bounded stp-connect -z -x "http://127.0.0.1:$TP_PORT" 127.0.0.1 "$port"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$TP_PORT refused CONNECT 127.0.0.1:$port: HTTP/1.1 500 Unable to connect"
}

@test "-vv: the CONNECT and the status line, never the password or the Basic header" {
	start_echo
	start_tinyproxy
	run -0 --separate-stderr bounded stp-connect -vv -z \
		-x "http://alice:pa55word@127.0.0.1:$TP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "proxy 127\.0\.0\.1:$TP_PORT: HTTP CONNECT 127\.0\.0\.1:$ECHO_PORT as user 'alice' \(Basic\)"
	assert_match "$stderr" "proxy 127\.0\.0\.1:$TP_PORT: answered HTTP/1\.0 200 Connection established"
	[[ $stderr != *pa55word* ]]
	[[ $stderr != *YWxpY2U6cGE1NXdvcmQ* ]]  # base64 of alice:pa55word
}

# ------------------------------------------------------------------ Squid

@test "Squid with Basic auth: credentials from the URL, -U with STP_PASSWORD, --password-file" {
	start_echo
	start_squid
	echo "hello squid" >"$T/in"
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect \
		-x "http://alice:s3cret@127.0.0.1:$SQ_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" "hello squid"
	STP_PASSWORD=s3cret run -0 --separate-stderr bounded stp-connect -z -U alice \
		-x "http://127.0.0.1:$SQ_PORT" 127.0.0.1 "$ECHO_PORT"
	printf 's3cret\n' >"$T/pw"
	run -0 --separate-stderr bounded stp-connect -z -U alice --password-file "$T/pw" \
		-x "http://127.0.0.1:$SQ_PORT" 127.0.0.1 "$ECHO_PORT"
	wait_for_line "$SQ_DIR/access.log" "CONNECT 127\.0\.0\.1:$ECHO_PORT alice" 5 >/dev/null
}

@test "Squid: no credentials or wrong ones: exit 4 with the 407 and its schemes" {
	start_echo
	start_squid
	run -4 --separate-stderr bounded stp-connect -z -x "http://127.0.0.1:$SQ_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$SQ_PORT requires authentication (HTTP/1.1 407 Proxy Authentication Required, it offers Basic); give -U USER or USER:PASSWORD@ in the proxy URL"
	run -4 --separate-stderr bounded stp-connect -z -x "http://alice:wrong@127.0.0.1:$SQ_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$SQ_PORT rejected the credentials of user 'alice' (HTTP/1.1 407 Proxy Authentication Required)"
}

@test "Squid: a port it forbids is exit 12, a refused target exit 15" {
	local CLOSED
	CLOSED=$(closed_port)
	start_squid
	run -12 --separate-stderr bounded stp-connect -z -x "http://alice:s3cret@127.0.0.1:$SQ_PORT" 127.0.0.1 22
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$SQ_PORT refused CONNECT 127.0.0.1:22: HTTP/1.1 403 Forbidden"
	run -15 --separate-stderr bounded stp-connect -z -x "http://alice:s3cret@127.0.0.1:$SQ_PORT" 127.0.0.1 "$CLOSED"
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$SQ_PORT refused CONNECT 127.0.0.1:$CLOSED: HTTP/1.1 503 Service Unavailable (connection refused)"
}

# ------------------------------------------------------------------ chains

@test "a chain http -> socks5: tinyproxy first, stp-serve behind it" {
	start_echo
	start_tinyproxy
	start_stp_serve
	head -c 50000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect -x "http://127.0.0.1:$TP_PORT" \
		-x "socks5h://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/in" "$T/out"
	wait_for_line "$TP_LOG" "Established connection to host \"127.0.0.1\"" 5 >/dev/null
	wait_for_line "$STP_LOG" "cmd=connect target=127.0.0.1:$ECHO_PORT .*result=\"ok\"" 5 >/dev/null
}

@test "a chain socks5 -> http: stp-serve first, tinyproxy behind it; a refusal behind is exit 3" {
	start_echo
	start_tinyproxy
	start_stp_serve
	head -c 50000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect -x "socks5h://127.0.0.1:$STP_PORT" \
		-x "http://127.0.0.1:$TP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/in" "$T/out"
	wait_for_line "$STP_LOG" "cmd=connect target=127.0.0.1:$TP_PORT .*result=\"ok\"" 5 >/dev/null
	# an http hop first that cannot reach the next proxy: that proxy is
	# unreachable (exit 3), as for a SOCKS hop
	local port
	port=$(closed_port)
	start_squid
	run -3 --separate-stderr bounded stp-connect -z -x "http://alice:s3cret@127.0.0.1:$SQ_PORT" \
		-x "socks5h://127.0.0.1:$port" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: cannot reach proxy 127.0.0.1:$port through proxy 127.0.0.1:$SQ_PORT: HTTP/1.1 503 Service Unavailable (connection refused)"
}

@test "https:// hop: TLS (socat) in front of tinyproxy; verified with --cacert, exit 6 without" {
	start_echo
	start_tinyproxy
	start_tls_front "$TP_PORT"
	local pki=$BATS_FILE_TMPDIR/pki
	echo "through tls" >"$T/in"
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect --cacert "$pki/ca.pem" \
		-x "https://localhost:$TLSF_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" "through tls"
	run -6 --separate-stderr bounded stp-connect -z -x "https://localhost:$TLSF_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: TLS to proxy localhost: certificate verification failed"
	# https first, then stp-serve: TLS to the first hop, SOCKS5 inside the tunnel
	start_stp_serve
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect --cacert "$pki/ca.pem" \
		-x "https://localhost:$TLSF_PORT" -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" "through tls"
}

# ------------------------------------------------------------------ where URLs come from

@test "http:// from STP_PROXY, all_proxy, ALL_PROXY and a --config route" {
	start_echo
	start_tinyproxy
	local url="http://127.0.0.1:$TP_PORT" n
	STP_PROXY=$url run -0 --separate-stderr bounded stp-connect -z 127.0.0.1 "$ECHO_PORT"
	all_proxy=$url run -0 --separate-stderr bounded stp-connect -z 127.0.0.1 "$ECHO_PORT"
	ALL_PROXY=$url run -0 --separate-stderr bounded stp-connect -z 127.0.0.1 "$ECHO_PORT"
	printf '{"proxies": {"corp": "%s"}, "routes": [{"match": "*", "via": ["corp"]}]}\n' \
		"$url" >"$T/cfg.json"
	run -0 --separate-stderr bounded stp-connect --config "$T/cfg.json" -z 127.0.0.1 "$ECHO_PORT"
	# each of the four went through tinyproxy
	wait_until "four CONNECTs in tinyproxy's log" \
		lines_at_least "$TP_LOG" "Request \(file descriptor [0-9]+\): CONNECT 127.0.0.1:$ECHO_PORT " 4
	# an unknown scheme still names the choices
	run -2 --separate-stderr stp-connect -z -x "ftp://127.0.0.1:$TP_PORT" 127.0.0.1 1
	assert_match "$stderr" "unknown scheme 'ftp' \(use socks4, socks4a, socks5, socks5h, socks5s, socks5hs, http or https\)"
}

# ------------------------------------------------------------------ what HTTP cannot carry

@test "BIND, UDP, RESOLVE, DNS with an HTTP hop last: exit 7 before any connection" {
	local port
	port=$(closed_port)  # nothing listens: a dial would be exit 3
	run -7 --separate-stderr bounded stp-bind -x "http://127.0.0.1:$port"
	assert_equal "$stderr" "stp-bind: proxy 127.0.0.1:$port is an HTTP proxy, which carries only TCP streams (CONNECT), not BIND; the last proxy of the chain must be a SOCKS5 one for that"
	run -7 --separate-stderr bounded stp-udp -x "https://127.0.0.1:$port" 127.0.0.1 53 </dev/null
	assert_match "$stderr" "is an HTTP proxy, which carries only TCP streams \(CONNECT\), not UDP"
	run -7 --separate-stderr bounded stp-resolve -x "http://127.0.0.1:$port" localhost
	assert_match "$stderr" "not RESOLVE"
	run -7 --separate-stderr bounded stp-resolve -t A -x "http://127.0.0.1:$port" localhost
	assert_match "$stderr" "is an HTTP proxy"
	# with a SOCKS5 hop last, an HTTP hop first is fine for BIND
	start_tinyproxy
	start_stp_serve
	start_bg bind stp-bind -x "http://127.0.0.1:$TP_PORT" -x "socks5h://127.0.0.1:$STP_PORT"
	wait_for_line "$T/bind.err" '^bound ' 10 >/dev/null
}

# ------------------------------------------------------------------ stp-serve --upstream

@test "stp-serve --upstream http://tinyproxy carries a curl --socks5-hostname session" {
	start_http
	start_tinyproxy
	start_stp_serve --upstream "http://127.0.0.1:$TP_PORT"
	run -0 --separate-stderr curl -sS --max-time $((20 * STP_SLOW)) \
		--socks5-hostname "127.0.0.1:$STP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	wait_for_line "$TP_LOG" "Established connection to host \"127.0.0.1\"" 5 >/dev/null
	wait_for_line "$STP_LOG" "cmd=connect target=127.0.0.1:$HTTP_PORT .*result=\"ok\"" 5 >/dev/null
	# tinyproxy's refusal reaches the SOCKS client as a reply
	local port
	port=$(closed_port)
	run -11 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$port"
	wait_for_line "$STP_LOG" "upstream: proxy 127.0.0.1:$TP_PORT refused CONNECT 127.0.0.1:$port: HTTP/1.1 500 Unable to connect" 5 >/dev/null
	# what HTTP cannot carry (the DNS channel) is X'07' and a log line;
	# stp-resolve -t then falls back to RESOLVE, which the chain carries
	# (http-upresolve.bats), so its outcome depends on this host's resolver
	run --separate-stderr bounded stp-resolve -t A -x "127.0.0.1:$STP_PORT" localhost
	assert_match "$stderr" "has no DNS channel"
	wait_for_line "$STP_LOG" "upstream: DNS 0\.0\.0\.0:0 refused: the upstream chain cannot carry it" 5 >/dev/null
}

# ------------------------------------------------------------------ stp-probe

@test "stp-probe http://tinyproxy: detect, CONNECT seen by its target, absolute-form GET, latency; --json" {
	start_tinyproxy
	run -0 --separate-stderr bounded stp-probe -n 3 "http://127.0.0.1:$TP_PORT"
	assert_match "$output" "ok +detect +an HTTP proxy \(it answered CONNECT with 'HTTP/1\.0 200 Connection established'\)"
	assert_match "$output" "-- +auth +no credentials needed"
	assert_match "$output" "ok +connect +CONNECT 127\.0\.0\.1:[0-9]+: HTTP/1\.0 200 Connection established in [0-9.]+ ms; the target saw the connection"
	assert_match "$output" "ok +http +absolute-form GET http://127\.0\.0\.1:[0-9]+/: HTTP/1\.[01] 200 OK"
	assert_match "$output" "ok +latency +connect\+CONNECT: min [0-9.]+ ms, median [0-9.]+ ms, p99 [0-9.]+ ms over 3 tries"
	assert_match "$output" "verdict: ok"
	run -0 --separate-stderr bounded stp-probe --json -n 2 "http://127.0.0.1:$TP_PORT"
	assert_equal "$(jq -r '[.detected, .verdict, .exit] | join(" ")' <<<"$output")" "http ok 0"
	assert_equal "$(jq -r '[.checks[] | .name + ":" + .status] | join(" ")' <<<"$output")" \
		"reach:ok tls:skip detect:ok auth:skip connect:ok http:ok latency:ok"
	assert_equal "$(jq -r '.checks[] | select(.name == "latency") | .succeeded' <<<"$output")" 2
}

@test "stp-probe http://squid: the 407 and its schemes (exit 4), credentials accepted or refused, --url" {
	start_echo
	start_http
	start_squid
	run -4 --separate-stderr bounded stp-probe -n 2 "http://127.0.0.1:$SQ_PORT"
	assert_match "$output" "ok +detect +an HTTP proxy \(it answered CONNECT with 'HTTP/1\.1 407 Proxy Authentication Required'\)"
	assert_match "$output" "FAIL +auth +credentials needed \(HTTP/1\.1 407 Proxy Authentication Required; it offers Basic\); give -U USER"
	assert_match "$output" "verdict: FAIL \(1 check failed\)"
	run -4 --separate-stderr bounded stp-probe -n 2 "http://alice:wrong@127.0.0.1:$SQ_PORT"
	assert_match "$output" "FAIL +auth +credentials of user 'alice' rejected \(HTTP/1\.1 407 Proxy Authentication Required\)"
	[[ $output != *wrong* ]]
	run -0 --separate-stderr bounded stp-probe -n 2 --url "$HTTP_URL" -U alice:s3cret \
		"http://127.0.0.1:$SQ_PORT"
	assert_match "$output" "ok +auth +credentials of user 'alice' accepted \(Basic; it offers Basic\)"
	assert_match "$output" "ok +connect +CONNECT 127\.0\.0\.1:[0-9]+ with credentials: HTTP/1\.1 200 Connection established"
	assert_match "$output" "ok +http +http://127\.0\.0\.1:$HTTP_PORT/data\.bin: HTTP 200, 262144 bytes"
	assert_match "$output" "verdict: ok"
}

@test "stp-probe tells an HTTP proxy, a web server, a SOCKS server and a TLS listener apart, either way round" {
	start_tinyproxy
	# SOCKS only: stp-serve's port speaks HTTP too unless --no-http
	start_stp_serve --no-http
	start_http
	start_tls_front "$TP_PORT"
	run -5 --separate-stderr bounded stp-probe "http://127.0.0.1:$STP_PORT"
	assert_match "$output" "FAIL +detect +not an HTTP proxy: a SOCKS5 server \(.*\); use socks5h://127\.0\.0\.1:$STP_PORT"
	start_bg mixed stp-serve -l 127.0.0.1:0 --open
	run -0 --separate-stderr bounded stp-probe -n 2 "http://127.0.0.1:$(_listen_port mixed)"
	assert_match "$output" "ok +connect +CONNECT "
	run -5 --separate-stderr bounded stp-probe "http://127.0.0.1:$HTTP_PORT"
	assert_match "$output" "FAIL +detect +not a proxy: an HTTP server \(it answered CONNECT with 'HTTP/1\.[01] 501 "
	run -5 --separate-stderr bounded stp-probe "socks5h://127.0.0.1:$HTTP_PORT"
	assert_match "$output" "FAIL +detect +not SOCKS: an HTTP server"
	run -5 --separate-stderr bounded stp-probe "http://127.0.0.1:$TLSF_PORT"
	assert_match "$output" "FAIL +detect +not an HTTP proxy: a TLS listener .*; use https://127\.0\.0\.1:$TLSF_PORT"
	run -0 --separate-stderr bounded stp-probe -n 2 --cacert "$BATS_FILE_TMPDIR/pki/ca.pem" \
		"https://localhost:$TLSF_PORT"
	assert_match "$output" "ok +tls +TLSv1\.[23] .*verification: ok"
	assert_match "$output" "ok +connect +CONNECT "
}

@test "stp-probe without URL: the proxy of STP_PROXY, ALL_PROXY or a --config route; none is exit 2" {
	start_tinyproxy
	local url="http://127.0.0.1:$TP_PORT"
	STP_PROXY=$url run -0 --separate-stderr bounded stp-probe -n 1 --json
	assert_equal "$(jq -r '[.detected, .proxy.port, .verdict] | join(" ")' <<<"$output")" "http $TP_PORT ok"
	ALL_PROXY=$url run -0 --separate-stderr bounded stp-probe -n 1 -q
	assert_equal "$output" "verdict: ok"
	printf '{"proxies": {"corp": "%s"}, "routes": [{"match": "*", "via": ["corp"]}]}\n' \
		"$url" >"$T/cfg.json"
	run -0 --separate-stderr bounded stp-probe -n 1 --json --config "$T/cfg.json"
	assert_equal "$(jq -r '[.detected, .proxy.port] | join(" ")' <<<"$output")" "http $TP_PORT"
	run -2 --separate-stderr stp-probe
	assert_match "$stderr" "^stp-probe: no proxy: "
}
