#!/usr/bin/env bats
# Absolute-form requests forwarded by stp-serve's mixed port (SPEC §3.6,
# issue 17): keep-alive to the client (several requests, several origins,
# pipelined), hop-by-hop fields dropped both ways, Via both ways,
# Expect: 100-continue, bodies framed by Content-Length, chunked or the
# origin's close, HEAD/204/304 bodiless, and the log's real status. Real
# peers: curl, wget, Squid (stp-serve as its parent proxy), tinyproxy
# (stp-serve as its upstream); origins: lib/peers.py http and
# lib/httporigin.py; pipelined requests from lib/httppipe.py.

bats_require_minimum_version 1.5.0
load lib/common
load lib/hproxy

PIPE="$BATS_TEST_DIRNAME/lib/httppipe.py"

teardown() {
	stp_teardown
	# Squid's folder lives outside the test's own (see squid_dir)
	stop_squid_dir
}

# hcurl ARGS...: curl with a deadline, no proxy from the environment.
hcurl() {
	curl -sS --noproxy '' --max-time $((20 * STP_SLOW)) "$@"
}

# start_origin: lib/httporigin.py; exports ORIGIN_PORT and O (its URL).
start_origin() {
	start_bg origin "$PY" "$BATS_TEST_DIRNAME/lib/httporigin.py"
	ORIGIN_PORT=$(_listen_port origin) || return 1
	O="http://127.0.0.1:$ORIGIN_PORT"
}

# sessions_of CLIENT: the session lines of client address CLIENT in STP_LOG.
sessions_of() { grep -c "session client=$1 " "$STP_LOG" || true; }

@test "curl: four requests to two origins on one client connection, each logged with its own status" {
	start_http
	start_origin
	start_stp_serve
	run -0 hcurl -v -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/b" -o "$T/c" -o "$T/d" \
		"$HTTP_URL" "$O/chunked?n=2" "http://127.0.0.1:$HTTP_PORT/hello.txt" "$O/missing"
	assert_files_equal "$T/a" "$HTTP_FILE"
	assert_equal "$(cat "$T/b")" $'chunk 0\nchunk 1'
	assert_equal "$(cat "$T/c")" "hello from the test http server"
	assert_match "$(cat "$T/d")" "404"
	assert_equal "$(grep -c 'Re-using existing connection' <<<"$output")" 3
	# one line per request, all from the one client connection
	run -0 wait_for_line "$STP_LOG" "http=GET status=404 target=127\.0\.0\.1:$ORIGIN_PORT .*result=\"ok\""
	local client
	client=$(grep -o 'session client=[^ ]*' "$STP_LOG" | sort -u)
	assert_equal "$(wc -l <<<"$client")" 1
	assert_equal "$(grep -c "http=GET status=200 target=127\.0\.0\.1:$HTTP_PORT " "$STP_LOG")" 2
	assert_equal "$(grep -c "http=GET status=200 target=127\.0\.0\.1:$ORIGIN_PORT " "$STP_LOG")" 1
	# no line for the kept connection's end: four in all
	run -0 stop_bg stp-serve
	assert_equal "$(grep -c 'session client=' "$STP_LOG")" 4
}

@test "HTTP/1.0 clients: kept with Proxy-Connection: keep-alive, closed without" {
	start_http
	start_stp_serve
	run -0 hcurl -v --http1.0 -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/b" \
		"http://127.0.0.1:$HTTP_PORT/hello.txt" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_equal "$(cat "$T/b")" "hello from the test http server"
	assert_match "$output" $'< Connection: keep-alive\r'
	assert_equal "$(grep -c 'Re-using existing connection' <<<"$output")" 1
	run -0 hcurl -v --http1.0 -x "http://127.0.0.1:$STP_PORT" -H 'Proxy-Connection: close' \
		-o "$T/c" -o "$T/d" "http://127.0.0.1:$HTTP_PORT/hello.txt" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_equal "$(cat "$T/d")" "hello from the test http server"
	assert_match "$output" $'< Connection: close\r'
	assert_equal "$(grep -c 'Re-using existing connection' <<<"$output")" 0
}

@test "wget: two URLs on one persistent connection through stp-serve" {
	start_http
	start_stp_serve
	run -0 bounded wget -e use_proxy=yes -e "http_proxy=http://127.0.0.1:$STP_PORT" -P "$T/w" \
		"http://127.0.0.1:$HTTP_PORT/hello.txt" "$HTTP_URL"
	assert_files_equal "$T/w/data.bin" "$HTTP_FILE"
	assert_match "$output" "Reusing existing connection to 127\.0\.0\.1:$STP_PORT"
}

