#!/usr/bin/env bats
# stp-serve: GSS-API authentication (RFC 1961, method X'01') with MIT
# Kerberos. Real peers: a throw-away realm (Debian krb5-kdc, lib/krb5realm.bash),
# an RFC 1961 client written from the RFC with Python's gssapi package
# (lib/gssclient.py, also at protection levels 1 and 2: RFC 1961 §5's
# encapsulated messages), curl --socks5-gssapi (Debian 12's 7.88, as far as it
# goes), curl --socks5 with a password, the echo and HTTP peers of peers.py,
# stp's own clients at integrity/confidentiality (stp-udp --tcp, stp-resolve
# with dnsmasq behind the server and dig in front of --listen, stp-connect
# --mux-master).

bats_require_minimum_version 1.5.0
load lib/common
load lib/krb5realm

GSSC="$BATS_TEST_DIRNAME/lib/gssclient.py"

setup() {
	stp_setup
	krb5_proxy_setup bob
}

teardown() { stp_teardown; }

# gssc [OPTIONS] TARGETPORT: the RFC 1961 client through stp-serve to
# 127.0.0.1:TARGETPORT, stdin from $T/in, stdout to $T/got; its steps on
# stderr ($stderr under run --separate-stderr).
gssc() {
	local a=("$@") port=${*: -1}
	unset 'a[${#a[@]}-1]'
	bounded "$PY" "$GSSC" "${a[@]}" "$STP_PORT" 127.0.0.1 "$port" <"$T/in" >"$T/got"
}

# a good session: bytes through to the echo peer and back
good_session() {
	head -c 100000 /dev/urandom >"$T/in"
	run -0 --separate-stderr gssc "$ECHO_PORT"
	assert_files_equal "$T/got" "$T/in"
}

@test "an RFC 1961 client authenticates with its ticket and CONNECTs: bytes both ways, the principal is the user" {
	start_echo
	start_http
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	head -c 300000 /dev/urandom >"$T/in"
	run -0 --separate-stderr gssc "$ECHO_PORT"
	assert_files_equal "$T/got" "$T/in"
	assert_match "$stderr" 'method 01'
	assert_match "$stderr" 'context established alice@STP.TEST'
	assert_match "$stderr" 'level asked 0 granted 0'
	assert_match "$stderr" 'reply 0'
	run -0 wait_for_line "$STP_LOG" "session client=127\.0\.0\.1:[0-9]+ user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=300000 down=300000 .*result=\"ok\""
	# an HTTP peer: a request and its answer, through the same way
	printf 'GET /hello.txt HTTP/1.0\r\nHost: x\r\n\r\n' >"$T/in"
	run -0 --separate-stderr gssc "$HTTP_PORT"
	run -0 grep -c 'hello from the test http server' "$T/got"
}

@test "the protection level: wrapped or in clear (NEC's form); the client's proposal is granted, and every later byte is encapsulated" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	echo 'level test' >"$T/in"
	n=0
	for lv in none integrity confidentiality; do
		run -0 --separate-stderr gssc --level "$lv" "$ECHO_PORT"
		assert_files_equal "$T/got" "$T/in"
		assert_match "$stderr" "level asked $n granted $n"
		run -0 --separate-stderr gssc --clear-level --level "$lv" "$ECHO_PORT"
		assert_files_equal "$T/got" "$T/in"
		assert_match "$stderr" "level asked $n granted $n"
		n=$((n + 1))
	done
	run -0 grep -c 'GSS-API: protection confidentiality asked (in clear), confidentiality granted' "$STP_LOG"
	run -0 grep -c 'GSS-API: protection integrity asked, integrity granted' "$STP_LOG"
	run -0 grep -c 'GSS-API: protection none asked, none granted' "$STP_LOG"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --gssapi-keytab "$KEYTAB" \
		--gssapi-protection secret
	assert_match "$stderr" 'expected none, integrity or confidentiality'
}

