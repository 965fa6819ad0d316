#!/usr/bin/env bats
# MUX (PROTOCOL.md §4): stp-serve's MUX command driven by a raw client
# written from the protocol text (lib/muxraw.py), and stp-connect
# --mux-master / --mux in front of it (TLS, one authentication, many
# streams, stalls, ssh).

bats_require_minimum_version 1.5.0
load lib/common

MUXRAW="$BATS_TEST_DIRNAME/lib/muxraw.py"
AUTHSRV="$BATS_TEST_DIRNAME/lib/authsrv.py"

setup_file() {
	make_pki "$BATS_FILE_TMPDIR/pki"
}

# start_master ARGS...: stp-connect --mux-master $T/m.sock ARGS; MUX_SOCK.
start_master() {
	MUX_SOCK="$T/m.sock"
	start_bg master stp-connect --mux-master "$MUX_SOCK" "$@"
	MASTER_PID=$LAST_PID
	wait_for_line "$T/master.err" "^listening $MUX_SOCK\$" 10 >/dev/null
}

# start_tls_auth_serve: stp-serve with a TLS listener whose credentials are
# checked by lib/authsrv.py without caching (each check counted in
# $T/count); TLS_PORT, AUTH_PORT.
start_tls_auth_serve() {
	local pki=$BATS_FILE_TMPDIR/pki
	start_bg authsrv "$PY" "$AUTHSRV" "$T/count" alice:s3cret
	AUTH_PORT=$(_listen_port authsrv) || return 1
	start_stp_serve --tls-listen 127.0.0.1:0 --cert "$pki/srv.pem" --key "$pki/srv.key" \
		--auth-url "http://127.0.0.1:$AUTH_PORT/check" --auth-cache 0 "$@"
	TLS_PORT=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ tls$' | cut -d' ' -f3)
	[ -n "$TLS_PORT" ]
}

@test "raw MUX client: CONNECT by name and address interleaved, half-close, refusal, RESOLVE, RESOLVE_PTR, BIND refused, PING" {
	start_echo
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -0 bounded "$PY" "$MUXRAW" "$STP_PORT" streams "$ECHO_PORT" "$closed"
	assert_equal "$output" "mux ok
resolve 127.0.0.1
resolve-ptr localhost
stream 1 echoed 13000 bytes
stream 3 echoed 14000 bytes
refused stream reply 5
bind stream rst 7
pong ok"
	# every stream is logged like a session, from the MUX client's address
	wait_for_line "$STP_LOG" 'cmd=mux .*result="ok"' >/dev/null
	run -0 grep -c -E "cmd=connect target=(localhost|127\.0\.0\.1):$ECHO_PORT up=1[34]000 down=1[34]000 .*result=\"ok\"" "$STP_LOG"
	assert_equal "$output" 2
	run -0 grep -c -E 'cmd=(resolve|resolve-ptr) .*result="ok"' "$STP_LOG"
	assert_equal "$output" 2
	run -0 grep -c "target=127.0.0.1:$closed .*result=\"connection refused\"" "$STP_LOG"
	run -0 grep -c 'cmd=mux target=0.0.0.0:0 up=27000 down=27000' "$STP_LOG"
}

@test "raw MUX client: the DNS channel inside a stream answers through the server's resolver" {
	start_dnsmasq --address=/mux.test/192.0.2.7
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT"
	run -0 bounded "$PY" "$MUXRAW" "$STP_PORT" dns mux.test
	assert_equal "$output" "mux ok
dns mux.test A 192.0.2.7
rcode 0"
}

@test "raw MUX client: DATA beyond the credit, or an unknown frame, closes the MUX session; the server goes on" {
	start_echo
	start_stp_serve
	run -0 bounded "$PY" "$MUXRAW" "$STP_PORT" overcredit
	assert_match "$output" 'closed by the server'
	run -0 wait_for_line "$STP_LOG" 'cmd=mux .*result="DATA beyond the credit"'
	run -0 bounded "$PY" "$MUXRAW" "$STP_PORT" badframe
	assert_match "$output" 'closed by the server'
	run -0 wait_for_line "$STP_LOG" 'cmd=mux .*result="malformed frame"'
	# the stream of the closed session ended with it, and new ones work
	run -0 wait_for_line "$STP_LOG" 'cmd=connect target=127.0.0.1:[0-9]+ up=[0-9]+ down=0 .*result="MUX stream reset"'
	run -0 bounded bash -c "echo again | stp-connect -x socks5://127.0.0.1:$STP_PORT 127.0.0.1 $ECHO_PORT"
	assert_equal "$output" again
}

