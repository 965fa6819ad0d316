#!/usr/bin/env bats
# stp-serve as an HTTP proxy on its SOCKS port (SPEC §3.6, issue 17, server
# half): CONNECT tunnels and absolute-form requests, Basic credentials, the
# rules, errors as HTTP answers, hostile heads, --no-http. Real peers: curl,
# ncat, git, wget, Python requests, headless Chromium; Python HTTP and
# HTTPS file servers (lib/peers.py, lib/httpspeer.py); raw heads from
# lib/httpraw.py.

bats_require_minimum_version 1.5.0
load lib/common

RAW="$BATS_TEST_DIRNAME/lib/httpraw.py"

# hcurl ARGS...: curl with a deadline, no proxy from the environment.
hcurl() {
	curl -sS --noproxy '' --max-time $((20 * STP_SLOW)) "$@"
}

# nfds PID: the number of descriptors PID holds.
nfds() { ls "/proc/$1/fd" | wc -l; }

# fds_back PID N: PID holds at most N descriptors again (for wait_until).
fds_back() { [ "$(nfds "$1")" -le "$2" ]; }

@test "curl -x http:// fetches http:// (absolute-form) and, with -p, through CONNECT" {
	start_http
	start_stp_serve
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 hcurl -p -x "http://127.0.0.1:$STP_PORT" -o "$T/got2" "$HTTP_URL"
	assert_files_equal "$T/got2" "$HTTP_FILE"
	# the session log names the HTTP method and the status sent
	run -0 wait_for_line "$STP_LOG" "cmd=connect http=GET status=200 target=127\.0\.0\.1:$HTTP_PORT .*result=\"ok\""
	run -0 wait_for_line "$STP_LOG" "cmd=connect http=CONNECT status=200 target=127\.0\.0\.1:$HTTP_PORT .*result=\"ok\""
}

@test "curl -p -x http:// reaches an https:// server through the tunnel (TLS end to end)" {
	make_pki "$T/pki"
	mkdir -p "$T/www"
	echo "secret page" >"$T/www/s.txt"
	start_bg https "$PY" "$BATS_TEST_DIRNAME/lib/httpspeer.py" "$T/pki/srv.pem" "$T/pki/srv.key" "$T/www"
	local hp
	hp=$(_listen_port https)
	start_stp_serve
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" --cacert "$T/pki/ca.pem" "https://localhost:$hp/s.txt"
	assert_equal "$output" "secret page"
	run -0 wait_for_line "$STP_LOG" "http=CONNECT status=200 target=localhost:$hp .*result=\"ok\""
}

@test "--users: Basic credentials through curl --proxy-user; none or wrong: 407 with Proxy-Authenticate" {
	start_http
	make_users "$T/users" alice 's3cret-Pw'
	start_stp_serve --users "$T/users"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" --proxy-user 'alice:s3cret-Pw' -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 hcurl -p -x "http://127.0.0.1:$STP_PORT" --proxy-user 'alice:s3cret-Pw' -o "$T/got2" "$HTTP_URL"
	assert_files_equal "$T/got2" "$HTTP_FILE"
	# no credentials: 407 and the scheme to use
	run -0 hcurl -i -x "http://127.0.0.1:$STP_PORT" "$HTTP_URL"
	assert_match "$output" $'^HTTP/1.1 407 Proxy Authentication Required\r'
	assert_match "$output" $'Proxy-Authenticate: Basic realm="stp"\r'
	assert_match "$output" 'credentials required'
	# wrong ones: 407 again (curl's tunnel says so and exits 56)
	run -56 hcurl -p -x "http://127.0.0.1:$STP_PORT" --proxy-user 'alice:wrong' "$HTTP_URL"
	assert_match "$output" 'CONNECT tunnel failed, response 407'
	run -0 wait_for_line "$STP_LOG" "authentication failed for user 'alice'"
	run -0 wait_for_line "$STP_LOG" "user=alice cmd=connect http=CONNECT status=407 .*result=\"authentication failed\""
	run -1 grep -F -e 's3cret-Pw' -e wrong "$STP_LOG"
}

