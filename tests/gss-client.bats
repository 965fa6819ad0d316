#!/usr/bin/env bats
# GSS-API (RFC 1961) on the client side: stp's clients with --gssapi
# against an independent SOCKS5 server written from the RFC with Python's
# gssapi package (tests/lib/gssserver.py), in a throw-away MIT Kerberos
# realm (tests/lib/krb5realm.bash): bytes through, the principal the
# server saw, the protection levels, and each failure's message and exit
# code (SPEC 2.3).

bats_require_minimum_version 1.5.0
load lib/common
load lib/krb5realm
load lib/probe
load lib/udp
load lib/resolve

setup() {
	stp_setup
	krb5_realm_start
	export KRB5_KTNAME="FILE:$KRB5_DIR/proxy.keytab"
	krb5_add_service "$KRB5_DIR/proxy.keytab" rcmd/localhost rcmd/127.0.0.1
	krb5_add_user alice alice-pw
	GSSLOG="$T/gss.log"
}
teardown() { stp_teardown; }

# start_gss [ARGS...]: gssserver.py ARGS; exports GSS_PORT.
start_gss() {
	start_bg gssserver "$PY" "$TESTLIB/gssserver.py" --log "$GSSLOG" "$@"
	GSS_PORT=$(_listen_port gssserver) || return 1
}

@test "stp-connect --gssapi: bytes through the Python RFC 1961 server, which saw alice's principal at level none" {
	krb5_kinit alice alice-pw
	start_echo
	start_gss
	printf 'hello through kerberos\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --gssapi -x "localhost:$GSS_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	run -0 cat "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 0 127.0.0.1:$ECHO_PORT"
}

@test "-v shows the GSS-API steps: the tokens, the principal, the target name and the level" {
	krb5_kinit alice alice-pw
	start_echo
	start_gss
	printf 'x\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -v --gssapi -x "socks5h://127.0.0.1:$GSS_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_match "$stderr" "offering X'01' \(GSS-API\)"
	assert_match "$stderr" "GSS-API token of [0-9]+ bytes for rcmd@127\.0\.0\.1"
	assert_match "$stderr" "GSS-API: alice@STP\.TEST authenticated to rcmd@127\.0\.0\.1, protection none"
}

@test "no ticket: 'no Kerberos ticket: run kinit' with Kerberos's reason, exit 4" {
	start_gss
	run -4 --separate-stderr stp-connect --gssapi -x "localhost:$GSS_PORT" 127.0.0.1 9
	assert_match "$stderr" "^stp-connect: proxy localhost:$GSS_PORT: GSS-API: no Kerberos ticket: run kinit \(.+\)$"
}

@test "a wrong service name: the KDC knows no such service, exit 4, naming --gssapi-service" {
	krb5_kinit alice alice-pw
	start_gss
	run -4 --separate-stderr stp-connect --gssapi --gssapi-service nosuch -x "localhost:$GSS_PORT" 127.0.0.1 9
	assert_match "$stderr" "^stp-connect: proxy localhost:$GSS_PORT: GSS-API: no Kerberos service nosuch@localhost \(.+\); see --gssapi-service$"
}

@test "a whole principal as --gssapi-service (with '/') is taken as written" {
	krb5_kinit alice alice-pw
	start_echo
	start_gss
	printf 'y\n' >"$T/in"
	# the proxy written as 127.0.0.1, the principal named for localhost
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -v --gssapi --gssapi-service rcmd/localhost -x "127.0.0.1:$GSS_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	assert_match "$stderr" "authenticated to rcmd/localhost,"
}

@test "the server aborts with X'01' X'FF': 'refused the GSS-API authentication', exit 4" {
	krb5_kinit alice alice-pw
	start_gss --abort
	run -4 --separate-stderr stp-connect --gssapi -x "localhost:$GSS_PORT" 127.0.0.1 9
	assert_equal "$stderr" "stp-connect: proxy localhost:$GSS_PORT refused the GSS-API authentication of rcmd@localhost (X'FF')"
}

