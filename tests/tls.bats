#!/usr/bin/env bats
# TLS to the proxy: stp-serve --tls-listen and the socks5s/socks5hs schemes
# of the clients, with an openssl-made CA, server and client certificates.

bats_require_minimum_version 1.5.0
load lib/common

setup_file() {
	local d=$BATS_FILE_TMPDIR/pki
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
			-subj "/CN=stp test CA" 2>/dev/null
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 30 \
			-subj "/CN=some other CA" 2>/dev/null
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
		openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" 2>/dev/null
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
			-days 30 -extfile srv.ext 2>/dev/null
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expired.pem \
			-days -1 -extfile srv.ext 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj "/CN=alice" 2>/dev/null
		openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 30 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout mallory.key -out mallory.csr -subj "/CN=mallory" 2>/dev/null
		openssl x509 -req -in mallory.csr -CA other.pem -CAkey other.key -CAcreateserial -out mallory.pem \
			-days 30 2>/dev/null
	) || return 1
	[ -s "$d/srv.pem" ] && [ -s "$d/expired.pem" ] && [ -s "$d/cli.pem" ] && [ -s "$d/mallory.pem" ]
}

# start_tls_serve [ARGS...]: stp-serve with a plain and a TLS listener;
# exports STP_PORT (plain) and TLS_PORT.
start_tls_serve() {
	local pki=$BATS_FILE_TMPDIR/pki
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$pki/srv.pem" --key "$pki/srv.key" "$@"
	local line
	line=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10) || return 1
	TLS_PORT=$(echo "$line" | cut -d' ' -f3)
	STP_PORT=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$T/tlsserve.err" | cut -d' ' -f3)
	export TLS_PORT STP_PORT
}

@test "the listening line of a TLS listener ends in tls; openssl s_client sees the certificate" {
	start_tls_serve
	run -0 bash -c "openssl s_client -connect 127.0.0.1:$TLS_PORT -CAfile $BATS_FILE_TMPDIR/pki/ca.pem \
		-verify_return_error </dev/null 2>&1"
	assert_match "$output" 'subject=CN = localhost'
	assert_match "$output" 'Verify return code: 0 \(ok\)'
}

@test "socks5hs with --cacert: bytes both ways, and 5 MB through a half-close" {
	start_echo
	start_digest
	start_tls_serve
	run -0 --separate-stderr bounded bash -c "printf 'over tls\n' | stp-connect \
		-x socks5hs://localhost:$TLS_PORT --cacert $BATS_FILE_TMPDIR/pki/ca.pem 127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "over tls"
	head -c 5000000 /dev/urandom >"$T/big"
	run -0 --separate-stderr bounded stp-connect -x "socks5hs://127.0.0.1:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/pki/ca.pem" 127.0.0.1 "$DIGEST_PORT" <"$T/big"
	assert_equal "$output" "$(sha "$T/big")"
}

@test "without --cacert the unknown issuer is refused: exit 6 with the reason" {
	start_tls_serve
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://127.0.0.1:$TLS_PORT" 127.0.0.1 1
	assert_match "$stderr" "^stp-connect: TLS to proxy 127\.0\.0\.1: certificate verification failed: unable to get local issuer certificate; if you trust the CA that signed it, use --cacert FILE\$"
}

@test "a name the certificate does not carry: exit 6, name mismatch" {
	start_bg tlsserve2 stp-serve --tls-listen 127.0.0.2:0 \
		--cert "$BATS_FILE_TMPDIR/pki/srv.pem" --key "$BATS_FILE_TMPDIR/pki/srv.key"
	local line port
	line=$(wait_for_line "$T/tlsserve2.err" '^listening 127\.0\.0\.2 [0-9]+ tls$' 10)
	port=$(echo "$line" | cut -d' ' -f3)
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://127.0.0.2:$port" \
		--cacert "$BATS_FILE_TMPDIR/pki/ca.pem" 127.0.0.1 1
	assert_match "$stderr" "mismatch"
}