@test "100 sequential and 20 concurrent --mux sessions over one TLS master: bytes checked, one authentication" {
	start_echo
	start_tls_auth_serve
	start_master -x "socks5hs://alice:s3cret@localhost:$TLS_PORT" \
		--cacert "$BATS_FILE_TMPDIR/pki/ca.pem"
	[ "$(stat -c %a "$MUX_SOCK")" = 600 ]
	local i want pids=()
	for i in $(seq 1 100); do
		want="stream $i"  # run's own loops clobber i
		run -0 --separate-stderr bounded bash -c "echo '$want' | stp-connect --mux $MUX_SOCK localhost $ECHO_PORT"
		assert_equal "$output" "$want"
	done
	for i in $(seq 1 20); do
		head -c 300000 /dev/urandom >"$T/in.$i"
		(io "$T/in.$i" "$T/out.$i" stp-connect --mux "$MUX_SOCK" 127.0.0.1 "$ECHO_PORT"
		 echo $? >"$T/rc.$i") &
		pids+=($!)
	done
	wait "${pids[@]}"  # not the servers started in the background
	for i in $(seq 1 20); do
		assert_equal "$(cat "$T/rc.$i")" 0
		assert_files_equal "$T/out.$i" "$T/in.$i"
	done
	# the credentials were checked once, for the MUX connection
	assert_equal "$(cat "$T/count")" 1
	run -0 grep -c 'user=alice cmd=connect .*result="ok"' "$STP_LOG"
	assert_equal "$output" 120
}

@test "a stalled --mux stream (its reader never reads) does not hold up another moving 100 MB" {
	start_echo
	start_digest
	start_stp_serve
	start_master -x "socks5h://127.0.0.1:$STP_PORT"
	# 200 MB echoed to a reader that takes the first 64 KiB and then never
	# reads again: the stream stalls on its credit. The writer notes its
	# progress in $T/writer (every MiB, "done N" at the end).
	start_bg stalled bash -c "\"\$1\" -c \"\$2\" 200000000 '$T/writer' |
		stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT |
		{ head -c 65536 >'$T/stalled.got'; exec sleep 120; }" _ "$PY" '
import os, sys
n, w, b = int(sys.argv[1]), 0, bytes(65536)
open(sys.argv[2], "w").write("0\n")
while w < n:
    w += os.write(1, b[:n - w])
    if w % (1 << 20) < 65536:
        open(sys.argv[2], "w").write("%d\n" % w)
open(sys.argv[2], "w").write("done %d\n" % w)'
	# the stream is open end to end: its first 64 KiB came back through the
	# master, the proxy and the echo
	wait_until "the stalled stream's first 64 KiB echoed" size_at_least "$T/stalled.got" 65536
	head -c 100000000 /dev/urandom >"$T/big"
	TMO=60 run -0 --separate-stderr io "$T/big" "$T/sum" stp-connect --mux "$MUX_SOCK" 127.0.0.1 "$DIGEST_PORT"
	assert_equal "$(cat "$T/sum")" "$(sha "$T/big")"
	# the stalled stream was held up all along: its writer got no further
	# than what the sockets on the way hold (~16 MB on loopback: the
	# credit bounds what the master and the proxy take), and its session
	# is still there, not ended
	run -0 cat "$T/writer"
	[[ $output =~ ^[0-9]+$ ]] && [ "$output" -lt 67108864 ] ||
		{ echo "the 'stalled' stream moved $output bytes of 200 MB" >&2; return 1; }
	kill -0 "${BG_PID[stalled]}"
	run -1 grep -E "cmd=connect target=127\.0\.0\.1:$ECHO_PORT " "$STP_LOG"
	# (the master's memory while a stream stalls: tools/bench-mux --stall)
}

