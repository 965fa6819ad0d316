#!/usr/bin/env bats
# stp-serve --upstream URL: CONNECT (SOCKS5 and SOCKS4), RESOLVE and
# RESOLVE_PTR through further proxies: a TLS stp-serve requiring a password,
# Dante sockd, chains of them; refusals passed back with their reply code,
# an upstream that is down or silent, the configuration key.

bats_require_minimum_version 1.5.0
load lib/common

ST="$BATS_TEST_DIRNAME/lib/sockstest.py"

setup_file() {
	make_pki "$BATS_FILE_TMPDIR/pki"
}

# start_upstream [ARGS...]: the upstream, an stp-serve with a TLS listener
# and a users file (alice:s3cret, bob:hunter2); exports UP_PORT (TLS),
# UP_PLAIN (plain) and UP_LOG.
start_upstream() {
	local pki=$BATS_FILE_TMPDIR/pki
	make_users "$T/users" alice s3cret bob hunter2 || return 1
	start_bg upstream stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$pki/srv.pem" --key "$pki/srv.key" --users "$T/users" "$@"
	local line
	line=$(wait_for_line "$T/upstream.err" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10) || return 1
	UP_PORT=$(echo "$line" | cut -d' ' -f3)
	UP_PLAIN=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$T/upstream.err" | cut -d' ' -f3)
	UP_LOG=$T/upstream.err
	export UP_PORT UP_PLAIN UP_LOG
}

# start_front [ARGS...]: the stp-serve under test (STP_PORT, STP_LOG),
# chaining to the TLS upstream as alice unless ARGS name their own.
start_front() {
	start_stp_serve --upstream-cacert "$BATS_FILE_TMPDIR/pki/ca.pem" "$@"
}
front_tls() {
	start_front --upstream "socks5hs://alice:s3cret@localhost:$UP_PORT" "$@"
}

# reply_of CMD ATYP HOST PORT: the reply code the front gives a hand-made
# SOCKS5 request (sockstest.py prints "reply N").
reply_of() {
	bounded "$PY" "$ST" reply "$STP_PORT" "$@"
}

# ---------------------------------------------------------------- chains

@test "curl --socks5-hostname through a TLS upstream with a password: bytes, and the name reaches the upstream" {
	start_http
	start_upstream
	front_tls
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# the upstream saw alice and the name, not an address
	wait_for_line "$UP_LOG" "user=alice cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\"" 5
	wait_for_line "$STP_LOG" "cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\"" 5
	# the password is neither in the log nor in the command line
	! grep -q s3cret "$STP_LOG"
	! tr '\0' ' ' <"/proc/$STP_SERVE_PID/cmdline" | grep -q s3cret
}

@test "a name only the upstream's resolver knows: the front never looks it up" {
	start_http
	start_dnsmasq --address=/only-upstream.test/127.0.0.1 --local=/test/
	start_upstream --resolver "127.0.0.1:$DNS_PORT"
	# the front's own resolver is a closed port: any local lookup would fail
	front_tls --resolver "127.0.0.1:$(closed_port)"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://only-upstream.test:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	wait_for_line "$UP_LOG" "target=only-upstream.test:$HTTP_PORT .*result=\"ok\"" 5
}

@test "RESOLVE and RESOLVE_PTR go through the upstream" {
	start_dnsmasq --address=/only-upstream.test/127.0.0.7 --local=/test/ \
		--ptr-record=7.0.0.127.in-addr.arpa,seven.only-upstream.test
	start_upstream --resolver "127.0.0.1:$DNS_PORT"
	front_tls --resolver "127.0.0.1:$(closed_port)"
	run -0 --separate-stderr bounded stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" only-upstream.test
	assert_equal "$output" "only-upstream.test 127.0.0.7"
	run -0 --separate-stderr bounded stp-resolve -r -x "socks5h://127.0.0.1:$STP_PORT" 127.0.0.7
	assert_equal "$output" "127.0.0.7 seven.only-upstream.test"
	wait_for_line "$UP_LOG" "user=alice cmd=resolve target=only-upstream.test:0 .*result=\"ok\"" 5
	wait_for_line "$UP_LOG" "user=alice cmd=resolve-ptr target=127.0.0.7:0 .*result=\"ok\"" 5
}

@test "SOCKS4a and SOCKS4 clients go through the upstream too" {
	start_http
	start_upstream
	front_tls
	run -0 --separate-stderr curl -sS --max-time 20 --socks4a "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 --separate-stderr curl -sS --max-time 20 --socks4 "127.0.0.1:$STP_PORT" \
		-o "$T/got4" "$HTTP_URL"
	assert_files_equal "$T/got4" "$HTTP_FILE"
	wait_for_line "$UP_LOG" "user=alice cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\"" 5
	wait_for_line "$UP_LOG" "user=alice cmd=connect target=127.0.0.1:$HTTP_PORT .*result=\"ok\"" 5
}

