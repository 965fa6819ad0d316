#!/usr/bin/env bats
# stp-serve's GSS-API protected stream (RFC 1961 §5) under conditions the
# other gss suites do not set up: inside a TLS listener, and towards a
# client that stops reading while megabytes are on their way (the server
# then holds a wrapped message partly written and must finish it later,
# byte-exact, while it serves others). Real peers: a throw-away MIT
# Kerberos realm (Debian krb5-kdc, lib/krb5realm.bash), stp-connect
# --gssapi (plain, socks5hs, --mux-master and --mux), the RFC 1961 client
# written with Python's gssapi package (lib/gssclient.py), the echo peer of
# peers.py, a peer that sends a file when told (lib/sendfile.py), and the
# kernel's own view of the sockets (ss, iproute2). The slow-reader tests run
# in a network namespace of their own with small TCP buffers (tcp_wmem,
# tcp_rmem): with the host's (up to 4 MiB of send buffer) 3 MiB would fit
# in the kernel and the server would never hold a message back.

bats_require_minimum_version 1.5.0
load lib/common
load lib/krb5realm

GSSC="$BATS_TEST_DIRNAME/lib/gssclient.py"

setup() {
	stp_setup
	krb5_proxy_setup
	NS=
	IN_NS=()
}

teardown() {
	local rc=0
	stp_teardown || rc=$?
	if [ -n "${NS:-}" ]; then
		ip netns del "$NS" 2>/dev/null || true
	fi
	return "$rc"
}

# small_buffers_ns: a network namespace whose TCP buffers are at most
# 64 KiB (send) and 128 KiB (receive); IN_NS runs a command in it. The KDC
# stays outside: the clients' service ticket is fetched first (kvno), and
# the server needs only its keytab.
small_buffers_ns() {
	local err
	[ "$(id -u)" = 0 ] || skip "needs root to create a network namespace"
	command -v ip >/dev/null || skip "needs ip(8) (iproute2)"
	NS="stp-gs-$$-${BATS_TEST_NUMBER}"
	if ! err=$(ip netns add "$NS" 2>&1); then
		NS=
		skip "cannot create a network namespace: $err"
	fi
	IN_NS=(ip netns exec "$NS")
	ip -n "$NS" link set lo up
	"${IN_NS[@]}" sysctl -q -w net.ipv4.tcp_wmem="4096 16384 65536" \
		net.ipv4.tcp_rmem="4096 65536 131072"
	kvno -q rcmd/localhost >/dev/null
	# the peers and the server, in the namespace
	start_bg echo "${IN_NS[@]}" "$PY" "$PEERS" echo
	ECHO_PORT=$(_listen_port echo) || return 1
	head -c 3145728 /dev/urandom >"$T/big"
	start_bg source "${IN_NS[@]}" "$PY" "$TESTLIB/sendfile.py" "$T/big" "$T/go"
	SRC_PORT=$(_listen_port source) || return 1
	start_bg stp-serve "${IN_NS[@]}" stp-serve -l 127.0.0.1:0 --gssapi-keytab "$KEYTAB"
	STP_SERVE_PID=$LAST_PID
	STP_LOG="$T/stp-serve.err"
	STP_PORT=$(_listen_port stp-serve) || return 1
}

# other_session: a second client is served at once (the Python RFC 1961
# client at integrity, 100 kB through the echo peer and back).
other_session() {
	head -c 100000 /dev/urandom >"$T/o.in"
	run -0 --separate-stderr io "$T/o.in" "$T/o.got" "${IN_NS[@]}" "$PY" "$GSSC" --level integrity \
		"$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/o.got" "$T/o.in"
}