@test "curl --socks5-gssapi: Debian 12's curl establishes the context, then gives up where its bugs are" {
	# curl 7.88 cannot finish a SOCKS5 GSS-API session with any server:
	# (1) it forgets that it offered GSS-API when the server's method choice
	#     is not already there at its first read ("SOCKS5 GSSAPI per-message
	#     authentication is not supported"; fixed in curl 8.16), and
	# (2) after a successful negotiation it calls the request stage an
	#     "Undocumented SOCKS5 mode" (fixed in 8.17).
	# strace delays its reads so that (1) does not bite; then the context is
	# established (both sides say who alice is), protection none is agreed,
	# and (2) ends it. A curl with both fixes fetches here.
	command -v strace >/dev/null || skip "strace not installed"
	start_http
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	run --separate-stderr bounded strace -f -o /dev/null -e trace=recvfrom \
		-e inject=recvfrom:delay_enter=200000 \
		curl -sS -v --max-time $((20 * STP_SLOW)) --socks5-gssapi \
		--socks5-hostname "localhost:$STP_PORT" -o "$T/got" "$HTTP_URL"
	if [ "$status" -eq 0 ]; then
		# a fixed curl: the whole fetch
		assert_files_equal "$T/got" "$HTTP_FILE"
	else
		assert_equal "$status" 97
		assert_match "$stderr" 'SOCKS5 server authenticated user alice@STP.TEST with GSS-API'
		assert_match "$stderr" 'SOCKS5 access without GSS-API data protection granted'
		assert_match "$stderr" 'Undocumented SOCKS5 mode'
	fi
	run -0 wait_for_line "$STP_LOG" "GSS-API: context established for 'alice@STP.TEST'"
	run -0 wait_for_line "$STP_LOG" 'GSS-API: protection none asked, none granted'
	run -0 wait_for_line "$STP_LOG" 'session client=127\.0\.0\.1:[0-9]+ user=alice@STP\.TEST '
}

@test "failures: no ticket, a skewed or expired ticket, a tampered token, a 65535-byte length, a client that stops: abort or close, one line each, and the server goes on" {
	start_echo
	# the server allows 1 s of clock skew (the default is 5 minutes), so
	# that a token sent late is refused as a skewed or expired one
	sed 's/^\[libdefaults\]$/[libdefaults]\n\tclockskew = 1/' "$KRB5_CONFIG" >"$T/krb5-srv.conf"
	KRB5_CONFIG="$T/krb5-srv.conf" start_stp_serve --gssapi-keytab "$KEYTAB" \
		--handshake-timeout $((3 * STP_SLOW))
	echo x >"$T/in"
	# no ticket: the client cannot start, says so with the abort message
	KRB5CCNAME="FILE:$T/empty-cache" run -6 --separate-stderr gssc "$ECHO_PORT"
	assert_match "$stderr" 'gss init failed'
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1: the client gave up \(abort message\)'
	good_session
	# a ticket of 3 s, its token sent 5 s after it was made
	krb5_kinit alice alice-Pw1 3s
	run -3 --separate-stderr gssc --delay 5 "$ECHO_PORT"
	assert_match "$stderr" 'abort from proxy'
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1 failed: .*(Ticket expired|Clock skew too great)'
	krb5_kinit alice alice-Pw1
	good_session
	# a byte of the AP-REQ changed
	run -3 --separate-stderr gssc --tamper "$ECHO_PORT"
	assert_match "$stderr" 'abort from proxy'
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1 failed: .*(decrypt|integrity|[Dd]efective|[Ii]nvalid|ASN\.1|corrupt)'
	good_session
	# a context message that claims 65535 bytes: refused before it is read
	run -3 --separate-stderr gssc --length65535 "$ECHO_PORT"
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1 failed: GSS-API token too long'
	good_session
	# half a token, then nothing: the handshake timeout closes it
	run -4 --separate-stderr gssc --stop-mid "$ECHO_PORT"
	assert_match "$stderr" 'closed by proxy'
	run -0 wait_for_line "$STP_LOG" 'result="handshake timeout"'
	good_session
	# one line per failure (and the session lines): nothing else was said
	run -0 grep -c 'GSS-API authentication from' "$STP_LOG"
	assert_equal "$output" 4
	# the server went on after each: good_session above
}