@test "5 MB both ways through a half-close over the TLS upstream" {
	start_digest
	start_echo
	start_upstream
	front_tls
	head -c 5000000 /dev/urandom >"$T/big"
	run -0 --separate-stderr io "$T/big" "$T/back" stp-connect \
		-x "socks5h://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/back" "$T/big"
}

@test "a chain of two: plain stp-serve, then Dante sockd" {
	command -v danted >/dev/null || skip "danted not installed"
	start_http
	start_dante
	start_upstream
	# the second hop is socks5:// (no remote names): the name is resolved
	# before it, by the front, as the scheme says
	start_front --upstream "socks5h://bob:hunter2@127.0.0.1:$UP_PLAIN" \
		--upstream "socks5://127.0.0.1:$DANTE_PORT"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	wait_for_line "$UP_LOG" "user=bob cmd=connect target=127.0.0.1:$DANTE_PORT .*result=\"ok\"" 5
}

@test "Dante sockd as the only upstream, curl --socks5" {
	command -v danted >/dev/null || skip "danted not installed"
	start_http
	start_dante
	start_front --upstream "socks5h://127.0.0.1:$DANTE_PORT"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		-o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

# ---------------------------------------------------------------- refusals

@test "the upstream's rules deny: curl fails, the client gets X'02' as the upstream said" {
	start_http
	start_upstream --rules '[{"action":"deny","to":"127.0.0.0/8","ports":"'"$HTTP_PORT"'"},{"action":"allow"}]'
	front_tls
	run -97 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	run -0 --separate-stderr reply_of 1 1 127.0.0.1 "$HTTP_PORT"
	assert_equal "$output" "reply 2"
	run -12 --separate-stderr bounded stp-connect -x "socks5h://127.0.0.1:$STP_PORT" 127.0.0.1 "$HTTP_PORT" </dev/null
	wait_for_line "$STP_LOG" "upstream: proxy localhost:$UP_PORT refused CONNECT 127\.0\.0\.1:$HTTP_PORT: .*\(reply 2\)" 5
	# the front's own rules still apply first, to the target as requested
	stop_bg stp-serve
	front_tls --rules '[{"action":"deny","to":"*.example"},{"action":"allow"}]'
	run -0 --separate-stderr reply_of 1 3 www.example 80
	assert_equal "$output" "reply 2"
	! grep -q 'www.example' "$UP_LOG"
}

@test "a socks5:// upstream: the front resolves the name, and its rules see the address" {
	start_http
	start_upstream
	start_front --upstream "socks5://bob:hunter2@127.0.0.1:$UP_PLAIN" \
		--rules '[{"action":"deny","to":"127.0.0.0/8","ports":"'"$HTTP_PORT"'"},{"action":"allow"}]'
	run -97 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o /dev/null "http://localhost:$HTTP_PORT/data.bin"
	run -0 --separate-stderr reply_of 1 3 localhost "$HTTP_PORT"
	assert_equal "$output" "reply 2"
	! grep -q "target=localhost:$HTTP_PORT\|target=127.0.0.1:$HTTP_PORT" "$UP_LOG"
	# another port is allowed: the upstream is asked for the address
	start_echo
	run -0 --separate-stderr bounded bash -c "echo hi | stp-connect -x socks5h://127.0.0.1:$STP_PORT localhost $ECHO_PORT"
	assert_equal "$output" "hi"
	wait_for_line "$UP_LOG" "user=bob cmd=connect target=127.0.0.1:$ECHO_PORT " 5
}

@test "a target the upstream cannot connect to: X'05' comes back as X'05'" {
	start_upstream
	front_tls
	run -0 --separate-stderr reply_of 1 1 127.0.0.1 "$(closed_port)"
	assert_equal "$output" "reply 5"
	run -15 --separate-stderr bounded stp-connect -x "socks5h://127.0.0.1:$STP_PORT" 127.0.0.1 "$(closed_port)" </dev/null
}

@test "wrong upstream credentials: X'01' and a log line naming the upstream" {
	start_upstream
	start_front --upstream "socks5hs://alice:wrong@localhost:$UP_PORT"
	run -0 --separate-stderr reply_of 1 1 127.0.0.1 80
	assert_equal "$output" "reply 1"
	wait_for_line "$STP_LOG" "upstream: proxy localhost:$UP_PORT rejected the credentials of user 'alice'" 5
}

@test "an upstream certificate the front does not trust: X'01', the TLS reason logged" {
	start_upstream
	# no --upstream-cacert: the system's CAs do not know the test CA
	start_stp_serve --upstream "socks5hs://alice:s3cret@localhost:$UP_PORT"
	run -0 --separate-stderr reply_of 1 1 127.0.0.1 80
	assert_equal "$output" "reply 1"
	wait_for_line "$STP_LOG" "upstream: TLS to proxy localhost:$UP_PORT: certificate verification failed" 5
}

# ---------------------------------------------------------------- down, silent

@test "the upstream is down: a failure reply at once and a clear log line" {
	local dead
	dead=$(closed_port)
	start_front --upstream "socks5h://127.0.0.1:$dead"
	run -0 --separate-stderr reply_of 1 3 localhost 80
	assert_equal "$output" "reply 1"
	run -97 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" http://localhost:1/
	wait_for_line "$STP_LOG" "upstream: cannot reach proxy 127\.0\.0\.1:$dead: Connection refused" 5
	# still serving
	run -0 --separate-stderr reply_of 1 3 localhost 80
	assert_equal "$output" "reply 1"
}

@test "an upstream whose name does not resolve: X'01', logged" {
	start_dnsmasq --local=/test/
	start_front --resolver "127.0.0.1:$DNS_PORT" --upstream "socks5h://no-such-proxy.test:1080"
	run -0 --separate-stderr reply_of 1 1 127.0.0.1 80
	assert_equal "$output" "reply 1"
	wait_for_line "$STP_LOG" "upstream: cannot resolve proxy no-such-proxy.test:1080" 5
}

@test "a silent upstream: the connect timeout ends it with X'06', no hang" {
	start_peer silent
	start_front --connect-timeout 1 --upstream "socks5h://127.0.0.1:$SILENT_PORT"
	run -0 --separate-stderr reply_of 1 3 localhost 80
	assert_equal "$output" "reply 6"
	wait_for_line "$STP_LOG" "upstream: no answer from proxy 127\.0\.0\.1:$SILENT_PORT within 1 s" 5
}

@test "a client that hangs up while the upstream is silent: the session still ends, bounded" {
	start_peer silent
	start_front --connect-timeout 1 --upstream "socks5h://127.0.0.1:$SILENT_PORT"
	# the client hangs up once the front has reached the silent upstream
	# and sent it its greeting (peers.py notes what it gets)
	"$PY" - "$STP_PORT" "$T/silent.err" <<-'EOF'
		import os, socket, sys, time
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
		s.sendall(b"\x05\x01\x00")
		assert s.recv(2) == b"\x05\x00"
		s.sendall(b"\x05\x01\x00\x03\x09localhost\x00\x50")
		end = time.monotonic() + 10
		while "silent: got" not in open(sys.argv[2]).read():
		    if time.monotonic() > end:
		        sys.exit("the front never reached the silent upstream")
		    time.sleep(0.05)
		s.close()
	EOF
	wait_for_line "$STP_LOG" 'cmd=connect target=localhost:80 .*result=' 5
	# and the server goes on serving
	run -0 --separate-stderr reply_of 1 3 localhost 80
	assert_equal "$output" "reply 6"
}

# ---------------------------------------------------------------- configuration

@test "the upstream key of the configuration file, and its checks" {
	start_http
	start_upstream
	cat >"$T/conf.json" <<-EOF
		{ "upstream": ["socks5hs://alice:s3cret@localhost:$UP_PORT"],
		  "upstream-cacert": "$BATS_FILE_TMPDIR/pki/ca.pem" }
	EOF
	start_stp_serve -c "$T/conf.json"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	wait_for_line "$UP_LOG" "user=alice cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\"" 5
	# a bad URL is a usage error, in the file and on the command line
	echo '{ "upstream": ["ftp://127.0.0.1:3128"] }' >"$T/bad.json"
	run -2 --separate-stderr stp-serve -c "$T/bad.json" -l 127.0.0.1:0
	assert_match "$stderr" "bad.json:1:3: upstream\[0\]: .*unknown scheme 'ftp'"
	run -2 --separate-stderr stp-serve --upstream 'socks5://127.0.0.1:99999' -l 127.0.0.1:0
	assert_match "$stderr" "--upstream"
	run -2 --separate-stderr stp-serve --upstream-cacert "$T/none.pem" -l 127.0.0.1:0
	assert_match "$stderr" "--upstream-cacert: .*none.pem"
	# TLS inside TLS is refused: the relay reads through one TLS layer
	run -2 --separate-stderr stp-serve --upstream socks5hs://127.0.0.1:1 \
		--upstream socks5://127.0.0.1:2 --upstream socks5s://127.0.0.1:3 -l 127.0.0.1:0
	assert_match "$stderr" "--upstream: only one upstream proxy of the chain may use TLS"
}

@test "with an upstream, BIND and UDP ASSOCIATE go through it, not out from here" {
	start_upstream
	start_front --upstream "socks5hs://alice:s3cret@localhost:$UP_PORT"
	run -0 --separate-stderr reply_of 2 1 127.0.0.1 0
	assert_equal "$output" "reply 0"
	run -0 wait_for_line "$UP_LOG" 'user=alice cmd=bind ' 10
	# UDP ASSOCIATE: the upstream's own (its relay sends, upudp.c relays here)
	run -0 --separate-stderr reply_of 3 1 0.0.0.0 0
	assert_equal "$output" "reply 0"
	run -0 wait_for_line "$UP_LOG" 'user=alice cmd=udp ' 10
	! grep -q 'upstream: UDP ASSOCIATE .* refused' "$STP_LOG"
}
