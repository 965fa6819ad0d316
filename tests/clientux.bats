#!/usr/bin/env bats
# What a new user meets on the client side (issue 16, items 9-11): -v and
# -vv show each step of each hop; failures carry stp-probe's hints (a TLS
# port spoken to in plain SOCKS, an unknown CA, an HTTP server or proxy, Tor's
# extended replies); targets as service names, HOST:PORT and [V6] literals.

bats_require_minimum_version 1.5.0
load lib/common

setup_file() {
	make_pki "$BATS_FILE_TMPDIR/pki"
}

# start_tls_serve [ARGS...]: stp-serve with a plain and a TLS listener;
# exports STP_PORT (plain) and TLS_PORT.
start_tls_serve() {
	local pki=$BATS_FILE_TMPDIR/pki line
	start_stp_serve --tls-listen 127.0.0.1:0 --cert "$pki/srv.pem" --key "$pki/srv.key" "$@"
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10) || return 1
	TLS_PORT=$(echo "$line" | cut -d' ' -f3)
}

# ------------------------------------------------------------------ -v, -vv

@test "-v shows TCP, TLS, greeting, method, auth, request and reply of each hop" {
	start_echo
	make_users "$T/users" alice s3cret
	start_tls_serve --users "$T/users"
	start_stp_serve
	local pki=$BATS_FILE_TMPDIR/pki
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -v \
		-x "socks5hs://alice:s3cret@127.0.0.1:$TLS_PORT" -x "socks5h://127.0.0.1:$STP_PORT" \
		--cacert "$pki/ca.pem" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" hello
	local p1="127.0.0.1:$TLS_PORT" p2="127.0.0.1:$STP_PORT" lines
	mapfile -t lines <<<"$stderr"
	assert_equal "${#lines[@]}" 13
	assert_match "${lines[0]}" "^stp-connect: connected to proxy $p1 \(127\.0\.0\.1\) in [0-9]+\.[0-9] ms$"
	assert_equal "${lines[1]}" "stp-connect: TLS to proxy $p1: TLSv1.3, cipher TLS_AES_256_GCM_SHA384"
	assert_equal "${lines[2]}" "stp-connect: TLS to proxy $p1: certificate subject /CN=localhost, issuer /CN=stp test CA, verified"
	assert_equal "${lines[3]}" "stp-connect: proxy $p1: SOCKS5 greeting, offering X'00' (no authentication), X'02' (username/password)"
	assert_equal "${lines[4]}" "stp-connect: proxy $p1: chose method X'02' (username/password)"
	assert_equal "${lines[5]}" "stp-connect: proxy $p1: sending user 'alice' and password (RFC 1929)"
	assert_equal "${lines[6]}" "stp-connect: proxy $p1: user 'alice' authenticated (status X'00')"
	assert_equal "${lines[7]}" "stp-connect: proxy $p1: request CONNECT $p2"
	assert_match "${lines[8]}" "^stp-connect: proxy $p1: reply X'00' \(succeeded\), bound 127\.0\.0\.1:[0-9]+$"
	assert_equal "${lines[9]}" "stp-connect: proxy $p2: SOCKS5 greeting, offering X'00' (no authentication)"
	assert_equal "${lines[10]}" "stp-connect: proxy $p2: chose method X'00' (no authentication)"
	assert_equal "${lines[11]}" "stp-connect: proxy $p2: request CONNECT 127.0.0.1:$ECHO_PORT"
	assert_match "${lines[12]}" "^stp-connect: proxy $p2: reply X'00' \(succeeded\), bound 127\.0\.0\.1:[0-9]+$"
}

@test "-vv adds the handshake's bytes in hex but never the password; a refusal's reply shows" {
	make_users "$T/users" alice s3cret
	start_stp_serve --users "$T/users"
	local port p
	port=$(closed_port)
	p="127.0.0.1:$STP_PORT"
	run -15 --separate-stderr bounded stp-connect -vv -x "socks5h://alice:s3cret@$p" 127.0.0.1 "$port" </dev/null
	[[ $stderr != *s3cret* ]]
	[[ $stderr != *"73 33 63 72 65 74"* ]]   # s3cret in hex
	[[ $stderr == *"stp-connect: proxy $p: > 05 02 00 02"$'\n'* ]]
	[[ $stderr == *"stp-connect: proxy $p: < 05 02"$'\n'* ]]
	[[ $stderr == *"stp-connect: proxy $p: < 01 00"$'\n'* ]]
	printf -v hp '%02x %02x' $((port >> 8)) $((port & 255))
	[[ $stderr == *"stp-connect: proxy $p: > 05 01 00 01 7f 00 00 01 $hp"$'\n'* ]]
	[[ $stderr == *"stp-connect: proxy $p: reply X'05' (connection refused), bound 0.0.0.0:0"$'\n'* ]]
	assert_match "$stderr" "stp-connect: proxy $p refused CONNECT 127\.0\.0\.1:$port: connection refused"
}