@test "the wrong service: a ticket for a principal of another service is refused, also when the keytab holds its key" {
	start_echo
	krb5_add_service "$KEYTAB" other/localhost
	krb5_add_service "$T/unused.keytab" host/localhost
	start_stp_serve --gssapi-keytab "$KEYTAB"
	echo x >"$T/in"
	run -3 --separate-stderr gssc --service other "$ECHO_PORT"
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1 failed: wrong service: the ticket is for other/localhost@STP\.TEST, not rcmd/\.\.\.'
	run -3 --separate-stderr gssc --service host "$ECHO_PORT"
	run -0 wait_for_line "$STP_LOG" 'GSS-API authentication from 127\.0\.0\.1 failed: .*host/localhost'
	good_session
	# --gssapi-service names the accepted one
	echo x >"$T/in"
	start_stp_serve --gssapi-keytab "$KEYTAB" --gssapi-service other
	run -0 --separate-stderr bounded "$PY" "$GSSC" --service other "$STP_PORT" 127.0.0.1 "$ECHO_PORT" <"$T/in"
	assert_equal "$output" x
	run -3 --separate-stderr bounded "$PY" "$GSSC" "$STP_PORT" 127.0.0.1 "$ECHO_PORT" <"$T/in"
	run -0 wait_for_line "$STP_LOG" 'failed: wrong service: the ticket is for rcmd/localhost@STP\.TEST, not other/'
	# a keytab that cannot serve is a usage error at start
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --gssapi-keytab "$T/no-such.keytab"
	assert_match "$stderr" "gssapi-keytab $T/no-such.keytab: "
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --gssapi-keytab "$KEYTAB" --gssapi-service rcmd/localhost
	assert_match "$stderr" 'expected a service name'
}

@test "rules by principal: a user without a realm matches in any realm, with a realm only there" {
	start_echo
	krb5_add_user carol carol-Pw1
	start_stp_serve --gssapi-keytab "$KEYTAB" \
		--rules '[{"action":"allow","user":"alice"},{"action":"allow","user":"carol@OTHER.TEST"},{"action":"allow","user":"bob@STP.TEST","ports":"1-1023"},{"action":"deny"}]'
	good_session
	krb5_kinit bob bob-Pw1
	echo x >"$T/in"
	run -5 --separate-stderr gssc "$ECHO_PORT"
	assert_match "$stderr" 'reply 2'
	run -0 wait_for_line "$STP_LOG" "rule 4 denies connect from 127\.0\.0\.1 user bob@STP\.TEST to 127\.0\.0\.1:$ECHO_PORT"
	krb5_kinit carol carol-Pw1
	run -5 --separate-stderr gssc "$ECHO_PORT"
	assert_match "$stderr" 'reply 2'
	run -0 wait_for_line "$STP_LOG" 'rule 4 denies connect from 127\.0\.0\.1 user carol@STP\.TEST'
	# a password user's name is never cut at an '@'
	make_users "$T/users" 'alice@corp' 'pw-Alice1'
	start_stp_serve --users "$T/users" --rules '[{"action":"allow","user":"alice"},{"action":"deny"}]'
	run -97 curl -sS --max-time $((10 * STP_SLOW)) --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user 'alice@corp:pw-Alice1' -o /dev/null "http://127.0.0.1:$ECHO_PORT/"
}

@test "with --users too, clients use either method (a client offering both gets the password's); the keytab is a config key and SIGHUP keeps the old one when the new fails" {
	start_echo
	start_http
	make_users "$T/users" alice 'pw-Alice1'
	printf '{"gssapi-keytab": "%s", "users": "%s"}\n' "$KEYTAB" "$T/users" >"$T/conf.json"
	start_stp_serve -c "$T/conf.json"
	good_session
	run -0 curl -sS --max-time $((10 * STP_SLOW)) --socks5 "127.0.0.1:$STP_PORT" \
		--proxy-user 'alice:pw-Alice1' -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
	# a keytab that cannot be read: the reload is refused, GSS-API goes on
	printf '{"gssapi-keytab": "%s", "users": "%s"}\n' "$T/gone.keytab" "$T/users" >"$T/conf.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" "SIGHUP: --gssapi-keytab $T/gone.keytab: .*; keeping the old configuration"
	good_session
	# without the keytab only the password is offered
	printf '{"users": "%s"}\n' "$T/users" >"$T/conf.json"
	kill -HUP "$STP_SERVE_PID"
	run -0 wait_for_line "$STP_LOG" 'SIGHUP: reloaded .*users file; new sessions follow it'
	echo x >"$T/in"
	run -5 --separate-stderr gssc "$ECHO_PORT"
	assert_match "$stderr" 'method ff'
	# a keytab alone is authentication enough for a non-loopback listener
	start_bg stp-pub stp-serve -l 0.0.0.0:0 --gssapi-keytab "$KEYTAB"
	run -0 wait_for_line "$T/stp-pub.err" '^listening 0\.0\.0\.0 [0-9]+$'
}