@test "an expired certificate: exit 6, expired" {
	local pki=$BATS_FILE_TMPDIR/pki
	start_bg tlsold stp-serve --tls-listen 127.0.0.1:0 --cert "$pki/expired.pem" --key "$pki/srv.key"
	local line port
	line=$(wait_for_line "$T/tlsold.err" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10)
	port=$(echo "$line" | cut -d' ' -f3)
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://localhost:$port" --cacert "$pki/ca.pem" 127.0.0.1 1
	assert_match "$stderr" "certificate has expired"
}

@test "--insecure connects without verification, loudly" {
	start_echo
	start_tls_serve
	run -0 --separate-stderr bounded bash -c "printf 'x\n' | stp-connect --insecure \
		-x socks5hs://127.0.0.1:$TLS_PORT 127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "x"
	assert_match "$stderr" "warning: --insecure: the certificate of proxy 127\.0\.0\.1:$TLS_PORT is not verified"
}

@test "--client-ca: a client certificate is required, and names the user" {
	local pki=$BATS_FILE_TMPDIR/pki
	start_echo
	start_tls_serve --client-ca "$pki/ca.pem"
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://localhost:$TLS_PORT" \
		--cacert "$pki/ca.pem" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: TLS to proxy localhost:$TLS_PORT: "
	run -6 --separate-stderr bounded stp-connect -z -x "socks5hs://localhost:$TLS_PORT" \
		--cacert "$pki/ca.pem" --cert "$pki/mallory.pem" --key "$pki/mallory.key" 127.0.0.1 "$ECHO_PORT"
	run -0 --separate-stderr bounded bash -c "printf 'alice here\n' | stp-connect \
		-x socks5hs://localhost:$TLS_PORT --cacert $pki/ca.pem --cert $pki/cli.pem --key $pki/cli.key \
		127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "alice here"
	run -0 wait_for_line "$T/tlsserve.err" 'user=CN=alice cmd=connect' 10
}

@test "a client certificate stands in for --users" {
	local pki=$BATS_FILE_TMPDIR/pki
	make_users "$T/users" bob builder
	start_echo
	start_tls_serve --client-ca "$pki/ca.pem" --users "$T/users"
	run -0 --separate-stderr bounded bash -c "printf 'no password\n' | stp-connect \
		-x socks5hs://localhost:$TLS_PORT --cacert $pki/ca.pem --cert $pki/cli.pem --key $pki/cli.key \
		127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "no password"
	# the plain listener still wants the password
	run -4 --separate-stderr bounded stp-connect -z -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
}

@test "TLS hops in chains: plain then TLS, and TLS inside TLS" {
	local pki=$BATS_FILE_TMPDIR/pki
	start_echo
	start_tls_serve
	run -0 --separate-stderr bounded bash -c "printf 'plain then tls\n' | stp-connect \
		-x socks5://127.0.0.1:$STP_PORT -x socks5hs://127.0.0.1:$TLS_PORT --cacert $pki/ca.pem \
		127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "plain then tls"
	run -0 --separate-stderr bounded bash -c "printf 'tls in tls\n' | stp-connect \
		-x socks5hs://localhost:$TLS_PORT -x socks5hs://localhost:$TLS_PORT --cacert $pki/ca.pem \
		127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "tls in tls"
}

@test "a client that stalls its TLS handshake is timed out like any other" {
	start_tls_serve --handshake-timeout 1
	run -0 --separate-stderr /usr/bin/python3 - "$TLS_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
t = time.time()
print("eof" if s.recv(100) == b"" else "data", round(time.time() - t))
PY
	# the 1 s handshake timeout fires; the upper bound is generous
	assert_match "$output" '^eof [1-9]$'
	run -0 wait_for_line "$T/tlsserve.err" 'result="handshake timeout"' 10
}