@test "the master killed mid-stream: its three clients exit 1 at once with a message, no hang" {
	start_echo
	start_stp_serve
	start_master -x "socks5h://127.0.0.1:$STP_PORT"
	local i
	for i in 1 2 3; do
		# a client still sending (its stdin stays open) and receiving
		start_bg "client.$i" bash -c "stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT < <(echo hello $i; exec sleep 60); echo \$? >$T/rc.$i"
		wait_for_line "$T/client.$i.out" "^hello $i\$" 10 >/dev/null
	done
	stop_bg master KILL
	for i in 1 2 3; do
		wait_for_line "$T/rc.$i" '^[0-9]+$' 5 >/dev/null
		assert_equal "$(cat "$T/rc.$i")" 1
		run -0 cat "$T/client.$i.err"
		assert_equal "$output" "stp-connect: mux master gone, or the stream was reset"
	done
	# the proxy ended their streams with the MUX connection
	run -0 wait_for_line "$STP_LOG" 'cmd=mux '
	run -0 wait_for_line "$STP_LOG" 'cmd=connect .*result="MUX stream reset"'
}

@test "ssh through --mux: five ssh sessions at once over one master" {
	start_sshd
	start_stp_serve
	start_master -x "socks5h://127.0.0.1:$STP_PORT"
	local i pids=()
	for i in 1 2 3 4 5; do
		(bounded ssh "${SSH_OPTS[@]}" -o "ProxyCommand=stp-connect --mux $MUX_SOCK %h %p" \
			-p "$SSHD_PORT" root@127.0.0.1 "echo ssh-$i; head -c 200000 /dev/zero | wc -c" \
			>"$T/ssh.$i" 2>"$T/ssh.$i.err"; echo $? >"$T/ssh.$i.rc") &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2 3 4 5; do
		assert_equal "$(cat "$T/ssh.$i.rc")" 0
		assert_equal "$(cat "$T/ssh.$i")" "ssh-$i
200000"
	done
	run -0 grep -c "cmd=connect target=127.0.0.1:$SSHD_PORT .*result=\"ok\"" "$STP_LOG"
	assert_equal "$output" 5
	run -1 grep 'cmd=mux' "$STP_LOG"  # still one MUX session, open
}

@test "--mux-master against a proxy without MUX (Dante): exit 7 and a clear message; the socket is removed" {
	start_dante
	run -7 --separate-stderr bounded stp-connect --mux-master "$T/m.sock" -x "socks5://127.0.0.1:$DANTE_PORT"
	assert_match "$stderr" '^stp-connect: .*MUX.*(does not support|not supported)'
	[ ! -e "$T/m.sock" ]
}

@test "the proxy restarts: the master says so, reconnects with backoff, and the same socket serves new streams" {
	start_echo
	local port
	port=$(free_port)
	start_bg remote1 stp-serve -l "127.0.0.1:$port"
	wait_for_line "$T/remote1.err" "^listening 127\.0\.0\.1 $port\$" 10
	start_master -v -x "socks5h://127.0.0.1:$port"
	run -0 bounded bash -c "echo one | stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "one"
	stop_bg remote1
	run -0 wait_for_line "$T/master.err" 'the proxy closed the MUX connection; reconnecting' 10
	run -0 wait_for_line "$T/master.err" 'reconnecting: .*next try in' 10
	kill -0 "$MASTER_PID"
	[ -S "$MUX_SOCK" ]
	start_bg remote2 stp-serve -l "127.0.0.1:$port"
	wait_for_line "$T/remote2.err" "^listening 127\.0\.0\.1 $port\$" 10
	run -0 wait_for_line "$T/master.err" 'MUX connection to the proxy open again' 20
	run -0 bounded bash -c "echo two | stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT"
	assert_equal "$output" "two"
	# SIGTERM still ends it, and the socket goes with it
	stop_bg master
	[ ! -e "$MUX_SOCK" ]
}

@test "rules: a denied stream gets REPLY 2 and is logged; MUX itself can be denied" {
	start_echo
	start_stp_serve --rules "[{\"action\":\"deny\",\"command\":\"connect\",\"ports\":\"$ECHO_PORT\"},{\"action\":\"allow\"}]"
	start_master -x "socks5h://127.0.0.1:$STP_PORT"
	run -12 --separate-stderr bounded bash -c "echo x | stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT"
	assert_match "$stderr" 'not allowed'
	run -0 wait_for_line "$STP_LOG" "denies connect .*127.0.0.1:$ECHO_PORT"
	start_stp_serve --rules '[{"action":"deny","command":"mux"},{"action":"allow"}]'
	run -12 --separate-stderr bounded stp-connect --mux-master "$T/m2.sock" -x "socks5h://127.0.0.1:$STP_PORT"
	[ ! -e "$T/m2.sock" ]
}

