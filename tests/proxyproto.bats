#!/usr/bin/env bats
# stp-serve --proxy-protocol: behind HAProxy in TCP mode (tools/haproxy-stp.cfg,
# send-proxy-v2 and send-proxy), the client HAProxy reports is the client
# for the log, the rules, the per-client limit and the UDP association;
# a listed address without a valid header is closed and logged; a header
# from anyone else is not trusted. Distinct clients come from distinct
# loopback sources (curl --interface, lib/ppclient.py).

bats_require_minimum_version 1.5.0
load lib/common

PPC="$BATS_TEST_DIRNAME/lib/ppclient.py"

# ha_listening PORT: something listens on 127.0.0.1:PORT (asked of the
# kernel: a test connection would reach stp-serve as a session).
ha_listening() {
	ss -Hltn "sport = :$1" | grep -q .
}

# start_haproxy SEND SERVERPORT: HAProxy running tools/haproxy-stp.cfg with
# its ports changed, in front of 127.0.0.1:SERVERPORT, SEND being
# send-proxy-v2 or send-proxy. Exports HA_PORT.
start_haproxy() {
	local send=$1 sport=$2 try port conf
	for try in 1 2 3; do
		port=$(free_port)
		conf="$T/haproxy.$try.cfg"
		# one instance here: the second server is the same one, and
		# the per-instance frontends (multiinst.bats) take free ports
		sed -e "s/127\.0\.0\.1:1080/127.0.0.1:$port/" \
			-e "s/127\.0\.0\.1:108[12] send-proxy-v2/127.0.0.1:$sport $send/" \
			-e "s/127\.0\.0\.1:1091/127.0.0.1:$(free_port)/" \
			-e "s/127\.0\.0\.1:1092/127.0.0.1:$(free_port)/" \
			"$STP_TOP/tools/haproxy-stp.cfg" >"$conf"
		grep -q "server s1 127.0.0.1:$sport $send\$" "$conf" || {
			echo "start_haproxy: tools/haproxy-stp.cfg has no server line to change" >&2
			return 1
		}
		start_bg "haproxy.$try" haproxy -db -f "$conf"
		if WAIT_S=5 wait_until "haproxy on $port" ha_listening "$port"; then
			HA_PORT=$port
			export HA_PORT
			return 0
		fi
		cat "$T/haproxy.$try.err" >&2
	done
	return 1
}

# fetch SRC: curl from SRC through HAProxy to the test HTTP server.
fetch() {
	curl -sS --max-time $((10 * STP_SLOW)) --interface "$1" \
		--socks5-hostname "127.0.0.1:$HA_PORT" -o "$T/got.$1" "$HTTP_URL"
}

@test "HAProxy send-proxy-v2: curl's bytes through, the log names curl's address, not HAProxy's" {
	start_http
	start_stp_serve --proxy-protocol 127.0.0.1
	start_haproxy send-proxy-v2 "$STP_PORT"
	run -0 fetch 127.0.0.2
	assert_files_equal "$T/got.127.0.0.2" "$HTTP_FILE"
	run -0 wait_for_line "$STP_LOG" \
		'session client=127\.0\.0\.2:[0-9]+ user=- cmd=connect target=127\.0\.0\.1:[0-9]+ .*result="ok"'
	run -1 grep 'client=127\.0\.0\.1:' "$STP_LOG"
}

@test "HAProxy send-proxy (v1): the same" {
	start_http
	start_stp_serve --proxy-protocol 127.0.0.0/24
	start_haproxy send-proxy "$STP_PORT"
	run -0 fetch 127.0.0.3
	assert_files_equal "$T/got.127.0.0.3" "$HTTP_FILE"
	run -0 wait_for_line "$STP_LOG" 'session client=127\.0\.0\.3:[0-9]+ .*cmd=connect .*result="ok"'
	run -1 grep 'client=127\.0\.0\.1:' "$STP_LOG"
}

@test "through HAProxy a rule that denies 127.0.0.3 and allows 127.0.0.2 holds" {
	start_http
	start_stp_serve --proxy-protocol 127.0.0.1 \
		--rules '[{"action":"deny","from":"127.0.0.3"},{"action":"allow","from":"127.0.0.2"}]'
	start_haproxy send-proxy-v2 "$STP_PORT"
	run -0 fetch 127.0.0.2
	assert_files_equal "$T/got.127.0.0.2" "$HTTP_FILE"
	run -97 fetch 127.0.0.3
	run -0 wait_for_line "$STP_LOG" 'rule 1 denies connect from 127\.0\.0\.3 user - to 127\.0\.0\.1:'
	run -0 wait_for_line "$STP_LOG" 'session client=127\.0\.0\.3:[0-9]+ .*result="not allowed by ruleset"'
}

