#!/usr/bin/env bats
# Client configuration (SPEC §2.5): stp-serve --client-config and the CONFIG
# command, and the clients' --config FILE|URL and STP_CONFIG, from a file,
# over HTTP (the test's HTTP server) and from a proxy; routes to "direct"
# and via named proxies; -x winning.

bats_require_minimum_version 1.5.0
load lib/common

# write_cfg FILE VIA_PORT: a configuration whose 127.0.0.1 route is direct
# and whose "*" route goes through the stp-serve on VIA_PORT.
write_cfg() {
	cat >"$1" <<-EOF
		{"proxies": {"second": "socks5h://127.0.0.1:$2"},
		 "routes": [{"match": "127.0.0.0/8", "via": "direct"},
		            {"match": "*.direct.test", "via": "direct"},
		            {"match": "*", "via": ["second"]}]}
	EOF
}

# sessions LOG: how many sessions an stp-serve logged.
sessions() {
	grep -c 'session client=' "$1" || true
}

@test "stp-connect --config socks5h://proxy: routes to direct and via a named proxy from CONFIG" {
	start_echo
	start_stp_serve                           # the proxy the route names
	write_cfg "$T/cfg.json" "$STP_PORT_1"
	start_stp_serve --client-config "$T/cfg.json"  # hands the configuration out
	echo direct >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --config "socks5h://127.0.0.1:$STP_PORT_2" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	assert_equal "$(sessions "$STP_LOG_1")" 0
	echo via >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --config "socks5h://127.0.0.1:$STP_PORT_2" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG_1" "cmd=connect target=localhost:$ECHO_PORT .*result=\"ok\"" >/dev/null
	# the CONFIG session itself is logged by the proxy that answered it
	wait_for_line "$STP_LOG_2" 'cmd=config .*result="ok"' >/dev/null
}

@test "FEATURES lists config only with --client-config; CONFIG without it is refused (X'C3', exit 12)" {
	write_cfg "$T/cfg.json" 1
	start_stp_serve --client-config "$T/cfg.json"
	start_stp_serve
	run -0 --separate-stderr bounded stp-probe --json -w 3 -n 1 "127.0.0.1:$STP_PORT_1"
	run -0 jq -r '.features | index("config") != null' <<<"$output"
	assert_equal "$output" true
	run -0 --separate-stderr bounded stp-probe --json -w 3 -n 1 "127.0.0.1:$STP_PORT_2"
	run -0 jq -r '.features | index("config") != null' <<<"$output"
	assert_equal "$output" false
	run -12 --separate-stderr bounded stp-connect --config "socks5h://127.0.0.1:$STP_PORT_2" -z localhost 1
	assert_equal "$stderr" "stp-connect: --config: proxy 127.0.0.1:$STP_PORT_2 refused CONFIG 0.0.0.0:0: feature disabled by policy (reply X'C3')"
}

@test "stp-serve --client-config: a bad document is a usage error with line and column" {
	printf '{"routes": [\n  {"match": "*", "via": "direct"},\n' >"$T/bad.json"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --client-config "$T/bad.json"
	assert_match "$stderr" "^stp-serve: --client-config $T/bad.json: line 3 column 0: .*try 'stp-serve --help'\$"
	printf '{"routes": [{"match": "*", "via": ["nobody"]}]}' >"$T/bad2.json"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --client-config "$T/bad2.json"
	assert_match "$stderr" "routes\[0\]\.via\[0\]: unknown proxy 'nobody'"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --client-config "$T/missing.json"
	assert_match "$stderr" "^stp-serve: --client-config: $T/missing.json: No such file or directory"
}