@test "stp's own clients with --gssapi through stp-serve: stp-connect bytes both ways, stp-probe's auth check names the principal" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	head -c 200000 /dev/urandom >"$T/in"
	bounded stp-connect --gssapi -x "socks5h://localhost:$STP_PORT" 127.0.0.1 "$ECHO_PORT" \
		<"$T/in" >"$T/got"
	assert_files_equal "$T/got" "$T/in"
	run -0 wait_for_line "$STP_LOG" "session client=127\.0\.0\.1:[0-9]+ user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=200000 down=200000"
	run -0 --separate-stderr bounded stp-probe --gssapi "socks5h://localhost:$STP_PORT"
	assert_match "$output" 'principal alice@STP\.TEST accepted, protection none'
}

# protected LEVEL ARGS...: stp-connect --gssapi-protection LEVEL through
# stp-serve (started with ARGS) to the echo peer: 3 MiB both ways, then
# stdin's EOF passed on as a half-close (the echo peer ends only then, and
# stp-connect only after all came back).
protected() {
	local level=$1
	shift
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v "$@"
	head -c 3145728 /dev/urandom >"$T/big"
	run -0 --separate-stderr io "$T/big" "$T/back" stp-connect --gssapi \
		--gssapi-protection "$level" -x "socks5h://localhost:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/back")" "$(sha "$T/big")"
	run -0 wait_for_line "$STP_LOG" "session client=127\.0\.0\.1:[0-9]+ user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=3145728 down=3145728 .*result=\"ok\""
}

@test "stp-connect --gssapi-protection integrity through stp-serve: 3 MiB in encapsulated messages both ways, half-close" {
	protected integrity
	run -0 grep -c 'GSS-API: protection integrity asked, integrity granted' "$STP_LOG"
}

@test "stp-connect --gssapi-protection confidentiality through stp-serve: 3 MiB encrypted both ways, half-close" {
	protected confidentiality
	run -0 grep -c 'GSS-API: protection confidentiality asked, confidentiality granted' "$STP_LOG"
}

@test "--gssapi-protection confidentiality: a client asking none or integrity is granted confidentiality (RFC 1961: the server's choice) and is encapsulated" {
	protected none --gssapi-protection confidentiality
	run -0 grep -c 'GSS-API: protection none asked, confidentiality granted' "$STP_LOG"
	# the independent client takes what it is given, encrypted both ways
	head -c 200000 /dev/urandom >"$T/in"
	for lv in none integrity; do
		run -0 --separate-stderr gssc --level "$lv" "$ECHO_PORT"
		assert_files_equal "$T/got" "$T/in"
		assert_match "$stderr" 'granted 2'
	done
	run -0 grep -c 'GSS-API: protection integrity asked, confidentiality granted' "$STP_LOG"
	# a client that will not have more than it asked closes: the server logs
	# the session's end and goes on (stp's clients take more; a client that
	# asks the least it wants has what it asked)
	run -0 --separate-stderr gssc --level confidentiality "$ECHO_PORT"
	assert_files_equal "$T/got" "$T/in"
}

@test "the RFC 1961 client at integrity and confidentiality: request, reply and 300 kB both ways encapsulated; a tampered message ends the session with one line, and the server goes on" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB"
	head -c 300000 /dev/urandom >"$T/in"
	for lv in integrity confidentiality; do
		run -0 --separate-stderr gssc --level "$lv" "$ECHO_PORT"
		assert_files_equal "$T/got" "$T/in"
		assert_match "$stderr" 'reply 0'
		run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=300000 down=300000 .*result=\"ok\""
		: >"$STP_LOG"
		# a byte of the first data message's token changed: no byte of it
		# reaches the target, the session ends
		run -4 --separate-stderr gssc --level "$lv" --tamper-data "$ECHO_PORT"
		assert_match "$stderr" 'closed by proxy'
		[ ! -s "$T/got" ]
		run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=0 down=0 .*result=\"GSS-API message refused: (bad MIC|gss_unwrap failed)"
		run -0 grep -c . "$STP_LOG"
		assert_equal "$output" 1
		: >"$STP_LOG"
	done
	# the server goes on
	good_session
}