@test "through HAProxy --max-sessions-per-client counts each client, not the balancer" {
	start_echo
	start_stp_serve --proxy-protocol 127.0.0.1 --max-sessions-per-client 1
	start_haproxy send-proxy-v2 "$STP_PORT"
	start_bg held "$PY" "$PPC" connect 127.0.0.2 "$HA_PORT" none "$ECHO_PORT" held --hold 60
	wait_until "the held session is up" lines_at_least "$T/held.out" '^held$' 1
	run -0 "$PY" "$PPC" connect 127.0.0.3 "$HA_PORT" none "$ECHO_PORT" other
	assert_equal "$output" $'reply 0\nother'
	run -0 "$PY" "$PPC" connect 127.0.0.2 "$HA_PORT" none "$ECHO_PORT" second
	assert_equal "$output" closed
	run -0 wait_for_line "$STP_LOG" \
		'client 127\.0\.0\.2 has 1 sessions \(max-sessions-per-client\): new session refused'
}

@test "UDP ASSOCIATE through HAProxy: the relay takes the reported client's datagrams, not a stranger's" {
	start_bg udpecho "$PY" "$TESTLIB/udppeers.py" echo
	local uport
	uport=$(_listen_port udpecho)
	start_stp_serve --proxy-protocol 127.0.0.1
	start_haproxy send-proxy-v2 "$STP_PORT"
	run -0 "$PY" "$PPC" udp 127.0.0.2 "$HA_PORT" "$uport"
	assert_equal "$output" $'echo ping\nstranger dropped'
}