@test "hop-by-hop fields are dropped both ways; Via is added both ways; framing fields stay" {
	start_origin
	start_stp_serve
	run -0 hcurl -si -x "http://127.0.0.1:$STP_PORT" "$O/chunked?n=4"
	assert_match "$output" $'^HTTP/1.1 200 OK\r'
	assert_match "$output" $'\nTransfer-Encoding: chunked\r'
	assert_match "$output" $'\nX-End-To-End: kept\r'
	assert_match "$output" $'\nVia: 1.1 stp-serve-[0-9a-f]{8}\r'
	assert_match "$output" $'\nConnection: keep-alive\r'
	assert_match "$output" $'chunk 3$'
	local h
	for h in X-Hop Keep-Alive Proxy-Authenticate Proxy-Connection Trailer; do
		[[ $output != *$'\n'"$h:"* ]] || { echo "$h passed on: $output"; return 1; }
	done
	# the request as the origin got it (lib/httporigin.py /headers)
	run -0 hcurl -s -x "http://127.0.0.1:$STP_PORT" -H 'Connection: X-Req-Hop' -H 'X-Req-Hop: 1' \
		-H 'Keep-Alive: 300' -H 'TE: trailers' -H 'X-Keep: yes' "$O/headers"
	assert_match "$output" $'^GET /headers HTTP/1.1\r'
	# (http.server writes the fields back with LF alone)
	assert_match "$output" $'\nVia: 1.1 stp-serve-[0-9a-f]{8}\n'
	assert_match "$output" $'\nX-Keep: yes\n'
	for h in X-Req-Hop Keep-Alive TE Proxy-Connection; do
		[[ $output != *$'\n'"$h:"* ]] || { echo "$h passed on: $output"; return 1; }
	done
}

@test "request bodies: Expect: 100-continue gets the origin's 100, Content-Length and chunked bodies arrive whole" {
	start_origin
	start_stp_serve
	head -c 300000 /dev/urandom >"$T/body"
	run -0 hcurl -v -x "http://127.0.0.1:$STP_PORT" -H 'Expect: 100-continue' \
		--data-binary "@$T/body" "$O/echo"
	assert_match "$output" $'< HTTP/1.1 100 Continue\r'
	assert_match "$output" "$(sha "$T/body") 300000"
	run -0 hcurl -s -x "http://127.0.0.1:$STP_PORT" -H 'Transfer-Encoding: chunked' \
		--data-binary "@$T/body" "$O/echo"
	assert_equal "$output" "$(sha "$T/body") 300000"
	run -0 wait_for_line "$STP_LOG" "http=POST status=200 target=127\.0\.0\.1:$ORIGIN_PORT up=3[0-9]{5} "
}

@test "pipelined requests: HEAD, chunked, 204 and 304 answers framed right, in order, on one connection" {
	start_origin
	start_stp_serve
	run -0 bounded "$PY" "$PIPE" "$STP_PORT" HEAD "$O/x" GET "$O/chunked?n=5" \
		GET "$O/nobody?s=204" GET "$O/nobody?s=304" GET "$O/chunked?n=2"
	assert_equal "$output" "200 0 keep-alive
200 40 keep-alive
204 0 keep-alive
304 0 keep-alive
200 16 close
closed"
	run -0 wait_for_line "$STP_LOG" "http=GET status=304 "
	run -0 wait_for_line "$STP_LOG" "http=HEAD status=200 "
	run -0 wait_for_line "$STP_LOG" "http=GET status=204 "
}

@test "an answer that ends with the origin's close ends the client connection too" {
	start_origin
	start_stp_serve
	run -0 bounded "$PY" "$PIPE" "$STP_PORT" GET+ "$O/close"
	assert_equal "$output" "200 1600 close
closed"
}

@test "a kept connection left idle is closed at --handshake-timeout, without a log line" {
	start_origin
	start_stp_serve --handshake-timeout 2
	run -0 bounded "$PY" "$PIPE" "$STP_PORT" GET+ "$O/chunked?n=1"
	assert_equal "$output" "200 8 keep-alive
closed"
	run -0 stop_bg stp-serve
	assert_equal "$(grep -c 'session client=' "$STP_LOG")" 1
	run -1 grep -F 'closed during handshake' "$STP_LOG"
}