@test "without -v the handshake is silent" {
	start_echo
	start_stp_serve
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$stderr" ""
}

@test "-v works the same for stp-resolve (the shared handshake)" {
	start_stp_serve
	run -0 --separate-stderr bounded stp-resolve -v -x "127.0.0.1:$STP_PORT" localhost
	assert_match "$stderr" "stp-resolve: proxy 127\.0\.0\.1:$STP_PORT: request RESOLVE localhost:0"
	assert_match "$stderr" "stp-resolve: proxy 127\.0\.0\.1:$STP_PORT: reply X'00' \(succeeded\), bound 127\.0\.0\.1:0"
}

# ------------------------------------------------------------------ hints


@test "plain SOCKS to a TLS port: exit 5 in seconds, 'use socks5hs://'" {
	start_tls_serve
	local t0 t1
	t0=$(_now_ms)
	run -5 --separate-stderr bounded stp-connect -z -x "socks5h://127.0.0.1:$TLS_PORT" 127.0.0.1 80
	t1=$(_now_ms)
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$TLS_PORT: not a SOCKS server: a TLS listener (it completes a TLS handshake); use socks5hs://127.0.0.1:$TLS_PORT"
	[ $((t1 - t0)) -lt $((8000 * STP_SLOW)) ]
}

@test "an unknown CA: exit 6, 'use --cacert'; a --cacert without it says so" {
	start_tls_serve
	local pki=$BATS_FILE_TMPDIR/pki other=$T/other
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://127.0.0.1:$TLS_PORT" 127.0.0.1 80
	assert_equal "$stderr" "stp-connect: TLS to proxy 127.0.0.1: certificate verification failed: unable to get local issuer certificate; if you trust the CA that signed it, use --cacert FILE"
	make_pki "$other"
	run -6 --separate-stderr bounded stp-connect -z --cacert "$other/ca.pem" -x "socks5hs://127.0.0.1:$TLS_PORT" 127.0.0.1 80
	assert_equal "$stderr" "stp-connect: TLS to proxy 127.0.0.1: certificate verification failed: unable to get local issuer certificate; the CA that signed it is not in --cacert $other/ca.pem"
	run -0 --separate-stderr bounded stp-connect -z --cacert "$pki/ca.pem" -x "socks5hs://127.0.0.1:$TLS_PORT" 127.0.0.1 "$STP_PORT"
}

@test "an HTTP server on the proxy port: exit 5 in seconds, 'this is an HTTP server'" {
	start_http
	local t0 t1
	t0=$(_now_ms)
	run -5 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$HTTP_PORT" 127.0.0.1 80
	t1=$(_now_ms)
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$HTTP_PORT: not a SOCKS server: this is an HTTP server, not a proxy (it answered '<!DOCTYPE HTML>')"
	[ $((t1 - t0)) -lt $((8000 * STP_SLOW)) ]
}

@test "an HTTP server that answers the greeting at once: its status line quoted" {
	start_peer http-reply
	run -5 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$HTTP_REPLY_PORT" 127.0.0.1 80
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$HTTP_REPLY_PORT: not a SOCKS server: this is an HTTP server, not a proxy (it answered 'HTTP/1.1 400 Bad Request')"
}

@test "an HTTP proxy (tinyproxy) on the proxy port: exit 5 in seconds, 'use http://'" {
	local port try
	for try in 1 2 3; do
		port=$(free_port)
		printf 'Port %s\nListen 127.0.0.1\nTimeout 60\nMaxClients 10\nLogLevel Info\n' "$port" >"$T/tinyproxy.conf"
		start_bg "tinyproxy.$try" tinyproxy -d -c "$T/tinyproxy.conf"
		wait_for_port "$port" 5 && break
	done
	local t0 t1
	t0=$(_now_ms)
	run -5 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$port" 127.0.0.1 80
	t1=$(_now_ms)
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$port: not a SOCKS server: an HTTP proxy (it answered 'HTTP/1.0 400 Bad Request'); use http://127.0.0.1:$port"
	[ $((t1 - t0)) -lt $((8000 * STP_SLOW)) ]
}

