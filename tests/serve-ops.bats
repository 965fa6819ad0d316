#!/usr/bin/env bats
# stp-serve in operation: --inetd (under socat, and on a socketpair),
# systemd socket activation (systemd-socket-activate), the --stats endpoint
# (Prometheus text after a known workload; bad and slow requests), and what
# `make install` puts where.

bats_require_minimum_version 1.5.0
load lib/common
load lib/udp

INETD="$BATS_TEST_DIRNAME/lib/inetd.py"

# start_socat_inetd [ARGS...]: socat on a free loopback port running
# `stp-serve --inetd ARGS` per connection. Exports SOCAT_PORT; socat's
# stderr (and so stp-serve's) is $T/stp-socat.N.err (named stp-* so that
# teardown looks for sanitizer reports in it), its name in SOCAT_ERR.
start_socat_inetd() {
	command -v socat >/dev/null || skip "socat is not installed"
	local try port cmd="stp-serve --inetd${*:+ $*}"
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "stp-socat.$try" socat -d -d \
			"TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$cmd"
		if wait_for_line "$T/stp-socat.$try.err" 'listening on' 5 >/dev/null 2>&1 &&
			kill -0 "$LAST_PID" 2>/dev/null; then
			SOCAT_PORT=$port
			SOCAT_ERR=$T/stp-socat.$try.err
			return 0
		fi
	done
	echo "start_socat_inetd: could not start socat" >&2
	return 1
}

# start_activated PORT-VAR ARGS...: systemd-socket-activate listening on a
# free loopback port, running stp-serve ARGS on the first connection (it
# execs stp-serve: the recorded PID becomes stp-serve's). Sets ACT_PORT,
# ACT_ERR and ACT_PID.
start_activated() {
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed (Debian package systemd)"
	local try port addr=$1
	shift
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "stp-activate.$try" systemd-socket-activate -l "$addr:$port" stp-serve "$@"
		if wait_for_line "$T/stp-activate.$try.err" "^Listening on $addr:$port as 3\\.\$" 5 >/dev/null 2>&1 &&
			kill -0 "$LAST_PID" 2>/dev/null; then
			ACT_PORT=$port
			ACT_ERR=$T/stp-activate.$try.err
			ACT_PID=$LAST_PID
			return 0
		fi
	done
	echo "start_activated: could not start systemd-socket-activate" >&2
	return 1
}

# metrics PORT: GET /metrics from the stats endpoint into $T/metrics
# (body) and $T/metrics.head (headers).
metrics() {
	curl -sS --max-time $((10 * STP_SLOW)) -D "$T/metrics.head" -o "$T/metrics" \
		"http://127.0.0.1:$1/metrics"
}

# metric NAME{LABELS}: the value of that sample in $T/metrics ("" if absent).
metric() {
	awk -v k="$1" '$1 == k { print $2 }' "$T/metrics"
}

# wait_idle PORT: polls /metrics until no session is open (the last one has
# been counted).
wait_idle() {
	local deadline
	deadline=$(_deadline 10)
	while :; do
		metrics "$1" || return 1
		[ "$(metric stp_sessions_open)" = 0 ] && return 0
		_past "$deadline" && { cat "$T/metrics" >&2; return 1; }
		sleep 0.05
	done
}

# ---------------------------------------------------------------- --inetd