@test "Squid with stp-serve as its parent proxy: requests arrive on kept connections, answers whole" {
	start_http
	start_stp_serve
	squid_dir
	start_squid_with "cache_peer 127.0.0.1 parent $STP_PORT 0 no-query no-digest default" \
		"never_direct allow all" "http_access allow all"
	local k
	for k in 1 2 3 4; do
		run -0 hcurl -x "http://127.0.0.1:$SQ_PORT" -o "$T/got.$k" "$HTTP_URL"
		assert_files_equal "$T/got.$k" "$HTTP_FILE"
	done
	run -0 hcurl -si -x "http://127.0.0.1:$SQ_PORT" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_match "$output" 'Via: 1\.1 stp-serve-[0-9a-f]{8}'
	# five requests, fewer client connections from Squid than requests
	run -0 wait_until "five requests logged" lines_at_least "$STP_LOG" "http=GET status=200" 5
	assert_equal "$(grep -c "http=GET status=200 target=127\.0\.0\.1:$HTTP_PORT " "$STP_LOG")" 5
	local conns
	conns=$(grep -o 'session client=[^ ]*' "$STP_LOG" | sort -u | wc -l)
	[ "$conns" -lt 5 ] || { echo "Squid used $conns connections for 5 requests"; return 1; }
}

@test "tinyproxy with stp-serve as its upstream: HTTP/1.0 requests forwarded and closed" {
	start_http
	start_stp_serve
	local try
	for try in 1 2 3; do
		TP_PORT=$(free_port)
		printf 'Port %s\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nUpstream http 127.0.0.1:%s\n' \
			"$TP_PORT" "$STP_PORT" >"$T/tinyproxy.conf"
		start_bg "tinyproxy.$try" tinyproxy -d -c "$T/tinyproxy.conf"
		wait_for_port "$TP_PORT" 5 && break
	done
	run -0 hcurl -x "http://127.0.0.1:$TP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 hcurl -x "http://127.0.0.1:$TP_PORT" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	run -0 wait_for_line "$STP_LOG" "http=GET status=200 target=127\.0\.0\.1:$HTTP_PORT .*result=\"ok\""
}

@test "--stats: HTTP requests by kind and status class, in /metrics and /api/status" {
	start_http
	start_origin
	start_stp_serve --stats 127.0.0.1:0
	local sp closed
	sp=$(stats_port)
	closed=$(closed_port)
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -o /dev/null -o /dev/null -o /dev/null \
		"$O/chunked?n=1" "$O/nobody?s=204" "$O/missing"
	run -0 hcurl -p -x "http://127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://127.0.0.1:$closed/"
	run -0 "$PY" "$BATS_TEST_DIRNAME/lib/httpraw.py" "$STP_PORT" origin
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	wait_until "six HTTP requests counted" stats_at_least "$sp" \
		'stp_http_requests_total{kind="invalid",status="4xx"}' 1
	wait_until "the CONNECT counted" stats_at_least "$sp" \
		'stp_http_requests_total{kind="connect",status="2xx"}' 1
	assert_equal "$(stats_value "$sp" 'stp_http_requests_total{kind="forward",status="2xx"}')" 2
	assert_equal "$(stats_value "$sp" 'stp_http_requests_total{kind="forward",status="4xx"}')" 1
	assert_equal "$(stats_value "$sp" 'stp_http_requests_total{kind="forward",status="5xx"}')" 1
	run -0 curl -sS --max-time 10 "http://127.0.0.1:$sp/api/status"
	assert_equal "$(jq -c '.total.http' <<<"$output")" \
		'{"connect":1,"forward":4,"invalid":1,"requests":6,"status":{"none":0,"1xx":0,"2xx":3,"3xx":0,"4xx":2,"5xx":1}}'
}

@test "508 for a request back into the proxy by name: localhost, this host's name, the --advertise address" {
	start_http
	start_stp_serve --advertise 127.0.0.2
	local raw=$BATS_TEST_DIRNAME/lib/httpraw.py
	run -0 "$PY" "$raw" "$STP_PORT" connect "localhost:$STP_PORT"
	assert_equal "$output" "HTTP/1.1 508 Loop Detected"
	run -0 "$PY" "$raw" "$STP_PORT" connect "LocalHost.:$STP_PORT"
	assert_equal "$output" "HTTP/1.1 508 Loop Detected"
	run -0 "$PY" "$raw" "$STP_PORT" get "$(hostname):$STP_PORT"
	assert_equal "$output" "HTTP/1.1 508 Loop Detected"
	run -0 "$PY" "$raw" "$STP_PORT" connect "127.0.0.2:$STP_PORT"
	assert_equal "$output" "HTTP/1.1 508 Loop Detected"
	# the same names on another port are targets like any other
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://localhost:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	run -0 wait_for_line "$STP_LOG" "http=CONNECT status=508 target=localhost:$STP_PORT .*result=\"loop detected\""
}