# unsent_to PID: stp-serve's sockets towards process PID hold bytes the
# kernel has not delivered (Send-Q > 0): the server's writes to it wait.
unsent_to() {
	local pid=$1 q
	# any state but LISTEN (the client may have half-closed: CLOSE-WAIT)
	q=$("${IN_NS[@]}" ss -Htnp "( sport = :$STP_PORT )" 2>/dev/null |
		awk -v p="pid=$STP_SERVE_PID," '$1 != "LISTEN" && $0 ~ p { if ($3 > 0) n++ } END { print n + 0 }')
	[ "$q" -gt 0 ] || { echo "no unsent bytes on stp-serve's side towards pid $pid" >&2; return 1; }
}

# stopped PID: the process is stopped (SIGSTOP), as ps says.
stopped() { [ "$(ps -o stat= -p "$1" | cut -c1)" = T ]; }

@test "a TLS listener with protection: socks5hs, --gssapi-protection confidentiality, 1 MiB both ways; the log names TLS and the level" {
	make_pki "$T/pki"
	start_echo
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 --cert "$T/pki/srv.pem" \
		--key "$T/pki/srv.key" --gssapi-keytab "$KEYTAB" -v -v
	local line port
	line=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$' 10)
	port=$(echo "$line" | cut -d' ' -f3)
	head -c 1048576 /dev/urandom >"$T/big"
	run -0 --separate-stderr io "$T/big" "$T/back" stp-connect --cacert "$T/pki/ca.pem" --gssapi \
		--gssapi-protection confidentiality -x "socks5hs://localhost:$port" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/back")" "$(sha "$T/big")"
	run -0 wait_for_line "$T/tlsserve.err" 'GSS-API: protection confidentiality asked, confidentiality granted, inside TLSv1\.[23]$'
	run -0 wait_for_line "$T/tlsserve.err" "session client=127\.0\.0\.1:[0-9]+ user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=1048576 down=1048576 .*result=\"ok\""
}

# stall PID: stops PID (SIGSTOP) once the source has its connection, then
# lets the source send: the 3 MiB pile up in front of the stopped reader
# until stp-serve's writes to it wait (Send-Q > 0 on its side). Meanwhile
# another client is served.
stall() {
	local pid=$1
	wait_for_line "$T/source.err" '^accepted$' 10 >/dev/null
	kill -STOP "$pid"
	wait_until "pid $pid stopped" stopped "$pid"
	touch "$T/go"
	wait_until "stp-serve's writes to the stopped reader wait" unsent_to "$pid"
	other_session
	kill -CONT "$pid"
}

@test "a client that stops reading mid-stream at integrity (SIGSTOP): the server holds the partly written message, serves others, and after SIGCONT all 3 MiB arrive in order" {
	small_buffers_ns
	start_bg slow "${IN_NS[@]}" stp-connect --gssapi --gssapi-protection integrity \
		-x "socks5h://localhost:$STP_PORT" 127.0.0.1 "$SRC_PORT"
	local pid=$LAST_PID
	stall "$pid"
	local rc=0
	wait_exit "$pid" 60 || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(sha "$T/slow.out")" "$(sha "$T/big")"
	run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$SRC_PORT up=0 down=3145728 .*result=\"ok\""
}

@test "MUX at integrity: the mux master stops reading (SIGSTOP) while a stream carries 3 MiB; others are served, and after SIGCONT the stream completes byte-exact" {
	small_buffers_ns
	start_bg master "${IN_NS[@]}" stp-connect --mux-master "$T/m.sock" --gssapi --gssapi-protection integrity \
		-x "localhost:$STP_PORT"
	local master=$LAST_PID
	wait_for_line "$T/master.err" "^listening $T/m\.sock\$" 10 >/dev/null
	start_bg stream "${IN_NS[@]}" stp-connect --mux "$T/m.sock" 127.0.0.1 "$SRC_PORT"
	local pid=$LAST_PID
	stall "$master"
	local rc=0
	wait_exit "$pid" 60 || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(sha "$T/stream.out")" "$(sha "$T/big")"
	run -1 grep -q 'GSS-API message refused' "$STP_LOG"
}