@test "Tor's extended reply X'F1': exit 11, says it is Tor and may not have bootstrapped" {
	start_bg faketor "$PY" "$TESTLIB/faketor.py" f1
	local port
	port=$(_listen_port faketor)
	run -11 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$port" abcdefghijklmnop.onion 80
	assert_equal "$stderr" "stp-connect: proxy 127.0.0.1:$port refused CONNECT abcdefghijklmnop.onion:80: onion service descriptor is invalid (X'F1', an extended reply only Tor sends); the proxy is Tor, which may not have bootstrapped yet"
}

@test "a slow SOCKS5 server is not mistaken for something else" {
	start_echo
	start_stp_serve
	# a proxy that waits 1.5 s before it answers anything: the look at
	# what listens (after 1 s of silence) finds SOCKS5 and the handshake
	# goes on
	start_bg slow "$PY" -c '
import socket, sys, time, threading
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
sys.stderr.write("listening 127.0.0.1 %d\n" % ls.getsockname()[1]); sys.stderr.flush()
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
def serve(c):
    time.sleep(1.5)
    u = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$STP_PORT"
	local port
	port=$(_listen_port slow)
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:$port" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" hello
	assert_equal "$stderr" ""
}

# ------------------------------------------------------------------ targets

@test "one HOST:PORT operand: bytes through" {
	start_echo
	start_stp_serve
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:$STP_PORT" "127.0.0.1:$ECHO_PORT"
	assert_equal "$(cat "$T/out")" hello
	assert_equal "$stderr" ""
}

@test "[::1] PORT and [::1]:PORT reach the IPv6 loopback, not a name '[::1]'" {
	start_bg echo6 "$PY" "$PEERS" --host ::1 echo
	local port
	port=$(wait_for_line "$T/echo6.err" '^listening ::1 [0-9]+$') || return 1
	port=${port##* }
	start_stp_serve
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -v -x "127.0.0.1:$STP_PORT" "[::1]" "$port"
	assert_equal "$(cat "$T/out")" hello
	assert_match "$stderr" "request CONNECT \[::1\]:$port"$'\n'
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:$STP_PORT" "[::1]:$port"
	assert_equal "$(cat "$T/out")" hello
}

@test "service names as PORT (ssh, https), also in HOST:PORT" {
	start_stp_serve --rules '[{"action":"deny","ports":"22"},{"action":"deny","ports":"443"},{"action":"allow"}]'
	run -12 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$STP_PORT" 127.0.0.1 ssh
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT 127\.0\.0\.1:22: not allowed by ruleset"
	run -12 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$STP_PORT" localhost:https
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT localhost:443: not allowed by ruleset"
}

@test "bad targets are usage errors that say how to write them" {
	run -2 --separate-stderr stp-connect -x 127.0.0.1:1 example.org
	assert_equal "$stderr" "stp-connect: missing PORT after HOST 'example.org' (write HOST PORT or HOST:PORT); try 'stp-connect --help'"
	run -2 --separate-stderr stp-connect -x 127.0.0.1:1 ::1:22
	assert_equal "$stderr" "stp-connect: '::1:22': an IPv6 address with a port goes in brackets: [V6]:PORT; try 'stp-connect --help'"
	run -2 --separate-stderr stp-connect -x 127.0.0.1:1 example.org nosuchservice-x
	assert_equal "$stderr" "stp-connect: bad port 'nosuchservice-x' (a number 1-65535 or a service name such as ssh); try 'stp-connect --help'"
}

@test "stp-serve -l localhost:0 listens on both loopbacks, on one port" {
	start_echo
	start_bg lserve stp-serve -l localhost:0
	local l4 l6
	l4=$(wait_for_line "$T/lserve.err" '^listening 127\.0\.0\.1 [0-9]+$') || return 1
	l6=$(wait_for_line "$T/lserve.err" '^listening ::1 [0-9]+$') || return 1
	assert_equal "${l6##* }" "${l4##* }"
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:${l4##* }" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" hello
	: >"$T/out"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "[::1]:${l6##* }" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(cat "$T/out")" hello
}