@test "--stats counts MUX streams" {
	start_echo
	start_stp_serve --stats 127.0.0.1:0
	local sport
	sport=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ stats$' | cut -d' ' -f3)
	start_master -x "socks5h://127.0.0.1:$STP_PORT"
	local i
	for i in 1 2 3; do
		run -0 bounded bash -c "echo $i | stp-connect --mux $MUX_SOCK 127.0.0.1 $ECHO_PORT"
	done
	run -0 curl -sS --max-time 10 "http://127.0.0.1:$sport/metrics"
	assert_match "$output" 'stp_mux_streams_total\{result="opened"\} 3'
	assert_match "$output" 'stp_sessions_total\{command="connect",result="ok"\} 3'
}

@test "--upstream-mux: a front stp-serve carries curl's connections over one TLS MUX session with one authentication" {
	start_http
	start_tls_auth_serve
	local remote_log=$STP_LOG
	start_stp_serve --upstream "socks5hs://alice:s3cret@localhost:$TLS_PORT" \
		--upstream-cacert "$BATS_FILE_TMPDIR/pki/ca.pem" --upstream-mux
	local i pids=()
	for i in 1 2 3 4; do
		curl -sS --max-time $((20 * STP_SLOW)) --socks5-hostname "127.0.0.1:$STP_PORT" \
			-o "$T/got.$i" "http://localhost:$HTTP_PORT/data.bin" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2 3 4; do
		assert_files_equal "$T/got.$i" "$HTTP_FILE"
	done
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" \
		"http://localhost:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	run -0 grep -c "upstream MUX session to localhost:$TLS_PORT open" "$STP_LOG"
	assert_equal "$output" 1
	# the remote saw one client connection and one authentication for all
	assert_equal "$(cat "$T/count")" 1
	run -0 grep -c "user=alice cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\"" "$remote_log"
	assert_equal "$output" 5
	run -0 bash -c "grep -o 'client=[0-9.:]* user=alice cmd=connect' '$remote_log' | sort -u | wc -l"
	assert_equal "$output" 1
}

@test "--upstream-mux to a proxy without MUX: clients get X'01' at once, the log says why; needs --upstream" {
	start_dante
	start_stp_serve --upstream "socks5h://127.0.0.1:$DANTE_PORT" --upstream-mux
	run -11 --separate-stderr bounded stp-connect -x "socks5h://127.0.0.1:$STP_PORT" localhost 9 </dev/null
	run -0 wait_for_line "$STP_LOG" "upstream MUX session to 127.0.0.1:$DANTE_PORT: .*MUX"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --upstream-mux
	assert_match "$stderr" 'needs --upstream'
}

@test "--upstream-mux: the remote restarts; the front fails cleanly meanwhile and opens a new MUX session after" {
	start_http
	local pki=$BATS_FILE_TMPDIR/pki port
	port=$(free_port)
	start_stp_serve --tls-listen "127.0.0.1:$port" --cert "$pki/srv.pem" --key "$pki/srv.key"
	local remote=$STP_SERVE_PID
	start_stp_serve --upstream "socks5hs://localhost:$port" --upstream-cacert "$pki/ca.pem" --upstream-mux
	local front=$STP_PORT front_log=$STP_LOG
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$front" "http://localhost:$HTTP_PORT/hello.txt"
	kill -TERM "$remote"
	wait_exit "$remote" 10
	run -0 wait_for_line "$front_log" "upstream MUX session to localhost:$port closed by the proxy"
	run -97 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$front" "http://localhost:$HTTP_PORT/hello.txt"
	run -0 wait_for_line "$front_log" "upstream MUX session to localhost:$port: .*refused"
	start_stp_serve --tls-listen "127.0.0.1:$port" --cert "$pki/srv.pem" --key "$pki/srv.key"
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$front" "http://localhost:$HTTP_PORT/hello.txt"
	assert_equal "$output" "hello from the test http server"
	run -0 grep -c "upstream MUX session to localhost:$port open" "$front_log"
	assert_equal "$output" 2
}

@test "raw MUX client: 300 connections of random well-formed frames leave the server serving" {
	start_echo
	start_http
	start_stp_serve
	run -0 bounded "$PY" "$MUXRAW" "$STP_PORT" chaos "$ECHO_PORT" 7 300
	assert_equal "$output" "chaos 300 connections
after chaos: still here"
	stp_serve_alive
}
