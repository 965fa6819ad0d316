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

@test "stp-udp with a protected connection: exit 7, not datagrams sent in the clear" {
	krb5_kinit alice alice-pw
	start_gss --min-level 1
	run -7 --separate-stderr bounded stp-udp --gssapi -x "localhost:$GSS_PORT" 127.0.0.1 9 </dev/null
	assert_match "$stderr" "the proxy chose GSS-API protection integrity, which UDP through the proxy does not carry yet"
}

@test "stp-probe --gssapi: methods say GSS-API yes, auth names the principal and the level; --json too" {
	krb5_kinit alice alice-pw
	start_gss --min-level 1
	run --separate-stderr probe -w 5 -n 1 --gssapi "localhost:$GSS_PORT"
	assert_check ok methods "no-auth no, user/pass no, GSS-API yes; \{00\}->FF \{02\}->FF \{00,02\}->FF \{01\}->01"
	assert_check ok auth "GSS-API: principal alice@STP\.TEST accepted, protection integrity, in [0-9.]+ ms"
	# CONNECT to the probe's own target through the wrapped session
	assert_check ok connect "data passes both ways"
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