@test "--login-failures blocks HTTP logins as it blocks RFC 1929 ones" {
	start_http
	make_users "$T/users" alice 's3cret-Pw'
	start_stp_serve --users "$T/users" --login-failures 2
	run -0 hcurl -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$STP_PORT" --proxy-user alice:bad1 "$HTTP_URL"
	assert_equal "$output" 407
	run -0 hcurl -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$STP_PORT" --proxy-user alice:bad2 "$HTTP_URL"
	assert_equal "$output" 407
	# blocked now: even the right password is refused, and the answer says why
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" --proxy-user 'alice:s3cret-Pw' "$HTTP_URL"
	assert_match "$output" 'too many failed logins'
	run -0 wait_for_line "$STP_LOG" 'result="blocked"'
}

@test "--auth-url checks HTTP proxy credentials too" {
	start_http
	start_bg authsrv "$PY" "$BATS_TEST_DIRNAME/lib/authsrv.py" "$T/count" alice:secret
	local ap
	ap=$(_listen_port authsrv)
	start_stp_serve --auth-url "http://127.0.0.1:$ap/check"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" --proxy-user alice:secret -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 hcurl -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$STP_PORT" --proxy-user alice:nope "$HTTP_URL"
	assert_equal "$output" 407
}

@test "ncat --proxy-type http: a CONNECT tunnel carries bytes both ways" {
	start_echo
	start_stp_serve
	printf 'line one\nline two\n' >"$T/in"
	run -0 io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type http \
		--send-only --recv-only 127.0.0.1 "$ECHO_PORT"
	run -0 io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type http 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "git clone over http with http.proxy pointing at stp-serve" {
	git init -q --bare "$T/www/repo.git"
	git clone -q "$T/www/repo.git" "$T/work" 2>/dev/null
	(
		cd "$T/work" &&
		echo "through the proxy" >README &&
		git add README &&
		git -c user.name=t -c user.email=t@example.org commit -qm one &&
		git push -q origin HEAD:master
	)
	git -C "$T/www/repo.git" symbolic-ref HEAD refs/heads/master
	git -C "$T/www/repo.git" update-server-info
	start_http
	start_stp_serve
	run -0 bounded git -c http.proxy="http://127.0.0.1:$STP_PORT" clone -q \
		"http://127.0.0.1:$HTTP_PORT/repo.git" "$T/clone"
	assert_equal "$(cat "$T/clone/README")" "through the proxy"
	run -0 grep -c "http=GET .*target=127\.0\.0\.1:$HTTP_PORT .*result=\"ok\"" "$STP_LOG"
}

@test "Python requests with proxies=: http:// forwarded, https:// tunnelled" {
	make_pki "$T/pki"
	mkdir -p "$T/www"
	echo "over https" >"$T/www/s.txt"
	start_bg https "$PY" "$BATS_TEST_DIRNAME/lib/httpspeer.py" "$T/pki/srv.pem" "$T/pki/srv.key" "$T/www"
	local hp
	hp=$(_listen_port https)
	start_http
	start_stp_serve
	run -0 bounded "$PY" -c '
import sys, requests
p = {"http": "http://127.0.0.1:" + sys.argv[1], "https": "http://127.0.0.1:" + sys.argv[1]}
r = requests.get("http://127.0.0.1:%s/hello.txt" % sys.argv[2], proxies=p, timeout=20)
print(r.status_code, r.text.strip())
r = requests.get("https://localhost:%s/s.txt" % sys.argv[3], proxies=p, timeout=20, verify=sys.argv[4])
print(r.status_code, r.text.strip())
r = requests.post("http://127.0.0.1:%s/hello.txt" % sys.argv[2], data=b"x" * 100000, proxies=p, timeout=20)
print(r.status_code)
' "$STP_PORT" "$HTTP_PORT" "$hp" "$T/pki/ca.pem"
	assert_equal "$output" $'200 hello from the test http server\n200 over https\n501'
}

@test "wget -e use_proxy=yes fetches through stp-serve" {
	start_http
	start_stp_serve
	run -0 bounded wget -q -e use_proxy=yes -e "http_proxy=http://127.0.0.1:$STP_PORT" \
		-O "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 wait_for_line "$STP_LOG" "http=GET .*target=127\.0\.0\.1:$HTTP_PORT "
}

@test "headless Chromium with --proxy-server=http:// renders a page through stp-serve" {
	command -v chromium >/dev/null || skip "chromium is not installed"
	start_http
	printf '<html><body><p id="x">rendered through stp</p></body></html>\n' >"$T/www/page.html"
	start_stp_serve
	TMO=60 run -0 --separate-stderr bounded chromium --headless --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --no-first-run --user-data-dir="$T/chrome" \
		--proxy-server="http://127.0.0.1:$STP_PORT" --proxy-bypass-list='<-loopback>' \
		--dump-dom "http://127.0.0.1:$HTTP_PORT/page.html"
	assert_match "$output" 'rendered through stp'
	run -0 wait_for_line "$STP_LOG" "http=GET .*target=127\.0\.0\.1:$HTTP_PORT "
}

@test "every failure is an HTTP answer: 403 rules, 502 refused, 502 unresolvable, 508 loop" {
	start_http
	start_dnsmasq --address=/known.test/127.0.0.1
	local closed
	closed=$(closed_port)
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT" \
		--rules '[{"action":"deny","command":"connect","ports":"1-1023"},{"action":"allow"}]'
	run -0 "$PY" "$RAW" "$STP_PORT" connect 127.0.0.1:22
	assert_equal "$output" "HTTP/1.1 403 Forbidden"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" http://127.0.0.1:80/
	assert_match "$output" 'not allowed by the rules'
	run -0 "$PY" "$RAW" "$STP_PORT" connect "127.0.0.1:$closed"
	assert_equal "$output" "HTTP/1.1 502 Bad Gateway"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://127.0.0.1:$closed/"
	assert_equal "$output" "stp-serve: cannot reach 127.0.0.1:$closed: connection refused"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://nowhere.invalid:8080/"
	assert_equal "$output" "stp-serve: cannot reach nowhere.invalid:8080: host unreachable or name not resolved"
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://known.test:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	run -0 "$PY" "$RAW" "$STP_PORT" connect "127.0.0.1:$STP_PORT"
	assert_equal "$output" "HTTP/1.1 508 Loop Detected"
	run -0 "$PY" "$RAW" "$STP_PORT" origin
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 wait_for_line "$STP_LOG" 'http=CONNECT status=403 target=127\.0\.0\.1:22 .*result="not allowed by ruleset"'
	run -0 wait_for_line "$STP_LOG" 'http=CONNECT status=508 .*result="loop detected"'
}

@test "504 when the target does not answer within --connect-timeout" {
	start_peer greet-hang
	start_stp_serve --connect-timeout 1 --upstream "socks5h://127.0.0.1:$GREET_HANG_PORT"
	run -0 hcurl -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$STP_PORT" http://example.test/
	assert_equal "$output" 504
}

@test "hostile heads get their HTTP error; the server keeps serving and holds no more fds" {
	start_http
	start_stp_serve
	stp_serve_alive
	local before
	before=$(nfds "$STP_SERVE_PID")
	run -0 "$PY" "$RAW" "$STP_PORT" clte "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 "$PY" "$RAW" "$STP_PORT" twocl "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 "$PY" "$RAW" "$STP_PORT" obsfold "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 "$PY" "$RAW" "$STP_PORT" barelf "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 "$PY" "$RAW" "$STP_PORT" nul "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 400 Bad Request"
	run -0 "$PY" "$RAW" "$STP_PORT" bighead "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 431 Request Header Fields Too Large"
	run -0 "$PY" "$RAW" "$STP_PORT" manyheaders "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 431 Request Header Fields Too Large"
	# http-parser itself refuses both framing conflicts, in its words
	run -0 grep -c 'status=400 .*result="unexpected content-length header"' "$STP_LOG"
	assert_equal "$output" 2
	run -0 grep -c 'result="obsolete line folding in a header"' "$STP_LOG"
	run -0 grep -c 'result="bare LF in the request head"' "$STP_LOG"
	run -0 grep -c 'result="too many header fields"' "$STP_LOG"
	stp_serve_alive
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	wait_until "stp-serve is back at $before fds" fds_back "$STP_SERVE_PID" "$before"
}

@test "a slowloris request line gets 408 at --handshake-timeout" {
	start_http
	start_stp_serve --handshake-timeout 2
	local t0 t1
	t0=$(date +%s)
	run -0 bounded "$PY" "$RAW" "$STP_PORT" slowloris "127.0.0.1:$HTTP_PORT"
	t1=$(date +%s)
	assert_equal "$output" "HTTP/1.1 408 Request Timeout"
	[ $((t1 - t0)) -le $((8 * STP_SLOW)) ]
	run -0 wait_for_line "$STP_LOG" 'status=408 .*result="handshake timeout"'
	stp_serve_alive
}

@test "--no-http and the no-http key: a non-SOCKS first byte is closed as before; SOCKS still works" {
	start_http
	start_stp_serve --no-http
	run -0 "$PY" "$RAW" "$STP_PORT" get "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "closed"
	run -0 wait_for_line "$STP_LOG" 'result="not SOCKS"'
	stp_serve_alive
	printf '{"no-http": true}\n' >"$T/conf.json"
	start_stp_serve -c "$T/conf.json"
	run -0 "$PY" "$RAW" "$STP_PORT" get "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "closed"
	printf '{"no-http": false}\n' >"$T/conf2.json"
	start_stp_serve -c "$T/conf2.json"
	run -0 "$PY" "$RAW" "$STP_PORT" get "127.0.0.1:$HTTP_PORT"
	assert_equal "$output" "HTTP/1.1 200 OK"
}

@test "HTTP through --upstream, a TLS listener, and a PROXY header, like SOCKS" {
	start_http
	make_pki "$T/pki"
	start_stp_serve
	local up=$STP_PORT uplog=$STP_LOG
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$T/pki/srv.pem" --key "$T/pki/srv.key" \
		--upstream "socks5h://127.0.0.1:$up" --proxy-protocol 127.0.0.2/32
	local line plain tls
	line=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$')
	tls=$(awk '{print $3}' <<<"$line")
	plain=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+$')
	plain=${plain##* }
	# an HTTPS proxy: curl speaks TLS to the listener, then CONNECT inside
	run -0 hcurl -p -x "https://localhost:$tls" --proxy-cacert "$T/pki/ca.pem" \
		-o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# the upstream stp-serve carried it
	run -0 wait_for_line "$uplog" "cmd=connect target=127\.0\.0\.1:$HTTP_PORT .*result=\"ok\""
	# a balancer's PROXY header (from 127.0.0.2) names the client
	run -0 bash -c "printf 'PROXY TCP4 10.9.8.7 127.0.0.1 4444 80\r\nGET http://127.0.0.1:$HTTP_PORT/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 10 nc -q 5 -s 127.0.0.2 127.0.0.1 $plain"
	assert_match "$output" 'hello from the test http server'
	run -0 wait_for_line "$T/tlsserve.err" "client=10\.9\.8\.7:4444 .*http=GET .*result=\"ok\""
}

@test "--stats counts HTTP sessions as connect sessions" {
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local sp
	sp=$(stats_port)
	run -0 hcurl -x "http://127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	run -0 hcurl -p -x "http://127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	wait_until "two connect sessions counted" stats_at_least "$sp" 'stp_sessions_total{command="connect",result="ok"}' 2
}