@test "on a protected session RESOLVE is carried: its reply is an encapsulated message" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB"
	: >"$T/in"
	# Tor's RESOLVE: its reply is an encapsulated message
	run -0 --separate-stderr bounded "$PY" "$GSSC" --level integrity --cmd $((0xF0)) "$STP_PORT" localhost 0 <"$T/in"
	assert_match "$stderr" 'reply 0'
	good_session
}

@test "stp-probe --gssapi --gssapi-protection integrity against stp-serve: the auth check reports the level, CONNECT passes data through the wrapped session" {
	start_stp_serve --gssapi-keytab "$KEYTAB"
	run --separate-stderr bounded stp-probe -w 5 -n 1 --gssapi --gssapi-protection integrity \
		"socks5h://localhost:$STP_PORT"
	assert_match "$output" 'ok +auth +GSS-API: principal alice@STP\.TEST accepted, protection integrity'
	assert_match "$output" 'ok +connect '
	start_stp_serve --gssapi-keytab "$KEYTAB" --gssapi-protection confidentiality
	run --separate-stderr bounded stp-probe -w 5 -n 1 --gssapi "socks5h://localhost:$STP_PORT"
	assert_match "$output" 'ok +auth +GSS-API: principal alice@STP\.TEST accepted, protection confidentiality'
	assert_match "$output" 'ok +connect '
}

@test "UDP ASSOCIATE on a protected session: each datagram sealed both ways (RFC 1961 §5), a tampered one dropped and counted, the association goes on" {
	load lib/udp
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	printf 'one\ntwo\nthree\n' >"$T/in"
	for lv in integrity confidentiality; do
		run -0 --separate-stderr bounded "$PY" "$GSSC" --level "$lv" --udp "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
		assert_equal "$output" "$(printf 'one\ntwo\nthree')"
		assert_match "$stderr" "granted $([ $lv = integrity ] && echo 1 || echo 2)"
	done
	# the first datagram's token changed: dropped (no answer), the next ones pass
	run -0 --separate-stderr bounded "$PY" "$GSSC" --level integrity --udp --udp-tamper "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
	assert_equal "$output" "$(printf -- '-\ntwo\nthree')"
	run -0 wait_for_line "$STP_LOG" 'udp: a datagram from the client dropped: GSS-API: (bad MIC|gss_unwrap failed)'
	# unsealed datagrams on a protected association: dropped too
	start_stp_serve --gssapi-keytab "$KEYTAB" --gssapi-protection integrity -v -v
	run -0 --separate-stderr bounded "$PY" "$GSSC" --level none --udp --udp-clear "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
	assert_match "$stderr" 'granted 1'
	assert_equal "$output" "$(printf -- '-\n-\n-')"
	run -0 wait_for_line "$STP_LOG" 'udp: a datagram from the client dropped: GSS-API: not one encapsulated message'
	# sealed, the same association's way works (the server went on)
	run -0 --separate-stderr bounded "$PY" "$GSSC" --level none --udp "$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT" <"$T/in"
	assert_equal "$output" "$(printf 'one\ntwo\nthree')"
}

@test "stp-udp --gssapi-protection through stp-serve: both of stp's ends seal the datagrams (integrity, confidentiality) and the echo comes back" {
	load lib/udp
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	printf 'one\ntwo\nthree\n' >"$T/in"
	for lv in integrity confidentiality; do
		run -0 --separate-stderr io "$T/in" "$T/out" stp-udp -v --wait 2 --gssapi \
			--gssapi-protection "$lv" -x "localhost:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
		assert_equal "$(cat "$T/out")" "$(printf 'one\ntwo\nthree')"
		assert_match "$stderr" "GSS-API protection $lv"
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
	done
	# nothing the server could not unseal
	run -1 grep -q 'udp: a datagram from the client dropped' "$STP_LOG"
}

# ------------------------------------------------ framed channels under protection
# UDP_TCP, the DNS channel and MUX: their frames after the reply travel inside
# the protected stream, both of stp's ends encapsulating (stp-serve reads and
# writes them through session_recv/session_write, i.e. sessprot).