# ------------------------------------------- the origin connection used again

# origin_conns: how many connections lib/httporigin.py accepted.
origin_conns() { grep -c '^connection ' "$BATS_TEST_TMPDIR/origin.err" || true; }

@test "origin connection reuse: four requests to one origin on one client connection reach it on ONE connection" {
	start_origin
	start_stp_serve
	run -0 hcurl -v -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/b" -o "$T/c" -o "$T/d" \
		"$O/peer" "$O/chunked?n=3" "$O/peer" "$O/headers"
	assert_equal "$(grep -c 'Re-using existing connection' <<<"$output")" 3
	# the same peer port both times, one connection accepted, bytes right
	assert_equal "$(cat "$T/c")" "$(cat "$T/a")"
	assert_equal "$(cat "$T/b")" $'chunk 0\nchunk 1\nchunk 2'
	assert_match "$(cat "$T/d")" $'^GET /headers HTTP/1.1\r'
	# asked to keep it: the client keeps its own
	assert_match "$(cat "$T/d")" $'\nConnection: keep-alive$'
	assert_equal "$(origin_conns)" 1
	grep -q "^connection $(cat "$T/a")\$" "$BATS_TEST_TMPDIR/origin.err"
	assert_equal "$(grep -c "http=GET status=200 target=127\.0\.0\.1:$ORIGIN_PORT .*result=\"ok\"" "$STP_LOG")" 4
	# the client goes: its kept origin connection goes with it
	wait_for_line "$BATS_TEST_TMPDIR/origin.err" "^closed $(cat "$T/a")\$" 10 >/dev/null
}

@test "origin connection reuse: another origin in between, or a client that closes, means a new connection" {
	start_http
	start_origin
	start_stp_serve
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/x" -o "$T/b" -o "$T/c" \
		"$O/peer" "$HTTP_URL" "$O/peer" "$O/peer"
	assert_files_equal "$T/x" "$HTTP_FILE"
	# back from the other origin: a new connection, then that one again
	[ "$(cat "$T/a")" != "$(cat "$T/b")" ]
	assert_equal "$(cat "$T/c")" "$(cat "$T/b")"
	assert_equal "$(origin_conns)" 2
	# a client that closes after its request: the origin is told so
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -H 'Connection: close' "$O/headers"
	assert_match "$output" $'\nConnection: close$'
}

@test "an origin that closes its kept connection: the next request gets its answer on a new one" {
	start_origin
	start_stp_serve
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/b" -o "$T/c" \
		"$O/bye" "$O/peer" "$O/peer"
	assert_equal "$(cat "$T/a")" "bye"
	assert_match "$(cat "$T/b")" '^[0-9]+$'
	assert_equal "$(cat "$T/c")" "$(cat "$T/b")"
	assert_equal "$(origin_conns)" 2
	run -0 stop_bg stp-serve
	assert_equal "$(grep -c "status=200 target=127\.0\.0\.1:$ORIGIN_PORT .*result=\"ok\"" "$STP_LOG")" 3
}

@test "POST is not sent on a kept origin connection (not idempotent: never sent twice)" {
	start_origin
	start_stp_serve
	run -0 bounded "$PY" "$PIPE" "$STP_PORT" GET "$O/peer" POST "$O/echo" GET "$O/peer"
	# (/peer's body: a 5-digit port and LF; /echo's: the empty body's sha256, " 0", LF)
	assert_equal "$output" "200 6 keep-alive
200 $((64 + 3)) keep-alive
200 6 close
closed"
	# the POST went on a new connection; the GET after it on the POST's: two in all
	assert_equal "$(origin_conns)" 2
}

@test "an error answer on a kept-alive connection says Connection: close and closes; the client's next request works" {
	start_origin
	start_stp_serve
	local dead
	dead=$(closed_port)
	run -0 hcurl -v -x "http://127.0.0.1:$STP_PORT" -o "$T/a" -o "$T/b" \
		"$O/peer" "http://127.0.0.1:$dead/x"
	assert_match "$output" $'< HTTP/1.1 502 Bad Gateway\r'
	assert_match "$output" $'< Connection: close\r'
	assert_match "$(cat "$T/b")" "cannot reach 127\.0\.0\.1:$dead"
	run -0 hcurl -v -x "http://127.0.0.1:$STP_PORT" -o "$T/c" -o "$T/d" \
		"http://127.0.0.1:$dead/x" "$O/peer"
	assert_equal "$(grep -c 'Re-using existing connection' <<<"$output")" 0
	assert_match "$(cat "$T/d")" '^[0-9]+$'
}
