#!/usr/bin/env bats
# stp-serve: the configuration file (-c), SIGHUP, and the access rules by
# each of their fields, with curl as the client.

bats_require_minimum_version 1.5.0
load lib/common

# get [CURL ARGS...]: curl through stp-serve ($STP_PORT) into $T/got.
get() {
	curl -sS --max-time $((10 * STP_SLOW)) -o "$T/got" "$@"
}

# serve_rules JSON [ARGS...]: stp-serve with these rules.
serve_rules() {
	local r=$1
	shift
	start_stp_serve --rules "$r" "$@"
}

@test "-c FILE: options from the file; the command line overrides them" {
	start_http
	cat >"$T/stp.json" <<-EOF
		{
		  "listen": ["127.0.0.1:0"],
		  "handshake-timeout": 5,
		  "idle-timeout": 60,
		  "log-format": "json",
		  "max-sessions-per-client": 10,
		  "rules": [{"action": "allow", "command": "connect", "to": "127.0.0.0/8"}]
		}
	EOF
	start_bg fromfile stp-serve -c "$T/stp.json"
	local port
	port=$(_listen_port fromfile)
	run -0 get --socks5 "127.0.0.1:$port" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -0 wait_for_line "$T/fromfile.err" '^\{"ts":"[^"]+","event":"session",.*"result":"ok"'
	# -l and --log-format on the command line win
	start_stp_serve -c "$T/stp.json" --log-format text
	run -0 get --socks5 "127.0.0.1:$STP_PORT" "$HTTP_URL"
	run -0 wait_for_line "$STP_LOG" '^[0-9TZ:.-]+ stp-serve: session client=127\.0\.0\.1:[0-9]+ .*result="ok"'
}

@test "a bad file is refused: syntax with line and column, unknown keys and wrong types with the key" {
	printf '{\n  "listen": ["127.0.0.1:0"],\n  "open": tru\n}\n' >"$T/bad1.json"
	run -2 --separate-stderr stp-serve -c "$T/bad1.json"
	assert_match "$stderr" "^stp-serve: $T/bad1.json:3:[0-9]+: invalid token near 'tru'"
	printf '{\n  "listen": ["127.0.0.1:0"],\n  "lisen": "x"\n}\n' >"$T/bad2.json"
	run -2 --separate-stderr stp-serve -c "$T/bad2.json"
	assert_match "$stderr" "^stp-serve: $T/bad2.json:3:3: unknown key 'lisen'"
	printf '{\n    "idle-timeout": "60"\n}\n' >"$T/bad3.json"
	run -2 --separate-stderr stp-serve -c "$T/bad3.json"
	assert_match "$stderr" "^stp-serve: $T/bad3.json:2:5: idle-timeout: expected a number of seconds"
	printf '{"rules": [{"action": "allow"}, {"action": "deny", "ports": "80-"}]}' >"$T/bad4.json"
	run -2 --separate-stderr stp-serve -c "$T/bad4.json"
	assert_match "$stderr" "^stp-serve: $T/bad4.json:1:2: rules\[1\]\.ports: expected ports"
	printf '["listen"]' >"$T/bad5.json"
	run -2 --separate-stderr stp-serve -c "$T/bad5.json"
	assert_match "$stderr" 'expected a JSON object of options'
	run -2 --separate-stderr stp-serve -c "$T/none.json"
	assert_match "$stderr" "none.json: No such file or directory"
	run -2 --separate-stderr stp-serve --rules '[{"action":"allow","to":"10.0.0.0/33"}]'
	assert_match "$stderr" "^stp-serve: --rules\[0\]\.to: expected CIDR"
}

@test "rules by from: only the allowed client address is served; SOCKS4 gets 91" {
	start_http
	serve_rules '[{"action":"allow","from":"127.0.0.2/32"}]'
	run -0 get --interface 127.0.0.2 --socks5 "127.0.0.1:$STP_PORT" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -97 get --socks5 "127.0.0.1:$STP_PORT" "$HTTP_URL"
	run -97 --separate-stderr get --socks4 "127.0.0.1:$STP_PORT" "$HTTP_URL"
	assert_match "$stderr" '\(91\)'
	run -0 wait_for_line "$STP_LOG" 'no rule allows connect from 127\.0\.0\.1 user - to 127\.0\.0\.1:[0-9]+: denied'
	run -0 wait_for_line "$STP_LOG" 'result="not allowed by ruleset"'
}

