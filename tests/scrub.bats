#!/usr/bin/env bats
# Passwords on the command line leave argv once taken (STYLE: secrets are
# scrubbed from argv): /proc/PID/cmdline of a running client or server no
# longer shows them, and the password, kept in memory, still authenticates.
# Covers the clients' -x, -U and --config and stp-serve's --upstream
# (--auth-url: serve-auth.bats).

bats_require_minimum_version 1.5.0
load lib/common

# argv_of PID: the process's arguments, one per line, into $T/argv; fails
# unless PID runs an stp program (setsid could have forked).
argv_of() {
	tr '\0' '\n' <"/proc/$1/cmdline" >"$T/argv"
	grep -qE '^stp-[a-z]+$' "$T/argv" || {
		echo "pid $1 is not an stp program:" >&2
		cat "$T/argv" >&2
		return 1
	}
}

# forward_port NAME: the port of the `listening` line of stp-connect -L.
forward_port() {
	local line
	line=$(wait_for_line "$T/$1.err" '^listening 127\.0\.0\.1 [0-9]+$') || return 1
	echo "${line##* }"
}

# echo_through PORT: a line sent to the forwarder at PORT comes back.
echo_through() {
	echo "hello through $1" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" nc -N 127.0.0.1 "$1"
	assert_files_equal "$T/out" "$T/in"
}

@test "stp-connect -x USER:PASS@: argv shows stars, the password still authenticates" {
	start_echo
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users"
	start_bg fwd stp-connect -x "socks5h://alice:secret@127.0.0.1:$STP_PORT" -L 0 127.0.0.1 "$ECHO_PORT"
	local port
	port=$(forward_port fwd)
	argv_of "${BG_PID[fwd]}"
	run -1 grep -c secret "$T/argv"
	run -0 grep -cxF "socks5h://alice:******@127.0.0.1:$STP_PORT" "$T/argv"
	echo_through "$port"
	wait_for_line "$STP_LOG" "user=alice cmd=connect target=127\.0\.0\.1:$ECHO_PORT .*result=\"ok\"" 5
}

@test "stp-connect -x twice, both with passwords: neither shows, the chain authenticates at both" {
	start_echo
	make_users "$T/users1" alice first-secret
	start_stp_serve --users "$T/users1"
	make_users "$T/users2" bob second-secret
	start_stp_serve --users "$T/users2"
	start_bg fwd2 stp-connect -x "socks5://alice:first-secret@127.0.0.1:$STP_PORT_1" \
		-x "socks5h://bob:second-secret@127.0.0.1:$STP_PORT_2" -L 0 127.0.0.1 "$ECHO_PORT"
	local port
	port=$(forward_port fwd2)
	argv_of "${BG_PID[fwd2]}"
	run -1 grep -c secret "$T/argv"
	echo_through "$port"
	wait_for_line "$STP_LOG_1" "user=alice cmd=connect target=127\.0\.0\.1:$STP_PORT_2 .*result=\"ok\"" 5
	wait_for_line "$STP_LOG_2" "user=bob cmd=connect target=127\.0\.0\.1:$ECHO_PORT .*result=\"ok\"" 5
}

@test "stp-connect -U USER:PASS: the password leaves argv and still authenticates" {
	start_echo
	make_users "$T/users" carol c4r0l-secret
	start_stp_serve --users "$T/users"
	start_bg fwd stp-connect -U carol:c4r0l-secret -x "socks5h://127.0.0.1:$STP_PORT" -L 0 127.0.0.1 "$ECHO_PORT"
	local port
	port=$(forward_port fwd)
	argv_of "${BG_PID[fwd]}"
	run -1 grep -c secret "$T/argv"
	echo_through "$port"
	wait_for_line "$STP_LOG" "user=carol cmd=connect .*result=\"ok\"" 5
}

@test "stp-connect --config with a password in the proxy URL: CONFIG authenticates, argv shows stars" {
	start_echo
	start_stp_serve                                   # the proxy the route names
	cat >"$T/cfg.json" <<-EOF
		{"proxies": {"p": "socks5h://127.0.0.1:$STP_PORT_1"},
		 "routes": [{"match": "*", "via": ["p"]}]}
	EOF
	make_users "$T/users" dave d-secret
	start_stp_serve --users "$T/users" --client-config "$T/cfg.json"
	start_bg fwd stp-connect --config "socks5h://dave:d-secret@127.0.0.1:$STP_PORT_2" -L 0 127.0.0.1 "$ECHO_PORT"
	local port
	port=$(forward_port fwd)
	argv_of "${BG_PID[fwd]}"
	run -1 grep -c secret "$T/argv"
	run -0 grep -cxF "socks5h://dave:********@127.0.0.1:$STP_PORT_2" "$T/argv"
	wait_for_line "$STP_LOG_2" 'user=dave cmd=config .*result="ok"' 5
	echo_through "$port"
	wait_for_line "$STP_LOG_1" "cmd=connect target=127\.0\.0\.1:$ECHO_PORT .*result=\"ok\"" 5
}

@test "stp-serve --upstream USER:PASS@: argv shows stars, the upstream sees the user" {
	start_echo
	make_users "$T/users" erin e-secret
	start_stp_serve --users "$T/users"                # the upstream
	start_stp_serve --upstream "socks5h://erin:e-secret@127.0.0.1:$STP_PORT_1"
	argv_of "$STP_SERVE_PID"
	run -1 grep -c secret "$T/argv"
	run -0 grep -cxF "socks5h://erin:********@127.0.0.1:$STP_PORT_1" "$T/argv"
	echo "through the upstream" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://127.0.0.1:$STP_PORT_2" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG_1" "user=erin cmd=connect target=127\.0\.0\.1:$ECHO_PORT .*result=\"ok\"" 5
}