@test "--inetd under socat: curl fetches a file byte for byte; the session line is on stderr" {
	start_http
	start_socat_inetd
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$SOCAT_PORT" \
		-o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# socat's socketpair has no addresses: socat tells them (SOCAT_PEERADDR)
	local line
	line=$(wait_for_line "$SOCAT_ERR" "^[0-9TZ:.-]+ stp-serve: session client=127\\.0\\.0\\.1:[0-9]+ user=- cmd=connect target=127\\.0\\.0\\.1:$HTTP_PORT ")
	assert_match "$line" 'result="ok"$'
	local down=${line#* down=}
	down=${down%% *}
	[ "$down" -gt 262144 ]
	# one process per session: it is gone after the session, socat serves on
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$SOCAT_PORT" \
		-o "$T/got2" "http://127.0.0.1:$HTTP_PORT/hello.txt"
	assert_files_equal "$T/got2" "$T/www/hello.txt"
}

@test "--inetd under socat: stp-connect relays 200 KiB both ways" {
	start_echo
	start_socat_inetd
	head -c 204800 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5://127.0.0.1:$SOCAT_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$SOCAT_ERR" 'cmd=connect .* up=204800 down=204800 .*result="ok"$'
}

@test "--inetd on a socketpair: exit 0 after a successful session, 1 after a refused one" {
	start_echo
	run -0 --separate-stderr "$PY" "$INETD" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$output" "rep=0 data=b'ping\\n' exit=0"
	assert_match "$stderr" 'session client=\? user=- cmd=connect .* up=5 down=5 .*result="ok"'
	local port
	port=$(closed_port)
	run -0 --separate-stderr "$PY" "$INETD" 127.0.0.1 "$port"
	assert_equal "$output" "rep=5 data=b'' exit=1"
}

@test "--inetd with stderr on the socket too (classic inetd): no log line reaches the client" {
	start_echo
	INETD_STDERR=1 run -0 --separate-stderr "$PY" "$INETD" 127.0.0.1 "$ECHO_PORT" -v
	assert_equal "$output" "rep=0 data=b'ping\\n' exit=0"
	assert_equal "$stderr" ""
}

@test "--inetd per connection from systemd-socket-activate --accept --inetd (Accept=yes)" {
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed (Debian package systemd)"
	start_http
	local try port ok=
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "stp-accept.$try" systemd-socket-activate -l "127.0.0.1:$port" --accept --inetd \
			stp-serve --inetd
		if wait_for_line "$T/stp-accept.$try.err" "^Listening on 127\\.0\\.0\\.1:$port as 3\\.\$" 5 >/dev/null 2>&1 &&
			kill -0 "$LAST_PID" 2>/dev/null; then
			ok=1
			break
		fi
	done
	[ -n "$ok" ]
	local n
	for n in 1 2; do
		run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$port" \
			-o "$T/got" "$HTTP_URL"
		assert_files_equal "$T/got" "$HTTP_FILE"
	done
	wait_for_line "$T/stp-accept.$try.err" 'session client=127\.0\.0\.1:[0-9]+ .*cmd=connect .*result="ok"'
	# both per-connection processes ended with 0 after their session
	local deadline
	deadline=$(_deadline 10)
	until [ "$(grep -c 'died with code 0' "$T/stp-accept.$try.err")" = 2 ]; do
		_past "$deadline" && { cat "$T/stp-accept.$try.err" >&2; return 1; }
		sleep 0.05
	done
}

@test "--inetd: stdin that is not a socket is refused with exit 2" {
	run -2 --separate-stderr stp-serve --inetd </dev/null
	assert_equal "$stderr" "stp-serve: --inetd: standard input is not a socket; try 'stp-serve --help'"
	run -2 --separate-stderr stp-serve --inetd <"$BATS_TEST_FILENAME"
	assert_match "$stderr" 'not a socket'
}

# ---------------------------------------------------------------- socket activation

@test "socket activation: the inherited listener serves, -l is ignored (said at -v)" {
	start_http
	start_activated 127.0.0.1 -v -l 127.0.0.1:0
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$ACT_PORT" \
		-o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# the listening line names the inherited socket, and only that one
	wait_for_line "$ACT_ERR" "^listening 127\\.0\\.0\\.1 $ACT_PORT\$"
	run -0 grep -c '^listening ' "$ACT_ERR"
	assert_equal "$output" 1
	run -0 grep -c 'socket activation: 1 inherited listeners; --listen ignored' "$ACT_ERR"
	# SIGTERM drains and exits 0 as usual
	kill -TERM "$ACT_PID"
	local rc=0
	wait_exit "$ACT_PID" 10 || rc=$?
	assert_equal "$rc" 0
}

@test "socket activation: a non-loopback inherited socket without auth is refused" {
	start_activated 0.0.0.0
	# the first connection starts stp-serve, which refuses to be an open proxy
	(exec 3<>"/dev/tcp/127.0.0.1/$ACT_PORT") 2>/dev/null || true
	local rc=0
	wait_exit "$ACT_PID" 10 || rc=$?
	assert_equal "$rc" 2
	wait_for_line "$ACT_ERR" "refusing to listen on 0\\.0\\.0\\.0:$ACT_PORT \\(fd 3\\) without authentication"
}

@test "socket activation: LISTEN_PID of another process is ignored; bad LISTEN_FDS and fds are refused" {
	LISTEN_PID=1 LISTEN_FDS=1 start_stp_serve
	run -2 --separate-stderr bash -c 'export LISTEN_PID=$$ LISTEN_FDS=many; exec stp-serve'
	assert_equal "$stderr" "stp-serve: LISTEN_FDS: not a number of sockets; try 'stp-serve --help'"
	run -2 --separate-stderr bash -c 'export LISTEN_PID=$$ LISTEN_FDS=1; exec stp-serve 3</dev/null'
	assert_match "$stderr" '^stp-serve: LISTEN_FDS: fd 3: not a socket'
}

# ---------------------------------------------------------------- --stats

@test "--stats: /metrics after 5 CONNECTs, 2 refused, 1 denied and 1 bad password" {
	start_echo
	make_users "$T/users" alice secret
	start_stp_serve --stats 127.0.0.1:0 --users "$T/users" \
		--rules '[{"action":"deny","to":"127.0.0.2/32"},{"action":"allow"}]'
	local line sport
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$')
	sport=$(awk '{ print $3 }' <<<"$line")
	head -c 1000 /dev/urandom >"$T/in"
	local n closed
	export STP_PASSWORD=secret
	for n in 1 2 3 4; do
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
			-x "socks5://alice@127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
		assert_files_equal "$T/out" "$T/in"
	done
	# one by name: the server looks it up
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5h://alice@127.0.0.1:$STP_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	closed=$(closed_port)
	for n in 1 2; do
		run -15 --separate-stderr stp-connect -x "socks5://alice@127.0.0.1:$STP_PORT" \
			127.0.0.1 "$closed" </dev/null
	done
	run -12 --separate-stderr stp-connect -x "socks5://alice@127.0.0.1:$STP_PORT" \
		127.0.0.2 "$ECHO_PORT" </dev/null
	STP_PASSWORD=wrong run -4 --separate-stderr stp-connect \
		-x "socks5://alice@127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT" </dev/null
	wait_idle "$sport"
	grep -qi '^content-type: text/plain; version=0\.0\.4' "$T/metrics.head"
	grep -q '^HTTP/1\.0 200 ' "$T/metrics.head"
	assert_equal "$(metric 'stp_sessions_total{command="connect",result="ok"}')" 5
	assert_equal "$(metric 'stp_sessions_total{command="connect",result="refused"}')" 2
	assert_equal "$(metric 'stp_sessions_total{command="connect",result="denied"}')" 1
	assert_equal "$(metric 'stp_sessions_total{command="none",result="none"}')" 1
	assert_equal "$(grep -c '^stp_sessions_total{' "$T/metrics")" 4
	assert_equal "$(metric 'stp_bytes_total{direction="up"}')" 5000
	assert_equal "$(metric 'stp_bytes_total{direction="down"}')" 5000
	assert_equal "$(metric stp_auth_failures_total)" 1
	assert_equal "$(metric stp_rule_denials_total)" 1
	assert_equal "$(metric stp_resolver_lookups_total)" 1
	assert_equal "$(metric stp_refused_total)" 0
	assert_equal "$(metric 'stp_udp_datagrams_total{direction="dropped"}')" 0
	# every answered request has a handshake time; the buckets add up
	assert_equal "$(metric stp_handshake_seconds_count)" 8
	assert_equal "$(metric 'stp_handshake_seconds_bucket{le="+Inf"}')" 8
	assert_equal "$(metric 'stp_handshake_seconds_bucket{le="10"}')" 8
	# each metric has its HELP and TYPE lines, and only known types
	local name
	for name in stp_sessions_open stp_sessions_total stp_bytes_total stp_handshake_seconds \
		stp_auth_failures_total stp_rule_denials_total stp_resolver_lookups_total \
		stp_refused_total stp_max_sessions stp_udp_datagrams_total; do
		grep -q "^# HELP $name " "$T/metrics"
		grep -Eq "^# TYPE $name (counter|gauge|histogram)\$" "$T/metrics"
	done
	# every sample line is NAME[{LABELS}] VALUE
	run -1 grep -Ev '^(# (HELP|TYPE) .*|[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? [0-9.e+]+)$' "$T/metrics"
}

@test "--stats: other paths and methods get 404, an oversized request 431, a slow client is cut off" {
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local line sport
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$')
	sport=$(awk '{ print $3 }' <<<"$line")
	run -0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport/nope"
	assert_equal "$output" 404
	run -0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$sport/metrics"
	assert_equal "$output" 404
	run -0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport/metrics/x"
	assert_equal "$output" 404
	run -0 curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' a)" \
		"http://127.0.0.1:$sport/metrics"
	assert_equal "$output" 431
	# HTTP/1.0, no Host: the answer, then the server closes
	run -0 "$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
b = b""
while True:
    got = s.recv(65536)
    if not got:
        break
    b += got
print(b.split(b"\r\n")[0].decode())' "$sport"
	assert_equal "$output" "HTTP/1.0 200 OK"
	# half a request, then silence: closed within the 5 s limit
	run -0 "$PY" -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"GET /metr")
t = time.monotonic()
got = s.recv(100)
print("closed" if got == b"" else "got %r" % got, round(time.monotonic() - t))' "$sport"
	# not before the 5 s limit (rounded down: 4); the upper bound is generous
	assert_match "$output" '^closed ([4-9]|1[0-4])$'
	# the proxy and the endpoint both still serve
	stp_serve_alive
	metrics "$sport"
	assert_equal "$(metric 'stp_sessions_total{command="connect",result="ok"}')" 1
}