@test "rules by user: alice is allowed, bob is denied by the rule that names him" {
	start_http
	make_users "$T/users" alice a bob b
	serve_rules '[{"action":"deny","user":"bob"},{"action":"allow","user":"alice"}]' --users "$T/users"
	run -0 get --socks5 "127.0.0.1:$STP_PORT" --proxy-user alice:a "$HTTP_URL"
	run -97 --separate-stderr get --socks5 "127.0.0.1:$STP_PORT" --proxy-user bob:b "$HTTP_URL"
	assert_match "$stderr" '\(2\)'
	run -0 wait_for_line "$STP_LOG" \
		'rule 1 denies connect from 127\.0\.0\.1 user bob to 127\.0\.0\.1:[0-9]+: \{"action":"deny","user":"bob"\}'
}

@test "rules by command: connect allowed, resolve denied (reply 2)" {
	start_http
	serve_rules '[{"action":"allow","command":"connect"}]'
	run -0 get --socks5-hostname "127.0.0.1:$STP_PORT" "http://localhost:$HTTP_PORT/hello.txt"
	# stp-resolve: a name the ruleset refuses is exit 12 with the reason (SPEC §2.3)
	run -12 --separate-stderr stp-resolve -x "socks5h://127.0.0.1:$STP_PORT" localhost
	assert_match "$stderr" 'localhost: not allowed by ruleset .*reply 2'
	run -0 wait_for_line "$STP_LOG" 'no rule allows resolve from 127\.0\.0\.1 user - to localhost:0: denied'
}

@test "rules by to (CIDR) and ports" {
	start_http
	serve_rules '[{"action":"deny","to":"127.0.0.2/32"},{"action":"allow","to":"127.0.0.0/8","ports":"1024-65535"}]'
	run -0 get --socks5 "127.0.0.1:$STP_PORT" "$HTTP_URL"
	run -97 get --socks5 "127.0.0.1:$STP_PORT" "http://127.0.0.2:$HTTP_PORT/data.bin"
	run -0 wait_for_line "$STP_LOG" 'rule 1 denies connect from 127\.0\.0\.1 user - to 127\.0\.0\.2:'
	run -97 get --socks5 "127.0.0.1:$STP_PORT" "http://127.0.0.1:80/"
	run -0 wait_for_line "$STP_LOG" 'no rule allows connect from 127\.0\.0\.1 user - to 127\.0\.0\.1:80: denied'
}

@test "rules by to *.domain (curl --socks5-hostname), and CIDR rules again after resolution" {
	start_http
	start_dnsmasq --address=/www.example.test/127.0.0.1 --address=/other.test/127.0.0.1
	serve_rules '[{"action":"allow","to":"*.example.test"}]' --resolver "127.0.0.1:$DNS_PORT"
	run -0 get --socks5-hostname "127.0.0.1:$STP_PORT" "http://www.example.test:$HTTP_PORT/data.bin"
	assert_files_equal "$T/got" "$HTTP_FILE"
	run -97 get --socks5-hostname "127.0.0.1:$STP_PORT" "http://other.test:$HTTP_PORT/data.bin"
	run -0 wait_for_line "$STP_LOG" 'no rule allows connect from 127\.0\.0\.1 user - to other\.test:[0-9]+: denied'
	# a name passes the request check, its address is denied before connect()
	serve_rules '[{"action":"deny","to":"127.0.0.0/8"},{"action":"allow"}]' --resolver "127.0.0.1:$DNS_PORT"
	run -97 --separate-stderr get --socks5-hostname "127.0.0.1:$STP_PORT" "http://www.example.test:$HTTP_PORT/data.bin"
	assert_match "$stderr" '\(2\)'
	run -0 wait_for_line "$STP_LOG" 'rule 1 denies connect from 127\.0\.0\.1 user - to www\.example\.test:[0-9]+ \(127\.0\.0\.1\): \{"action":"deny","to":"127\.0\.0\.0/8"\}'
}

@test "a non-loopback listener starts with rules and no authentication" {
	start_bg ruled stp-serve -l 0.0.0.0:0 --rules '[{"action":"allow","from":"127.0.0.0/8"}]'
	run -0 wait_for_line "$T/ruled.err" '^listening 0\.0\.0\.0 [0-9]+$'
	run -2 --separate-stderr stp-serve -l 0.0.0.0:0 --rules '[]'
	assert_match "$stderr" 'open proxy'
}

