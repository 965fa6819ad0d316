#!/usr/bin/env bats
# stp-serve against real clients it did not write: curl, OpenBSD nc, ncat,
# PySocks, and hand-made byte sequences (tests/lib/sockstest.py).

bats_require_minimum_version 1.5.0
load lib/common

ST="$BATS_TEST_DIRNAME/lib/sockstest.py"

# ---------------------------------------------------------------- curl

@test "curl --socks5 fetches a file byte for byte" {
	start_http
	start_stp_serve
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "curl --socks5-hostname: the proxy resolves localhost" {
	start_http
	start_stp_serve
	run -0 --separate-stderr curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "curl --socks4 fetches a file byte for byte" {
	start_http
	start_stp_serve
	run -0 --separate-stderr curl -sS --max-time 20 --socks4 "127.0.0.1:$STP_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "curl --socks4a: the proxy resolves localhost" {
	start_http
	start_stp_serve
	run -0 --separate-stderr curl -sS --max-time 20 --socks4a "127.0.0.1:$STP_PORT" \
		-o "$T/got" "http://localhost:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "curl --proxy-user against --users: right password works, wrong one fails, server keeps serving" {
	start_http
	run -0 --separate-stderr bash -c "printf 'secret\n' | stp-serve --hash-password"
	local hash=$output
	assert_equal "${#lines[@]}" 1
	# a scheme prefix, never the plain password
	assert_match "$hash" '^(\$[A-Za-z0-9_-]+\$|\{[A-Za-z0-9_-]+\}|[A-Za-z0-9_-]+\$)'
	[[ $hash != *secret* ]]
	# salted: the same password hashes differently the second time
	run -0 --separate-stderr bash -c "printf 'secret\n' | stp-serve --hash-password"
	[ "$output" != "$hash" ]
	printf 'alice:%s\n' "$hash" >"$T/users"
	run -0 grep -c '^alice:' "$T/users"
	run -1 grep -F secret "$T/users"

	start_stp_serve --users "$T/users"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user alice:secret -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"

	run -97 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user alice:wrong -o "$T/bad" "$HTTP_URL"
	run -97 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		-o "$T/bad" "$HTTP_URL"

	rm -f "$T/got"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user alice:secret -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# no password in the log
	run -1 grep -F -e secret -e wrong "$STP_LOG"
}

@test "with --users: a client offering only no-auth gets X'FF', a SOCKS4 client is refused" {
	start_http
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 1 127.0.0.1 "$HTTP_PORT"
	assert_equal "$output" "method 255"
	run -97 --separate-stderr curl -sS --max-time 20 --socks4 "127.0.0.1:$STP_PORT" -o "$T/bad" "$HTTP_URL"
	run -97 --separate-stderr curl -sS --max-time 20 --socks4a "127.0.0.1:$STP_PORT" -o "$T/bad" "$HTTP_URL"
	[ ! -s "$T/bad" ]
}

@test "200 concurrent curl transfers, 100 at a time, all byte for byte" {
	start_http
	start_stp_serve
	local args=() n
	for n in $(seq 1 200); do
		args+=(-o "$T/got.$n" "$HTTP_URL")
	done
	TMO=60 run -0 --separate-stderr bounded curl -sS --parallel --parallel-max 100 \
		--socks5 "127.0.0.1:$STP_PORT" "${args[@]}"
	for n in $(seq 1 200); do
		assert_files_equal "$T/got.$n" "$HTTP_FILE"
	done
	stp_serve_alive
}

# ---------------------------------------------------------------- nc, ncat

@test "OpenBSD nc -X 5 echoes through stp-serve" {
	start_echo
	start_stp_serve
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" nc -N -X 5 -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "OpenBSD nc -X 4 echoes through stp-serve" {
	start_echo
	start_stp_serve
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" nc -N -X 4 -x "127.0.0.1:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "ncat --proxy-type socks5 echoes through stp-serve" {
	start_echo
	start_stp_serve
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type socks5 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "ncat --proxy-type socks4 echoes through stp-serve" {
	start_echo
	start_stp_serve
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type socks4 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "ncat --proxy-auth against --users" {
	start_echo
	make_users "$T/users" bob 'pa ss:word'
	start_stp_serve --users "$T/users"
	echo "hello ncat" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type socks5 \
		--proxy-auth 'bob:pa ss:word' 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- PySocks

@test "PySocks SOCKS5 (rdns) echoes through stp-serve" {
	start_echo
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" pysocks "$STP_PORT" localhost "$ECHO_PORT"
	assert_equal "$output" "ok 65536"
}

@test "PySocks SOCKS5 with username and password" {
	start_echo
	make_users "$T/users" carol c4r0l
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr "$PY" "$ST" pysocks "$STP_PORT" 127.0.0.1 "$ECHO_PORT" carol c4r0l
	assert_equal "$output" "ok 65536"
	run -0 --separate-stderr "$PY" "$ST" pysocks "$STP_PORT" 127.0.0.1 "$ECHO_PORT" carol wrong
	assert_match "$output" '^proxy error'
}

# ---------------------------------------------------------------- bad input

@test "4 KiB of random bytes: connection closed, server keeps serving" {
	start_http
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" garbage "$STP_PORT" 4096
	assert_equal "$output" closed
	stp_serve_alive
}

@test "a greeting cut short, then closed: server keeps serving" {
	start_http
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" short-greeting "$STP_PORT"
	assert_equal "$output" sent
	stp_serve_alive
	kill -0 "$STP_SERVE_PID"
}

@test "a valid request sent one byte at a time works" {
	start_http
	start_echo
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" 127.0.0.1 "$ECHO_PORT" 5
	assert_equal "$output" "reply 0 echo ping"
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" localhost "$ECHO_PORT" 2
	assert_equal "$output" "reply 0 echo ping"
	stp_serve_alive
}

@test "255-byte user name and 255-byte password are accepted" {
	start_http
	start_echo
	local u p
	u=$(printf 'u%.0s' {1..255})
	p=$(printf 'p%.0s' {1..255})
	make_users "$T/users" "$u" "$p"
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr "$PY" "$ST" long-auth "$STP_PORT" 255 255 127.0.0.1 "$ECHO_PORT"
	assert_equal "$output" "auth 0 reply 0 echo pong"
	# and a wrong 255-byte password is refused
	run -0 --separate-stderr "$PY" "$ST" long-auth "$STP_PORT" 255 254 127.0.0.1 "$ECHO_PORT"
	assert_match "$output" '^auth '
	[ "$output" != "auth 0 reply 0 echo pong" ]
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user "$u:$p" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "unknown ATYP gets reply 8, unknown CMD 0x09 gets reply 7" {
	start_http
	start_echo
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 7 7f000001 "$ECHO_PORT"
	assert_equal "$output" "reply 8"
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 9 1 127.0.0.1 "$ECHO_PORT"
	assert_equal "$output" "reply 7"
	stp_serve_alive
}

@test "--handshake-timeout 1 closes a client that never finishes its handshake" {
	start_http
	start_stp_serve --handshake-timeout 1
	run -0 --separate-stderr "$PY" "$ST" stall "$STP_PORT"
	assert_match "$output" '^eof after [0-9.]+$'
	local secs=${output##* }
	# about the timeout: not at once, well before 3 s
	awk -v s="$secs" -v max=$((3 * STP_SLOW)) 'BEGIN { exit !(s >= 0.5 && s < max) }'

	stp_serve_alive
}

# ---------------------------------------------------------------- replies

@test "CONNECT to a closed port gets reply 5" {
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 1 127.0.0.1 "$(closed_port)"
	assert_equal "$output" "reply 5"
}

@test "CONNECT to a name that does not resolve gets reply 4 (private resolver)" {
	start_echo
	start_dnsmasq --local=/invalid/ --address=/echo.stp.test/127.0.0.1
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT"
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 3 nonexistent.invalid 80
	assert_equal "$output" "reply 4"
	# the same resolver does answer names it knows
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" echo.stp.test "$ECHO_PORT" 0
	assert_equal "$output" "reply 0 echo ping"
}

@test "CONNECT to a name when the resolver does not answer gets reply 4" {
	start_stp_serve --resolver "127.0.0.1:$(closed_port)"
	TMO=40 run -0 --separate-stderr bounded "$PY" "$ST" reply "$STP_PORT" 1 3 nonexistent.invalid 80
	assert_equal "$output" "reply 4"
}

# ---------------------------------------------------------------- open proxy

@test "a non-loopback listener without --open or --users is refused at start" {
	run -2 --separate-stderr bounded stp-serve -l 0.0.0.0:0
	assert_match "$stderr" '^stp-serve: '
	assert_match "$stderr" '(open proxy|--open)'
}

@test "a non-loopback listener starts with --open" {
	start_http
	start_bg open stp-serve -l 0.0.0.0:0 --open
	local line
	line=$(wait_for_line "$T/open.err" '^listening 0\.0\.0\.0 [0-9]+$')
	stp_serve_alive "${line##* }"
}

@test "a non-loopback listener starts with --users" {
	start_http
	make_users "$T/users" dave d
	start_bg auth stp-serve -l 0.0.0.0:0 --users "$T/users"
	local line
	line=$(wait_for_line "$T/auth.err" '^listening 0\.0\.0\.0 [0-9]+$')
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:${line##* }" \
		--proxy-user dave:d -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "several listeners: one listening line each, in order; IPv6 without brackets" {
	start_http
	start_bg multi stp-serve -l 127.0.0.1:0 -l '[::1]:0' -l 127.0.0.2:0
	wait_for_line "$T/multi.err" '^listening 127\.0\.0\.2 [0-9]+$'
	run -0 grep '^listening ' "$T/multi.err"
	assert_equal "${#lines[@]}" 3
	assert_match "${lines[0]}" '^listening 127\.0\.0\.1 [0-9]+$'
	assert_match "${lines[1]}" '^listening ::1 [0-9]+$'
	assert_match "${lines[2]}" '^listening 127\.0\.0\.2 [0-9]+$'
	local p4=${lines[0]##* } p6=${lines[1]##* } p2=${lines[2]##* }
	stp_serve_alive "$p4"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "[::1]:$p6" -o "$T/got6" "$HTTP_URL"
	assert_files_equal "$T/got6" "$HTTP_FILE"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.2:$p2" -o "$T/got2" "$HTTP_URL"
	assert_files_equal "$T/got2" "$HTTP_FILE"
}

@test "an IPv6 target through an IPv4 listener" {
	start_bg echo6 "$PY" "$PEERS" --host ::1 echo
	local line port
	line=$(wait_for_line "$T/echo6.err" '^listening ::1 [0-9]+$')
	port=${line##* }
	start_stp_serve
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 4 ::1 "$port"
	assert_equal "$output" "reply 0"
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" ncat --proxy "127.0.0.1:$STP_PORT" --proxy-type socks5 ::1 "$port"
	assert_files_equal "$T/out" "$T/in"
}

@test "a name with IPv4 and IPv6 addresses reaches whichever family listens (Happy Eyeballs)" {
	start_dnsmasq --local=/stp.test/ --host-record=dual.stp.test,127.0.0.1,::1 \
		--host-record=six.stp.test,::1
	start_bg echo6 "$PY" "$PEERS" --host ::1 echo
	local line p6
	line=$(wait_for_line "$T/echo6.err" '^listening ::1 [0-9]+$')
	p6=${line##* }
	start_echo
	start_stp_serve --resolver "127.0.0.1:$DNS_PORT"
	# only ::1 listens on p6: IPv4 is refused, IPv6 must be tried
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" dual.stp.test "$p6" 0
	assert_equal "$output" "reply 0 echo ping"
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" six.stp.test "$p6" 0
	assert_equal "$output" "reply 0 echo ping"
	# only 127.0.0.1 listens on ECHO_PORT
	run -0 --separate-stderr "$PY" "$ST" slow "$STP_PORT" dual.stp.test "$ECHO_PORT" 0
	assert_equal "$output" "reply 0 echo ping"
}

# ---------------------------------------------------------------- signals

@test "SIGTERM: stops accepting, lets the session in progress finish, exits 0" {
	start_echo
	start_stp_serve
	start_bg client "$PY" "$ST" session "$STP_PORT" "$ECHO_PORT" "$T/go"
	wait_for_line "$T/client.out" '^established$'
	kill -TERM "$STP_SERVE_PID"
	# no longer accepting: connections are refused (poll with a deadline)
	local deadline
	deadline=$(_deadline 5)
	while (exec 3<>"/dev/tcp/127.0.0.1/$STP_PORT") 2>/dev/null; do
		if _past "$deadline"; then
			echo "stp-serve still accepts after SIGTERM" >&2
			return 1
		fi
		sleep 0.02
	done
	# the session in progress still relays
	touch "$T/go"
	wait_for_line "$T/client.out" '^echo '
	run -0 cat "$T/client.out"
	assert_equal "${lines[1]}" "echo two"
	# not under run: a subshell cannot wait for the server (exit 255 when it is still running then)
	wait_exit "$STP_SERVE_PID" 10
}

@test "SIGTERM on an idle server: exits 0" {
	start_stp_serve
	kill -0 "$STP_SERVE_PID"
	kill -TERM "$STP_SERVE_PID"
	wait_exit "$STP_SERVE_PID" 5  # not under run: see above
}

# ---------------------------------------------------------------- logs

@test "one log line per session end with the target and the bytes" {
	start_http
	make_users "$T/users" frank f
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user frank:f -o "$T/got" "$HTTP_URL"
	local line
	line=$(wait_for_line "$STP_LOG" "target=127\.0\.0\.1:$HTTP_PORT ")
	run -0 grep -c "target=127\.0\.0\.1:$HTTP_PORT " "$STP_LOG"
	assert_equal "$output" 1
	assert_match "$line" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z stp-serve: session client=127\.0\.0\.1:[0-9]+ user=frank cmd=connect target=127\.0\.0\.1:'"$HTTP_PORT"' up=[0-9]+ down=[0-9]+ duration=[0-9.]+s result="ok"$'
	# bytes each way: the request went up, the body (and headers) came down
	local up down
	up=$(grep -oE ' up=[0-9]+' <<<"$line" | cut -d= -f2)
	down=$(grep -oE ' down=[0-9]+' <<<"$line" | cut -d= -f2)
	[ "$up" -gt 50 ] && [ "$up" -lt 1000 ]
	[ "$down" -gt 262144 ] && [ "$down" -lt 263000 ]
}

@test "a failed session is logged with its result" {
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -0 --separate-stderr "$PY" "$ST" reply "$STP_PORT" 1 1 127.0.0.1 "$closed"
	assert_equal "$output" "reply 5"
	local line
	line=$(wait_for_line "$STP_LOG" "target=127\.0\.0\.1:$closed ")
	assert_match "$line" 'up=0 down=0 .*result="connection refused"$'
}

@test "--log-format json: one JSON object per session with the documented fields" {
	start_http
	make_users "$T/users" erin e
	start_stp_serve --users "$T/users" --log-format json
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user erin:e -o "$T/got" "$HTTP_URL"
	local line
	line=$(wait_for_line "$STP_LOG" "127\.0\.0\.1:$HTTP_PORT")
	echo "$line" >"$T/line.json"
	run -0 jq -e . "$T/line.json"
	run -0 jq -r '[.event, .user, .client, .command, .target, (.duration|type), .result] | @tsv' "$T/line.json"
	assert_match "$output" "^session	erin	127\.0\.0\.1:[0-9]+	connect	127\.0\.0\.1:$HTTP_PORT	number	ok\$"
	# bytes each way
	run -0 jq -e '.bytes_up > 50 and .bytes_up < 1000 and .bytes_down > 262144 and .bytes_down < 263000' "$T/line.json"
	# anything that is not a listening line or a "stp-serve: " diagnostic is JSON
	run -0 bash -c "grep -v -e '^listening ' -e '^stp-serve: ' '$STP_LOG' | jq -e . >/dev/null"
	run -0 grep -c '^{' "$STP_LOG"
	assert_equal "$output" 1
}
