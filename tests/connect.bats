#!/usr/bin/env bats
# stp-connect as a client: through stp-serve, Dante, microsocks and chains;
# exit codes and messages of SPEC §2.3; proxy selection from the environment.

bats_require_minimum_version 1.5.0
load lib/common

# A bad-usage message: names the offending part, ends with the help hint.
HELP_HINT="try 'stp-connect --help'"

# ---------------------------------------------------------------- streams

@test "stdin to an echo server through stp-serve and back, byte for byte" {
	start_echo
	start_stp_serve
	head -c 1000000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	assert_equal "$stderr" ""
}

@test "200 MB to a digest-after-EOF server: half-close passes, sha256 matches" {
	start_digest
	start_stp_serve
	head -c 200M /dev/urandom >"$T/big"
	TMO=90 run -0 --separate-stderr io "$T/big" "$T/digest" stp-connect -x "socks5h://127.0.0.1:$STP_PORT" localhost "$DIGEST_PORT"
	run -0 cat "$T/digest"
	assert_equal "$output" "$(sha "$T/big")"
	rm -f "$T/big"
}

@test "through Dante to the echo server" {
	start_echo
	start_dante
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "through microsocks to the echo server" {
	start_echo
	start_microsocks
	head -c 100000 /dev/urandom >"$T/in"
	# microsocks closes both ways at the client's EOF: keep stdin open
	# until everything came back
	run -0 --separate-stderr io_hold "$T/in" "$T/out" stp-connect -x "socks5h://127.0.0.1:$MICROSOCKS_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "a proxy URL without a scheme is socks5h" {
	start_echo
	start_stp_serve
	echo "no scheme" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "127.0.0.1:$STP_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- chains

@test "chain of two stp-serve: socks5 then socks5h" {
	start_echo
	start_stp_serve
	start_stp_serve
	echo "through two hops" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5://127.0.0.1:$STP_PORT_1" -x "socks5h://127.0.0.1:$STP_PORT_2" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	# the first hop was asked for the second, the second for the target
	wait_for_line "$STP_LOG_1" "127\.0\.0\.1:$STP_PORT_2([^0-9]|$)"
	wait_for_line "$STP_LOG_2" "localhost:$ECHO_PORT([^0-9]|$)|127\.0\.0\.1:$ECHO_PORT([^0-9]|$)"
}

@test "chain stp-serve then Dante" {
	start_echo
	start_stp_serve
	start_dante
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5://127.0.0.1:$STP_PORT" -x "socks5://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG" "127\.0\.0\.1:$DANTE_PORT([^0-9]|$)"
}

@test "chain: a later hop that fails is the one named" {
	start_stp_serve
	start_peer silent
	run -5 --separate-stderr bounded stp-connect -z -w 1 \
		-x "socks5://127.0.0.1:$STP_PORT" -x "socks5://127.0.0.1:$SILENT_PORT" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: no answer from proxy 127\.0\.0\.1:$SILENT_PORT within 1 s\$"
	start_peer greet-close
	run -11 --separate-stderr bounded stp-connect -z \
		-x "socks5://127.0.0.1:$STP_PORT" -x "socks5://127.0.0.1:$GREET_CLOSE_PORT" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$GREET_CLOSE_PORT "
}

@test "chain: credentials with -U go to the last hop" {
	start_echo
	make_users "$T/users" alice s3cret
	start_stp_serve
	start_stp_serve --users "$T/users"
	echo "auth on the last hop" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -U alice:s3cret \
		-x "socks5://127.0.0.1:$STP_PORT_1" -x "socks5://127.0.0.1:$STP_PORT_2" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG_2" "user=alice .*target=127\.0\.0\.1:$ECHO_PORT "
}

# ---------------------------------------------------------------- -z

@test "-z: exit 0 for a listening target" {
	start_echo
	start_stp_serve
	run -0 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$output" ""
}

@test "-z: exit 15 for a closed port, with the documented message" {
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -15 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$closed"
	assert_equal "$output" ""
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT 127\.0\.0\.1:$closed: connection refused \(reply 5\)$"
}

@test "-z: exit 14 for a name that does not resolve" {
	start_dnsmasq --local=/invalid/
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT"
	run -14 --separate-stderr bounded stp-connect -z -x "socks5h://127.0.0.1:$STP_PORT" nonexistent.invalid 80
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT nonexistent\.invalid:80: .*\(reply 4\)$"
}

# ---------------------------------------------------------------- -L

@test "-L 0: prints listening, forwards three concurrent clients" {
	start_echo
	start_stp_serve
	start_bg fwd stp-connect -x "socks5://127.0.0.1:$STP_PORT" -L 0 127.0.0.1 "$ECHO_PORT"
	local line port n
	line=$(wait_for_line "$T/fwd.err" '^listening 127\.0\.0\.1 [0-9]+$')
	port=${line##* }
	local pids=()
	for n in 1 2 3; do
		head -c 300000 /dev/urandom >"$T/in.$n"
		timeout $((30 * STP_SLOW)) nc -N 127.0.0.1 "$port" <"$T/in.$n" >"$T/out.$n" 3>&- &
		pids+=($!)
	done
	for n in 0 1 2; do
		wait "${pids[$n]}"
	done
	for n in 1 2 3; do
		assert_files_equal "$T/out.$n" "$T/in.$n"
	done
	# it keeps running until signalled
	kill -0 "${BG_PID[fwd]}"
}

@test "-L serves each connection on a thread of its own, no child process; the threads end with their connections" {
	start_echo
	start_stp_serve
	start_bg fwd stp-connect -x "socks5://127.0.0.1:$STP_PORT" -L 0 127.0.0.1 "$ECHO_PORT"
	local line port pid n reply fds=()
	line=$(wait_for_line "$T/fwd.err" '^listening 127\.0\.0\.1 [0-9]+$')
	port=${line##* } pid=${BG_PID[fwd]}
	for n in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		fds+=("$fd")
		printf 'ping%s\n' "$n" >&"$fd"
		read -r -t $((10 * STP_SLOW)) reply <&"$fd"
		[ "$reply" = "ping$n" ]
	done
	# three relays running at once, all in the one process
	run pgrep -P "$pid"
	assert_equal "$status" 1
	n=$(ls "/proc/$pid/task" | wc -l)
	[ "$n" -ge 4 ]  # the main thread and one per connection
	for fd in "${fds[@]}"; do
		exec {fd}>&-
	done
	wait_until "the three threads end" sh -c "[ \$(ls /proc/$pid/task | wc -l) -eq 1 ]"
	kill -0 "$pid"
}

@test "-L ADDR:PORT listens where asked" {
	start_echo
	start_stp_serve
	local port
	port=$(free_port)
	start_bg fwd stp-connect -x "socks5://127.0.0.1:$STP_PORT" -L "127.0.0.1:$port" 127.0.0.1 "$ECHO_PORT"
	wait_for_line "$T/fwd.err" "^listening 127\.0\.0\.1 $port$"
	echo hello >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" nc -N 127.0.0.1 "$port"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- auth

@test "-U user:pass against stp-serve --users" {
	start_echo
	make_users "$T/users" alice 's3cret'
	start_stp_serve --users "$T/users"
	echo "authenticated" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" -U alice:s3cret 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "credentials in the URL, percent-decoded" {
	start_echo
	make_users "$T/users" 'al ice' 'p@ss:w/rd'
	start_stp_serve --users "$T/users"
	echo "url creds" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://al%20ice:p%40ss%3Aw%2Frd@127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "STP_PASSWORD gives the password for -U user" {
	start_echo
	make_users "$T/users" alice 's3cret'
	start_stp_serve --users "$T/users"
	echo "env password" >"$T/in"
	STP_PASSWORD=s3cret run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" -U alice 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "--password-file gives the password for -U user" {
	start_echo
	make_users "$T/users" alice 's3cret'
	start_stp_serve --users "$T/users"
	printf 's3cret\n' >"$T/pw"
	echo "file password" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" -U alice --password-file "$T/pw" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "wrong password: exit 4" {
	start_echo
	make_users "$T/users" alice 's3cret'
	start_stp_serve --users "$T/users"
	run -4 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$STP_PORT" -U alice:nope 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT .*credentials.*alice"
	[[ $stderr != *nope* ]]
}

@test "proxy requires authentication, no credentials given: exit 4" {
	start_echo
	make_users "$T/users" alice 's3cret'
	start_stp_serve --users "$T/users"
	run -4 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$STP_PORT .*authentication method"
}

# ---------------------------------------------------------------- exit codes

@test "bad URL scheme: exit 2, names the scheme, hints at --help" {
	run -2 --separate-stderr stp-connect -x "socks9://127.0.0.1:1080" 127.0.0.1 80 </dev/null
	assert_equal "$output" ""
	assert_match "$stderr" "^stp-connect: .*socks9"
	assert_match "$stderr" "$HELP_HINT\$"
}

@test "bad URL port: exit 2, names the port" {
	run -2 --separate-stderr stp-connect -x "socks5://127.0.0.1:99999" 127.0.0.1 80 </dev/null
	assert_match "$stderr" "^stp-connect: .*99999"
	assert_match "$stderr" "$HELP_HINT\$"
}

@test "no proxy at all: exit 2" {
	run -2 --separate-stderr stp-connect 127.0.0.1 80 </dev/null
	assert_match "$stderr" "^stp-connect: "
	assert_match "$stderr" "$HELP_HINT\$"
}

@test "missing PORT argument: exit 2" {
	run -2 --separate-stderr stp-connect -x socks5://127.0.0.1:1 127.0.0.1 </dev/null
	assert_match "$stderr" "$HELP_HINT\$"
}

@test "--help prints usage to stdout and exits 0" {
	run -0 --separate-stderr stp-connect --help
	assert_match "${lines[0]}" '^usage: stp-connect '
	assert_equal "$stderr" ""
}

@test "a proxy port nobody listens on: exit 3" {
	local closed
	closed=$(closed_port)
	run -3 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$closed" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: .*reach.*127\.0\.0\.1:$closed.*: [Cc]onnection refused\$"
}

@test "an HTTP server as the proxy (waits for a request line): exit 5" {
	start_http
	run -5 --separate-stderr bounded stp-connect -z -w 2 -x "socks5://127.0.0.1:$HTTP_PORT" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: .*127\.0\.0\.1:$HTTP_PORT"
}

@test "an HTTP server that answers the greeting with a 400 page: exit 5" {
	start_peer http-reply
	run -5 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$HTTP_REPLY_PORT" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$HTTP_REPLY_PORT.*not a SOCKS"
}

@test "a proxy that never answers: exit 5 after -w 1, 'no answer from proxy'" {
	start_peer silent
	local t0 t1
	t0=$(_now_ms)
	run -5 --separate-stderr bounded stp-connect -z -w 1 -x "socks5://127.0.0.1:$SILENT_PORT" 127.0.0.1 80
	t1=$(_now_ms)
	assert_match "$stderr" "^stp-connect: no answer from proxy 127\.0\.0\.1:$SILENT_PORT within 1 s\$"
	# the -w 1 timeout fires: not before 1 s, and (generously) not much later
	[ $((t1 - t0)) -ge 900 ]
	[ $((t1 - t0)) -lt $((10000 * STP_SLOW)) ] || { echo "took $((t1 - t0)) ms" >&2; return 1; }
}

@test "-w runs out while the proxy reaches the target: exit 16" {
	start_peer greet-hang
	local t0 t1
	t0=$(_now_ms)
	run -16 --separate-stderr bounded stp-connect -z -w 1 -x "socks5://127.0.0.1:$GREET_HANG_PORT" 127.0.0.1 80
	t1=$(_now_ms)
	assert_match "$stderr" "^stp-connect: .*127\.0\.0\.1:$GREET_HANG_PORT"
	# the -w 1 timeout fires: not before 1 s, and (generously) not much later
	[ $((t1 - t0)) -ge 900 ]
	[ $((t1 - t0)) -lt $((10000 * STP_SLOW)) ] || { echo "took $((t1 - t0)) ms" >&2; return 1; }
}

@test "a proxy that closes before replying to CONNECT: exit 11" {
	start_peer greet-close
	run -11 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$GREET_CLOSE_PORT" 127.0.0.1 80
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$GREET_CLOSE_PORT .*without a reply"
}

@test "a denial by the proxy's rules (Dante, reply 2): exit 12" {
	start_echo
	start_dante "socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = $ECHO_PORT }"
	run -12 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: proxy 127\.0\.0\.1:$DANTE_PORT refused CONNECT 127\.0\.0\.1:$ECHO_PORT: .*\(reply 2\)$"
}

@test "connection refused by the target: exit 15 (stream mode)" {
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -15 --separate-stderr bounded stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$closed" </dev/null
	assert_equal "$output" ""
	assert_match "$stderr" "refused CONNECT 127\.0\.0\.1:$closed: connection refused \(reply 5\)$"
}

@test "a name the proxy cannot resolve: exit 14 (stream mode)" {
	start_dnsmasq --local=/invalid/
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT"
	run -14 --separate-stderr bounded stp-connect -x "socks5h://127.0.0.1:$STP_PORT" nonexistent.invalid 80 </dev/null
	assert_equal "$output" ""
}

@test "socks4 scheme: reply 91 from the proxy is exit 12" {
	start_echo
	start_dante "socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = $ECHO_PORT }"
	run -12 --separate-stderr bounded stp-connect -z -x "socks4://127.0.0.1:$DANTE_PORT" 127.0.0.1 "$ECHO_PORT"
}

@test "socks4 and socks4a schemes reach the echo server through stp-serve" {
	start_echo
	start_stp_serve
	echo four >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks4://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	echo four-a >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks4a://127.0.0.1:$STP_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- environment

@test "STP_PROXY picks the proxy when -x is absent" {
	start_echo
	start_stp_serve
	echo "via STP_PROXY" >"$T/in"
	STP_PROXY="socks5://127.0.0.1:$STP_PORT" run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG" "127\.0\.0\.1:$ECHO_PORT([^0-9]|$)"
}

@test "ALL_PROXY and all_proxy pick the proxy when -x and STP_PROXY are absent" {
	start_echo
	start_stp_serve
	echo "via ALL_PROXY" >"$T/in"
	ALL_PROXY="socks5h://127.0.0.1:$STP_PORT" run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	all_proxy="socks5h://127.0.0.1:$STP_PORT" run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	run -0 grep -c "127\.0\.0\.1:$ECHO_PORT" "$STP_LOG"
	assert_equal "$output" 2
}

@test "STP_PROXY wins over ALL_PROXY, and -x wins over both" {
	start_echo
	start_stp_serve
	local closed
	closed=$(closed_port)
	echo precedence >"$T/in"
	STP_PROXY="socks5://127.0.0.1:$STP_PORT" ALL_PROXY="socks5://127.0.0.1:$closed" \
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	STP_PROXY="socks5://127.0.0.1:$closed" ALL_PROXY="socks5://127.0.0.1:$closed" \
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	STP_PROXY="socks5://127.0.0.1:$closed" run -3 --separate-stderr bounded stp-connect -z 127.0.0.1 "$ECHO_PORT"
}

@test "NO_PROXY=127.0.0.1 connects directly" {
	start_echo
	local closed
	closed=$(closed_port)
	echo direct >"$T/in"
	STP_PROXY="socks5://127.0.0.1:$closed" NO_PROXY=127.0.0.1 \
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	STP_PROXY="socks5://127.0.0.1:$closed" no_proxy=127.0.0.1 \
		run -0 --separate-stderr io "$T/in" "$T/out" stp-connect 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	# another host is not in the list: the (dead) proxy is used
	STP_PROXY="socks5://127.0.0.1:$closed" NO_PROXY=example.invalid \
		run -3 --separate-stderr bounded stp-connect -z 127.0.0.1 "$ECHO_PORT"
}