@test "an expired ticket: 'Kerberos ticket expired: run kinit', exit 4" {
	# the KDC takes a ticket up to clockskew (5 min) past its end: 1 s
	# here, and the KDC restarted to read it
	sed -i 's/^\[libdefaults\]$/[libdefaults]\n\tclockskew = 1/' "$KRB5_CONFIG"
	stop_bg krb5kdc
	start_bg krb5kdc krb5kdc -n -r "$KRB5_REALM"
	wait_for_port "$KDC_PORT" 10
	krb5_kinit alice alice-pw 2s
	local past=$(($(date +%s) + 5))
	start_gss
	# the ticket's end and the skew pass; a test of expiry cannot do
	# without waiting
	wait_until "the ticket expired" bash -c "! klist -s && [ \$(date +%s) -ge $past ]"
	run -4 --separate-stderr stp-connect --gssapi -x "localhost:$GSS_PORT" 127.0.0.1 9
	assert_match "$stderr" "^stp-connect: proxy localhost:$GSS_PORT: GSS-API: Kerberos ticket expired: run kinit \(.+\)$"
}

@test "a proxy that does not offer GSS-API: exit 4 and says so" {
	krb5_kinit alice alice-pw
	start_stp_serve
	run -4 --separate-stderr stp-connect --gssapi -x "localhost:$STP_PORT" 127.0.0.1 9
	assert_equal "$stderr" "stp-connect: proxy localhost:$STP_PORT does not offer GSS-API (it accepts none of: GSS-API)"
}

@test "--gssapi-service and --gssapi-protection need --gssapi; a bad level is a usage error" {
	run -2 --separate-stderr stp-connect --gssapi-service x -x localhost:1 h 1
	assert_match "$stderr" "--gssapi-service needs --gssapi"
	run -2 --separate-stderr stp-connect --gssapi --gssapi-protection strong -x localhost:1 h 1
	assert_match "$stderr" "--gssapi-protection: not none, integrity or confidentiality: 'strong'"
}

# a file of a few MB through the echo peer at LEVEL; both ways compared
protected_echo() {
	local level=$1
	shift
	krb5_kinit alice alice-pw
	start_echo
	start_gss "$@"
	head -c 3145728 /dev/urandom >"$T/big"
	run -0 --separate-stderr io "$T/big" "$T/back" stp-connect --gssapi --gssapi-protection "$level" -x "localhost:$GSS_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/back")" "$(sha "$T/big")"
}

@test "--gssapi-protection integrity: 3 MiB through wrapped messages both ways, sha256 equal" {
	protected_echo integrity
	run -0 cat "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 1 127.0.0.1:$ECHO_PORT"
}

@test "--gssapi-protection confidentiality: 3 MiB encrypted both ways, sha256 equal" {
	protected_echo confidentiality
	run -0 cat "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 2 127.0.0.1:$ECHO_PORT"
}

@test "none asked, the server grants confidentiality: taken, and the stream is wrapped" {
	# the server would fail the session if the request came unwrapped
	protected_echo none --min-level 2
	run -0 cat "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 2 127.0.0.1:$ECHO_PORT"
}

@test "the server grants less than asked: refused with exit 4, the levels named" {
	krb5_kinit alice alice-pw
	start_gss --grant 0
	run -4 --separate-stderr stp-connect --gssapi --gssapi-protection integrity -x "localhost:$GSS_PORT" 127.0.0.1 9
	assert_equal "$stderr" "stp-connect: proxy localhost:$GSS_PORT granted GSS-API protection none, less than the integrity asked for"
}

@test "stp-probe --gssapi: methods say GSS-API yes, auth names the principal and the level, UDP round trip wrapped; --json too" {
	krb5_kinit alice alice-pw
	start_gss --min-level 1
	run --separate-stderr probe -w 5 -n 1 --bandwidth 100000 --gssapi "localhost:$GSS_PORT"
	assert_check ok methods "no-auth no, user/pass no, GSS-API yes; \{00\}->FF \{02\}->FF \{00,02\}->FF \{01\}->01"
	assert_check ok auth "GSS-API: principal alice@STP\.TEST accepted, protection integrity, in [0-9.]+ ms"
	# CONNECT to the probe's own target through the wrapped session
	assert_check ok connect "data passes both ways"
	# UDP ASSOCIATE's echo round trip with wrapped datagrams (the relay
	# drops plain ones at level 1)
	# the bandwidth pump reads the socket itself: not under protection
	assert_check -- bandwidth "not measured under GSS-API protection"
	assert_check ok udp "relay 127\.0\.0\.1:[0-9]+; round trip to 127\.0\.0\.1:[0-9]+ [0-9.]+ ms; datagrams of [0-9]+ bytes pass"
	rc=$status
	probe_json "$rc" -w 5 -n 1 --gssapi "localhost:$GSS_PORT"
	run -0 jq -r '.checks[] | select(.name == "auth") | "\(.principal) \(.protection) \(.method)"' "$T/probe.json"
	assert_equal "$output" "alice@STP.TEST integrity gssapi"
	run -0 jq -r '.methods["01"]' "$T/probe.json"
	assert_equal "$output" "01"
}