@test "--tls-listen: the PROXY header comes before TLS, as HAProxy relays it" {
	make_pki "$T/pki"
	start_echo
	# a client named by a header is not on loopback: a rule lets it reach the echo
	start_stp_serve --tls-listen 127.0.0.1:0 --cert "$T/pki/srv.pem" --key "$T/pki/srv.key" \
		--proxy-protocol 127.0.0.1 --rules '[{"action":"allow","to":"127.0.0.1"}]' 
	local line tport
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ tls$')
	tport=${line#listening 127.0.0.1 }
	tport=${tport% tls}
	start_haproxy send-proxy-v2 "$tport"
	run -0 "$PY" "$PPC" connect 127.0.0.2 "$HA_PORT" none "$ECHO_PORT" secret --tls "$T/pki/ca.pem"
	assert_equal "$output" $'reply 0\nsecret'
	run -0 wait_for_line "$STP_LOG" 'session client=127\.0\.0\.2:[0-9]+ .*cmd=connect .*result="ok"'
	# the header and the ClientHello as one burst, from a client of its own
	run -0 "$PY" "$PPC" connect 127.0.0.1 "$tport" v2:192.0.2.9:999 "$ECHO_PORT" tls2 \
		--tls "$T/pki/ca.pem"
	assert_equal "$output" $'reply 0\ntls2'
	run -0 wait_for_line "$STP_LOG" 'session client=192\.0\.2\.9:999 .*cmd=connect .*result="ok"'
}

@test "header and SOCKS in one segment or a byte at a time: v1, v2, TCP6, v4-mapped, UNKNOWN, LOCAL" {
	start_echo
	# clients named by a header are not on loopback: a rule lets them reach the echo
	start_stp_serve --proxy-protocol 127.0.0.1 --rules '[{"action":"allow","to":"127.0.0.1"}]'
	local spec split want
	for split in "" --split; do
		for spec in v1:192.0.2.1:1111 v2:192.0.2.2:2222 v1-6:2001:db8::3:3333 \
			v1-6:::ffff:192.0.2.4:4444 unknown v2local; do
			run -0 "$PY" "$PPC" connect 127.0.0.1 "$STP_PORT" "$spec" "$ECHO_PORT" "hi-$spec" $split
			assert_equal "$output" $'reply 0\nhi-'"$spec"
		done
	done
	# a v4-mapped client is an IPv4 one
	for want in '192\.0\.2\.1:1111' '192\.0\.2\.2:2222' '\[2001:db8::3\]:3333' \
		'192\.0\.2\.4:4444' '127\.0\.0\.1:[0-9]+'; do
		WAIT_S=5 wait_until "two sessions of $want" lines_at_least "$STP_LOG" \
			"session client=$want .*cmd=connect .*result=\"ok\"" 2
	done
	run -0 grep -cE 'session client=127\.0\.0\.1:[0-9]+ .*result="ok"' "$STP_LOG"
	assert_equal "$output" 4  # UNKNOWN and LOCAL keep the connection's address
}

@test "a listed address without a valid PROXY header is closed at once, and the log says why" {
	start_echo
	start_stp_serve --proxy-protocol 127.0.0.0/8 --handshake-timeout 60
	run -0 "$PY" "$PPC" connect 127.0.0.2 "$STP_PORT" none "$ECHO_PORT" hello
	assert_equal "$output" closed
	run -0 wait_for_line "$STP_LOG" \
		'session client=127\.0\.0\.2:[0-9]+ user=- cmd=- target=- .*result="bad PROXY header: not a PROXY protocol header"'
	run -97 curl -sS --max-time $((10 * STP_SLOW)) --socks5 "127.0.0.1:$STP_PORT" "http://127.0.0.1:$ECHO_PORT/"
	run -0 "$PY" "$PPC" connect 127.0.0.4 "$STP_PORT" junk "$ECHO_PORT" hello
	assert_equal "$output" closed
	run -0 wait_for_line "$STP_LOG" \
		'session client=127\.0\.0\.4:[0-9]+ .*result="bad PROXY header: v1 line has too few fields"'
}

@test "a listed address that stalls inside the header is closed by the handshake timeout" {
	start_stp_serve --proxy-protocol 127.0.0.1 --handshake-timeout 1
	exec 5<>"/dev/tcp/127.0.0.1/$STP_PORT"
	printf 'PROXY TCP4 192.0.2' >&5
	run -0 wait_for_line "$STP_LOG" 'session client=127\.0\.0\.1:[0-9]+ .*result="handshake timeout"'
	run -0 timeout 5 cat <&5  # closed by the server: EOF
	exec 5<&-
}

@test "a PROXY header from an address not listed is not trusted: it is not SOCKS" {
	start_echo
	start_stp_serve --proxy-protocol 127.0.0.2 \
		--rules '[{"action":"allow","from":"10.9.8.7","to":"127.0.0.1"}]'
	run -0 "$PY" "$PPC" connect 127.0.0.3 "$STP_PORT" v1:10.9.8.7:1111 "$ECHO_PORT" forged
	assert_equal "$output" closed
	run -0 "$PY" "$PPC" connect 127.0.0.3 "$STP_PORT" v2:10.9.8.7:2222 "$ECHO_PORT" forged
	assert_equal "$output" closed
	WAIT_S=5 wait_until "two refusals" lines_at_least "$STP_LOG" \
		'session client=127\.0\.0\.3:[0-9]+ .*result="not SOCKS"' 2
	run -1 grep 'client=10\.9\.8\.7' "$STP_LOG"
	# from the listed balancer the same header is believed: the rule allows it
	run -0 "$PY" "$PPC" connect 127.0.0.2 "$STP_PORT" v1:10.9.8.7:1111 "$ECHO_PORT" trusted
	assert_equal "$output" $'reply 0\ntrusted'
	run -0 wait_for_line "$STP_LOG" 'session client=10\.9\.8\.7:1111 .*result="ok"'
}

@test "the config key proxy-protocol, checked values, and SIGHUP changing the list" {
	start_echo
	run -2 --separate-stderr stp-serve --proxy-protocol 10.0.0.0/33
	assert_equal "$stderr" "stp-serve: --proxy-protocol: '10.0.0.0/33' is not an address or CIDR range; try 'stp-serve --help'"
	echo '{"proxy-protocol": ["127.0.0.2", "nonsense"]}' >"$T/bad.json"
	run -2 --separate-stderr stp-serve -c "$T/bad.json"
	assert_match "$stderr" "bad\.json:1:2: proxy-protocol\[1\]: 'nonsense' is not an address or CIDR range; try 'stp-serve --help'"
	echo '{"proxy-protocol": "127.0.0.2", "rules": [{"action":"allow","to":"127.0.0.1"}]}' >"$T/pp.json"
	start_stp_serve -c "$T/pp.json"
	run -0 "$PY" "$PPC" connect 127.0.0.3 "$STP_PORT" v1:192.0.2.5:5 "$ECHO_PORT" x
	assert_equal "$output" closed
	echo '{"proxy-protocol": ["127.0.0.2", "127.0.0.3"], "rules": [{"action":"allow","to":"127.0.0.1"}]}' >"$T/pp.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" 'SIGHUP: reloaded'
	run -0 "$PY" "$PPC" connect 127.0.0.3 "$STP_PORT" v1:192.0.2.5:5 "$ECHO_PORT" x
	assert_equal "$output" $'reply 0\nx'
	run -0 wait_for_line "$STP_LOG" 'session client=192\.0\.2\.5:5 .*result="ok"'
}