@test "SIGHUP: new rules for new sessions, the running session goes on; a bad file keeps the old" {
	start_http
	start_echo
	make_users "$T/users" alice a
	printf '{"rules": [{"action": "allow"}]}\n' >"$T/stp.json"
	start_stp_serve -c "$T/stp.json" --users "$T/users"
	# alice's session, open through every reload below: stp-connect to the
	# echo with its stdin a fifo the test writes to (and a holder keeps open)
	mkfifo "$T/long.in"
	start_bg long-holder bash -c 'exec 7<>"$1"; exec sleep 120' _ "$T/long.in"
	start_bg_stdin long "$T/long.in" stp-connect -x "socks5://127.0.0.1:$STP_PORT" -U alice:a \
		127.0.0.1 "$ECHO_PORT"
	head -c 65536 /dev/urandom | base64 -w 76 >"$T/chunk"
	cat "$T/chunk" >"$T/long.in"
	# the session is established and relaying under the first configuration
	wait_until "alice's session echoed its first 64 KiB" size_at_least "$T/long.out" "$(stat -c %s "$T/chunk")"
	printf '{"rules": [{"action": "deny", "user": "alice"}, {"action": "allow"}]}\n' >"$T/stp.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" 'SIGHUP: reloaded .*stp\.json: 2 rules, users file; new sessions follow it'
	run -97 get --socks5 "127.0.0.1:$STP_PORT" --proxy-user alice:a "$HTTP_URL"
	# a bad file: logged with line and column, the old rules stay
	printf '{\n  "rules": [\n}\n' >"$T/stp.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" "SIGHUP: .*stp\.json:3:1: .*; keeping the old configuration"
	run -97 get --socks5 "127.0.0.1:$STP_PORT" --proxy-user alice:a "$HTTP_URL"
	# a users file changed on disk applies too
	make_users "$T/users" alice a bob b
	printf '{"rules": [{"action": "allow", "user": "bob"}]}\n' >"$T/stp.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" 'SIGHUP: reloaded .*: 1 rules'
	run -0 get --socks5 "127.0.0.1:$STP_PORT" --proxy-user bob:b "$HTTP_URL"
	run -97 get --socks5 "127.0.0.1:$STP_PORT" --proxy-user alice:a "$HTTP_URL"
	# alice's session that began under the first configuration still
	# relays, and ends cleanly: every byte came back
	run -1 grep -E 'user=alice cmd=connect target=127\.0\.0\.1:'"$ECHO_PORT " "$STP_LOG"
	cat "$T/chunk" >"$T/long.in"
	stop_bg long-holder
	wait_exit "${BG_PID[long]}" 10
	assert_files_equal "$T/long.out" <(cat "$T/chunk" "$T/chunk")
	# no password on disk in either file
	run -1 grep -F -e '"a"' -e ':a' -e ':b' "$T/users" "$T/stp.json"
}

@test "SIGHUP: changed listeners wait for a restart; an open proxy of a public listener is refused" {
	printf '{"listen": ["0.0.0.0:0"], "rules": [{"action": "allow", "from": "127.0.0.0/8"}]}\n' >"$T/pub.json"
	start_bg pub stp-serve -c "$T/pub.json"
	run -0 wait_for_line "$T/pub.err" '^listening 0\.0\.0\.0 [0-9]+$'
	printf '{"listen": ["0.0.0.0:0", "127.0.0.1:0"], "rules": []}\n' >"$T/pub.json"
	kill -HUP "${BG_PID[pub]}"
	run -0 wait_for_line "$T/pub.err" 'SIGHUP: .*: listener 0\.0\.0\.0:[0-9]+ would become an open proxy .*; keeping the old configuration'
	printf '{"listen": ["0.0.0.0:0", "127.0.0.1:0"], "users": "%s"}\n' "$T/users" >"$T/pub.json"
	make_users "$T/users" alice a
	kill -HUP "${BG_PID[pub]}"
	run -0 wait_for_line "$T/pub.err" 'SIGHUP: the listeners changed in .*pub\.json: not applied until restart'
	run -0 wait_for_line "$T/pub.err" 'SIGHUP: reloaded .*pub\.json: 0 rules, users file'
	# dropping the users file again is refused once more
	printf '{"listen": ["0.0.0.0:0"]}\n' >"$T/pub.json"
	kill -HUP "${BG_PID[pub]}"
	run -0 wait_for_line "$T/pub.err" 'SIGHUP: .*: listener 0\.0\.0\.0:[0-9]+ would become an open proxy .*; keeping the old configuration'
	local deadline
	deadline=$(_deadline 10)
	until [ "$(grep -c 'would become an open proxy' "$T/pub.err")" = 2 ]; do
		_past "$deadline" && { cat "$T/pub.err" >&2; return 1; }
		sleep 0.05
	done
}