@test "stp-probe without --gssapi against a GSS-API-only server: methods FAIL, exit 4, with the hint" {
	start_gss
	run -4 --separate-stderr probe -w 5 "localhost:$GSS_PORT"
	assert_check FAIL methods "no method stp can use \(only GSS-API: give --gssapi\)"
}

@test "stp-probe --gssapi without a ticket: auth FAIL with the kinit hint, exit 4" {
	start_gss
	run -4 --separate-stderr probe -w 5 --gssapi "localhost:$GSS_PORT"
	assert_check FAIL auth "GSS-API: proxy localhost:$GSS_PORT: GSS-API: no Kerberos ticket: run kinit"
}

# --- protected datagrams, DNS, TLS (RFC 1961 section 5 beyond a stream) ---

# udp_round LEVEL [SERVER ARGS...]: three datagrams through the Python
# server's relay to a UDP echo at LEVEL; what came back in $T/out, -v in
# $stderr.
udp_round() {
	local level=$1
	shift
	krb5_kinit alice alice-pw
	start_udp_echo
	start_gss "$@"
	printf 'one\ntwo\nthree\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -v --wait 2 --gssapi \
		--gssapi-protection "$level" -x "localhost:$GSS_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
}

@test "stp-udp --gssapi-protection integrity: datagrams wrapped both ways round trip through the Python relay" {
	udp_round integrity
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
	assert_match "$stderr" "UDP datagrams to and from the relay of proxy localhost:$GSS_PORT: GSS-API protection integrity"
	# the relay unwrapped each one (a plain datagram would be dropped)
	run -0 grep -c '^udp in ' "$GSSLOG"
	assert_equal "$output" 3
	run -1 grep -q 'dropped' "$GSSLOG"
	run -0 head -1 "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 1 udp"
}

@test "stp-udp --gssapi-protection confidentiality: datagrams encrypted both ways round trip" {
	udp_round confidentiality
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
	run -0 head -1 "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 2 udp"
	# the relay refuses a datagram that came unencrypted at level 2
	run -0 grep -c '^udp in ' "$GSSLOG"
	assert_equal "$output" 3
}

@test "a tampered protected datagram is dropped with a -v line; the ones after it still come" {
	udp_round integrity --tamper-udp 2
	assert_equal "$(cat "$T/out")" "$(printf 'one\nthree')"
	assert_match "$stderr" "a datagram of [0-9]+ bytes from the UDP relay of proxy localhost:$GSS_PORT dropped: GSS-API: bad MIC"
	run -0 grep -c '^udp tampered 2$' "$GSSLOG"
}

@test "none asked, the relay grants integrity: the datagrams are wrapped all the same" {
	udp_round none --min-level 1
	assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
	run -0 head -1 "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 1 udp"
}

@test "stp-mcast --send at confidentiality: each datagram to the group wrapped (the relay unwraps them all)" {
	krb5_kinit alice alice-pw
	start_gss
	printf 'm1\nm22\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-mcast --send --gssapi --gssapi-protection confidentiality -x "localhost:$GSS_PORT" 239.255.7.7 5007
	# the empty datagram that tells the relay where we are, then the two
	wait_until "the relay took 3 datagrams" lines_at_least "$GSSLOG" '^mcast in ' 3
	run -0 grep '^mcast ' "$GSSLOG"
	assert_equal "$output" "$(printf 'mcast in 0\nmcast in 2\nmcast in 3')"
	run -0 head -1 "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 2 mcast"
}