@test "stp-bind over TLS, and -k with ATTACH over TLS" {
	local pki=$BATS_FILE_TMPDIR/pki
	start_echo
	start_tls_serve
	start_bg binder stp-bind -k -x "socks5hs://localhost:$TLS_PORT" --cacert "$pki/ca.pem" \
		-F "127.0.0.1:$ECHO_PORT" --addr-file "$T/addr"
	local deadline
	deadline=$(_deadline 10)
	until [ -s "$T/addr" ]; do _past "$deadline" && false; sleep 0.02; done
	read -r addr port <"$T/addr"
	run -0 --separate-stderr bounded bash -c "printf 'bound over tls\n' | nc -N $addr $port"
	assert_equal "$output" "bound over tls"
}

@test "bad TLS set-ups are usage errors" {
	run -2 --separate-stderr stp-serve --tls-listen 127.0.0.1:0
	assert_match "$stderr" "needs --cert FILE and --key FILE"
	run -2 --separate-stderr stp-serve --cert /nonexistent --key /nonexistent --tls-listen 127.0.0.1:0
	assert_match "$stderr" "^stp-serve: --cert /nonexistent: "
	run -2 --separate-stderr stp-connect -z -x socks5hs://127.0.0.1:1 --cacert /nonexistent 127.0.0.1 1
	assert_match "$stderr" "^stp-connect: --cacert /nonexistent: "
}

@test "a target's reset through TLS reaches the client as a reset: socks5s, and behind a socks5s upstream" {
	local pki=$BATS_FILE_TMPDIR/pki
	start_bg reset "$PY" "$BATS_TEST_DIRNAME/lib/seclogs.py" reset-peer 4096
	RESET_PORT=$(_listen_port reset)
	start_tls_serve
	# the server's TLS socket to stp-connect is reset: SSL_read sees it
	run -1 --separate-stderr bounded bash -c "printf 'go\n' | stp-connect \
		-x socks5s://127.0.0.1:$TLS_PORT --cacert $pki/ca.pem 127.0.0.1 $RESET_PORT"
	assert_equal "$stderr" "stp-connect: connection: Connection reset by peer"
	# a proxy whose upstream speaks TLS sees the reset through SSL_read and
	# must pass it on to its plain client
	start_bg front stp-serve -l 127.0.0.1:0 --open \
		--upstream "socks5s://127.0.0.1:$TLS_PORT" --upstream-cacert "$pki/ca.pem"
	local front
	front=$(_listen_port front)
	run -1 --separate-stderr bounded bash -c "printf 'go\n' | stp-connect \
		-x socks5://127.0.0.1:$front 127.0.0.1 $RESET_PORT"
	assert_equal "$stderr" "stp-connect: connection: Connection reset by peer"
	run -0 bounded "$PY" - "$front" "$RESET_PORT" <<'PYEOF'
import socket, struct, sys
from sockstest import conn, recv_exact
s = conn(sys.argv[1])
s.sendall(struct.pack(">BBH4s", 4, 1, int(sys.argv[2]), socket.inet_aton("127.0.0.1")) + b"\0")
assert recv_exact(s, 8)[1] == 90
s.sendall(b"go\n")
try:
    while s.recv(65536):
        pass
    print("eof")
except ConnectionResetError:
    print("reset")
PYEOF
	assert_equal "$output" "reset"
}

@test "a TLS client's reset reaches the target as a reset" {
	start_tls_serve
	run -0 bounded "$PY" - "$TLS_PORT" "$BATS_FILE_TMPDIR/pki/ca.pem" <<'PYEOF'
import socket, ssl, struct, sys, threading
from sockstest import recv_exact
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
ls.settimeout(10)
seen = []
def target():
    c, _ = ls.accept()
    c.settimeout(10)
    try:
        while c.recv(65536):
            pass
        seen.append("eof")
    except ConnectionResetError:
        seen.append("reset")
    except socket.timeout:
        seen.append("timeout")
t = threading.Thread(target=target)
t.start()
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"\x05\x01\x00")
assert recv_exact(s, 2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", ls.getsockname()[1]))
assert recv_exact(s, 10)[1] == 0
s.sendall(b"hello")
# the client resets the TCP connection under its TLS (no close_notify)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
t.join(15)
print(seen[0] if seen else "nothing")
PYEOF
	assert_equal "$output" "reset"
}