@test "stp-udp --tcp through stp-serve at integrity and confidentiality: UDP-over-TCP frames inside the protected stream" {
	load lib/udp
	start_udp_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	printf 'alpha\nbeta\ngamma\n' >"$T/in"
	for lv in integrity confidentiality; do
		run -0 --separate-stderr io "$T/in" "$T/out" stp-udp --tcp -v --wait 2 --gssapi \
			--gssapi-protection "$lv" -x "localhost:$STP_PORT" 127.0.0.1 "$UDP_ECHO_PORT"
		assert_equal "$(cat "$T/out")" "$(printf 'alpha\nbeta\ngamma')"
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
	done
	run -1 grep -q 'refused: not carried' "$STP_LOG"
	run -0 wait_for_line "$STP_LOG" 'user=alice@STP\.TEST cmd=udp-tcp .*result="ok"'
}

@test "stp-resolve through stp-serve at integrity and confidentiality: -t TXT/A over the DNS channel, and --listen with dig" {
	load lib/resolve
	start_resolve_dns
	start_stp_serve --gssapi-keytab "$KEYTAB" --resolver "127.0.0.1:$DNS_PORT" -v -v
	for lv in integrity confidentiality; do
		run -0 --separate-stderr bounded stp-resolve --gssapi --gssapi-protection "$lv" \
			-x "localhost:$STP_PORT" -t TXT txt.test
		assert_match "$output" 'txt\.test\.? [0-9]+ IN TXT "hello world" "second string"'
		run -0 --separate-stderr bounded stp-resolve --gssapi --gssapi-protection "$lv" \
			-x "localhost:$STP_PORT" -t A v4.test
		assert_match "$output" 'v4\.test\.? [0-9]+ IN A 127\.0\.0\.2'
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
		start_bg "stub.$lv" stp-resolve --gssapi --gssapi-protection "$lv" -x "localhost:$STP_PORT" --listen 127.0.0.1:0
		local port
		port=$(_listen_port "stub.$lv") || return 1
		run -0 bounded dig +short +tries=1 +time=5 -p "$port" @127.0.0.1 web.test A
		assert_equal "$output" "127.0.0.1"
		run -0 bounded dig +short +tcp +tries=1 +time=5 -p "$port" @127.0.0.1 v4.test A
		assert_equal "$output" "127.0.0.2"
	done
	run -1 grep -q 'refused: not carried' "$STP_LOG"
}

@test "stp-connect --mux-master through stp-serve at integrity and confidentiality: two --mux streams carry bytes both ways" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v -v
	head -c 200000 /dev/urandom >"$T/a"
	printf 'second stream\n' >"$T/b"
	for lv in integrity confidentiality; do
		start_bg "master.$lv" stp-connect --mux-master "$T/m.$lv.sock" --gssapi --gssapi-protection "$lv" \
			-x "localhost:$STP_PORT"
		wait_for_line "$T/master.$lv.err" "^listening $T/m\.$lv\.sock\$" 10 >/dev/null
		run -0 --separate-stderr io "$T/a" "$T/a.back" stp-connect --mux "$T/m.$lv.sock" 127.0.0.1 "$ECHO_PORT"
		assert_equal "$(sha "$T/a.back")" "$(sha "$T/a")"
		run -0 --separate-stderr io "$T/b" "$T/b.back" stp-connect --mux "$T/m.$lv.sock" 127.0.0.1 "$ECHO_PORT"
		assert_files_equal "$T/b.back" "$T/b"
		run -0 wait_for_line "$STP_LOG" "GSS-API: protection $lv asked, $lv granted"
	done
	run -1 grep -q 'refused: not carried' "$STP_LOG"
}

@test "a tampered message on UDP_TCP, the DNS channel or MUX ends that session with one line, and the server goes on" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB"
	# any bytes: the first message's token has a byte flipped, so none of
	# it is parsed as a frame
	head -c 2000 /dev/urandom >"$T/in"
	local c name lv=integrity
	for c in 0xD7:udp-tcp 0xD5:dns 0xD6:mux; do
		name=${c#*:}
		: >"$STP_LOG"
		run -4 --separate-stderr bounded "$PY" "$GSSC" --level "$lv" --tamper-data --cmd $((${c%%:*})) \
			"$STP_PORT" 0.0.0.0 0 <"$T/in"
		assert_match "$stderr" 'reply 0'
		assert_match "$stderr" 'closed by proxy'
		run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=$name .*result=\"GSS-API message refused: (bad MIC|gss_unwrap failed)"
		run -0 grep -c . "$STP_LOG"
		assert_equal "$output" 1
		lv=confidentiality
	done
	good_session
}