@test "stp-udp --tcp at integrity: UDP-over-TCP frames travel inside the protected stream" {
	krb5_kinit alice alice-pw
	start_udp_echo
	start_gss
	printf 'alpha\nbeta\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp --wait 2 --gssapi \
		--gssapi-protection integrity -x "localhost:$GSS_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
	assert_equal "$(cat "$T/out")" "$(printf 'alpha\nbeta')"
	run -0 grep -c '^udp-tcp in ' "$GSSLOG"
	assert_equal "$output" 2
	run -0 head -1 "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 1 udp-tcp"
}

@test "stp-resolve at confidentiality: RESOLVE and the DNS channel (-t) through the protected session" {
	krb5_kinit alice alice-pw
	start_resolve_dns
	start_gss --dns "$DNS_PORT"
	run -0 --separate-stderr bounded stp-resolve --gssapi --gssapi-protection confidentiality -x "localhost:$GSS_PORT" localhost
	assert_equal "$output" "localhost 127.0.0.1"
	run -0 --separate-stderr bounded stp-resolve --gssapi --gssapi-protection confidentiality -x "localhost:$GSS_PORT" -t TXT txt.test
	assert_match "$output" 'txt\.test\.? [0-9]+ IN TXT "hello world" "second string"'
	run -0 grep -c "^alice@STP.TEST 2 dns$" "$GSSLOG"
}

@test "stp-resolve --listen at integrity: the stub's DNS channel wraps its queries; dig gets answers" {
	krb5_kinit alice alice-pw
	start_resolve_dns
	start_gss --dns "$DNS_PORT"
	start_bg stub stp-resolve --gssapi --gssapi-protection integrity -x "localhost:$GSS_PORT" --listen 127.0.0.1:0
	local port
	port=$(_listen_port stub) || return 1
	run -0 bounded dig +short +tries=1 +time=5 -p "$port" @127.0.0.1 web.test A
	assert_equal "$output" "127.0.0.1"
	run -0 bounded dig +short +tcp +tries=1 +time=5 -p "$port" @127.0.0.1 v4.test A
	assert_equal "$output" "127.0.0.2"
	run -0 grep -c "^alice@STP.TEST 1 dns$" "$GSSLOG"
	run -0 grep -c "^dns " "$GSSLOG"
	assert_equal "$output" 2
}

@test "a TLS hop (socks5hs) with --gssapi-protection confidentiality: GSS-API inside TLS, 1 MiB both ways" {
	krb5_kinit alice alice-pw
	make_pki "$T/pki"
	start_echo
	start_gss --tls "$T/pki/srv.pem" "$T/pki/srv.key"
	head -c 1048576 /dev/urandom >"$T/big"
	run -0 --separate-stderr io "$T/big" "$T/back" stp-connect --cacert "$T/pki/ca.pem" --gssapi \
		--gssapi-protection confidentiality -x "socks5hs://localhost:$GSS_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/back")" "$(sha "$T/big")"
	run -0 cat "$GSSLOG"
	assert_equal "$output" "alice@STP.TEST 2 127.0.0.1:$ECHO_PORT"
}

@test "stp-connect --mux-master at integrity: MUX frames wrapped; two --mux streams carry bytes both ways" {
	krb5_kinit alice alice-pw
	start_echo
	start_gss
	start_bg master stp-connect --mux-master "$T/m.sock" --gssapi --gssapi-protection integrity -x "localhost:$GSS_PORT"
	wait_for_line "$T/master.err" "^listening $T/m\.sock\$" 10 >/dev/null
	head -c 200000 /dev/urandom >"$T/a"
	printf 'second stream\n' >"$T/b"
	run -0 --separate-stderr io "$T/a" "$T/a.back" stp-connect --mux "$T/m.sock" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/a.back")" "$(sha "$T/a")"
	run -0 --separate-stderr io "$T/b" "$T/b.back" stp-connect --mux "$T/m.sock" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/b.back" "$T/b"
	run -0 grep -c "^alice@STP.TEST 1 mux$" "$GSSLOG"
	assert_equal "$output" 1
	run -0 grep -c "^mux open 127.0.0.1:$ECHO_PORT$" "$GSSLOG"
	assert_equal "$output" 2
}