@test "--stats: a bad address is a usage error" {
	run -2 --separate-stderr stp-serve --stats localhost:0
	assert_match "$stderr" "^stp-serve: --stats needs a numeric address, not 'localhost:0'"
	run -2 --separate-stderr stp-serve --stats 127.0.0.1
	assert_match "$stderr" '^stp-serve: --stats'
}

@test "--stats: UDP datagrams relayed by an association" {
	start_udp_echo
	start_stp_serve --stats 127.0.0.1:0
	local line sport
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$')
	sport=$(awk '{ print $3 }' <<<"$line")
	printf 'one\ntwo\nthree\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
	wait_idle "$sport"
	assert_equal "$(metric 'stp_udp_datagrams_total{direction="up"}')" 3
	assert_equal "$(metric 'stp_udp_datagrams_total{direction="down"}')" 3
	assert_equal "$(metric 'stp_udp_datagrams_total{direction="dropped"}')" 0
	assert_equal "$(metric 'stp_sessions_total{command="udp",result="ok"}')" 1
}

# ---------------------------------------------------------------- install

@test "make install puts programs, man pages, completions and systemd units where they belong" {
	local root=$T/root p want got flavor
	# install builds `all` first: in the flavor bin/ holds now (make
	# sanitize runs this suite), so that nothing is relinked under the suites
	flavor=$(cat "$STP_TOP/build/flavor" 2>/dev/null) || flavor=plain
	run -0 make -s -C "$STP_TOP" install FLAVOR="$flavor" DESTDIR="$root" prefix=/usr
	want=$(
		for p in $(sed -n 's/^PROGRAMS += //p' "$STP_TOP/Makefile"); do
			echo "usr/bin/$p"
			echo "usr/share/man/man1/$p.1"
			echo "usr/share/bash-completion/completions/$p"
			echo "usr/share/zsh/vendor-completions/_$p"
			echo "usr/share/fish/vendor_completions.d/$p.fish"
		done
		echo usr/lib/systemd/system/stp-serve.service
		echo usr/lib/systemd/system/stp-serve.socket
		echo usr/share/man/man7/stp-protocol.7
		echo usr/lib/stp/libstp-wrap.so
	)
	got=$(cd "$root" && find . -type f | sed 's|^\./||')
	assert_equal "$(sort <<<"$got")" "$(sort <<<"$want")"
	for p in $(sed -n 's/^PROGRAMS += //p' "$STP_TOP/Makefile"); do
		[ -x "$root/usr/bin/$p" ]
		cmp "$root/usr/share/man/man1/$p.1" "$STP_TOP/man/$p.1"
	done
	cmp "$root/usr/share/man/man7/stp-protocol.7" "$STP_TOP/man/stp-protocol.7"
	cmp "$root/usr/lib/stp/libstp-wrap.so" "$STP_TOP/bin/libstp-wrap.so"
	local unit=$root/usr/lib/systemd/system/stp-serve.service
	grep -qx 'ExecStart=/usr/bin/stp-serve $STP_SERVE_OPTS' "$unit"
	for p in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
		'CapabilityBoundingSet=' 'ExecReload=/bin/kill -HUP $MAINPID'; do
		grep -qx -- "$p" "$unit" || { echo "$unit lacks $p" >&2; return 1; }
	done
	grep -qx 'ListenStream=127.0.0.1:1080' "$root/usr/lib/systemd/system/stp-serve.socket"
	# another prefix reaches the unit's ExecStart too
	run -0 make -s -C "$STP_TOP" install FLAVOR="$flavor" DESTDIR="$T/root2" prefix=/opt/stp
	grep -qx 'ExecStart=/opt/stp/bin/stp-serve $STP_SERVE_OPTS' \
		"$T/root2/opt/stp/lib/systemd/system/stp-serve.service"
}