@test "--config FILE and STP_CONFIG: the route decides; -x wins over the configuration" {
	start_echo
	start_stp_serve
	write_cfg "$T/cfg.json" "$STP_PORT"
	echo one >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --config "$T/cfg.json" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG" "target=localhost:$ECHO_PORT" >/dev/null
	run -0 --separate-stderr env STP_CONFIG="$T/cfg.json" stp-connect -z 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sessions "$STP_LOG")" 1
	# -x wins: the configuration's proxy is dead, -x is not
	local dead
	dead=$(closed_port)
	write_cfg "$T/dead.json" "$dead"
	run -0 --separate-stderr stp-connect --config "$T/dead.json" -x "127.0.0.1:$STP_PORT" -z localhost "$ECHO_PORT"
	run -3 --separate-stderr stp-connect --config "$T/dead.json" -z localhost "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: cannot reach proxy 127.0.0.1:$dead: Connection refused"
	run -2 --separate-stderr stp-connect --config "$T/nothing.json" -z localhost "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: --config: $T/nothing.json: No such file or directory; try 'stp-connect --help'"
	echo '{"routes": 5}' >"$T/bad.json"
	run -2 --separate-stderr env STP_CONFIG="$T/bad.json" stp-connect -z localhost "$ECHO_PORT"
	assert_equal "$stderr" "stp-connect: STP_CONFIG: $T/bad.json: \"routes\" must be a list; try 'stp-connect --help'"
}

@test "--config http://...: fetched from the test's HTTP server" {
	start_echo
	start_stp_serve
	start_http
	write_cfg "$T/www/cfg.json" "$STP_PORT"
	echo fetched >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --config "http://127.0.0.1:$HTTP_PORT/cfg.json" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	wait_for_line "$STP_LOG" "target=localhost:$ECHO_PORT" >/dev/null
	# "*.direct.test" is direct: the client itself fails to resolve the name
	run -14 --separate-stderr stp-connect --config "http://127.0.0.1:$HTTP_PORT/cfg.json" -z a.direct.test 1
	assert_match "$stderr" "^stp-connect: cannot resolve a\.direct\.test: "
	run -1 --separate-stderr stp-connect --config "http://127.0.0.1:$HTTP_PORT/none.json" -z localhost "$ECHO_PORT"
	assert_match "$stderr" "^stp-connect: --config: http://127\.0\.0\.1:$HTTP_PORT/none\.json: .*404"
}

@test "programs without a target host take the \"*\" route: stp-bind through the configured proxy" {
	start_stp_serve
	cat >"$T/cfg.json" <<-EOF
		{"proxies": {"p": "socks5://127.0.0.1:$STP_PORT"},
		 "routes": [{"match": "*", "via": ["p"]}]}
	EOF
	start_bg bind stp-bind --config "$T/cfg.json"
	wait_for_line "$T/bind.err" '^bound 127\.0\.0\.1 [0-9]+$' >/dev/null
	echo '{"routes": [{"match": "*", "via": "direct"}]}' >"$T/direct.json"
	run -2 --separate-stderr stp-bind --config "$T/direct.json"
	assert_match "$stderr" "the route for every target is \"direct\", but this program needs a proxy"
}

@test "a large configuration (many pieces) comes whole from CONFIG, over plain and TLS listeners" {
	start_echo
	local d=$T/pki r i
	make_pki "$d"
	# 250 routes that do not fit, then the one that does: about 14 KB
	r=
	for ((i = 0; i < 250; i++)); do
		r+="{\"match\": \"*.n$i.unused.example\", \"via\": \"direct\"}, "
	done
	printf '{"routes": [%s{"match": "127.0.0.1", "via": "direct"}]}' "$r" >"$T/big.json"
	[ "$(stat -c %s "$T/big.json")" -gt 10000 ]
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$d/srv.pem" --key "$d/srv.key" --client-config "$T/big.json"
	local tls_port plain_port
	tls_port=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$' | cut -d' ' -f3)
	plain_port=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$T/tlsserve.err" | cut -d' ' -f3)
	run -0 --separate-stderr bounded stp-connect --config "socks5h://127.0.0.1:$plain_port" -z 127.0.0.1 "$ECHO_PORT"
	run -0 --separate-stderr bounded stp-connect --cacert "$d/ca.pem" --config "socks5hs://127.0.0.1:$tls_port" \
		-z 127.0.0.1 "$ECHO_PORT"
	run -0 grep -c 'cmd=config .*result="ok"' "$T/tlsserve.err"
	assert_equal "$output" 2
}
