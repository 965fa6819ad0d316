#!/usr/bin/env bats
# stp-serve: BIND_MULTI/ATTACH, CONFIG and a TLS --upstream on a GSS-API
# session at protection level integrity or confidentiality (RFC 1961 §5:
# every byte after the protection-level message travels in encapsulated
# messages). Real peers: a throw-away Kerberos realm (Debian krb5-kdc,
# lib/krb5realm.bash), stp's own clients with --gssapi --gssapi-protection,
# inbound peers from ncat and OpenBSD nc, the echo peer of peers.py, a
# second stp-serve behind a TLS listener as the --upstream (socks5hs and
# https), the HTTP peer of peers.py.

bats_require_minimum_version 1.5.0
load lib/common
load lib/krb5realm

setup() {
	stp_setup
	krb5_proxy_setup
}

teardown() { stp_teardown; }

# start_bind_gss NAME LEVEL [ARGS...]: stp-bind -k through stp-serve at
# protection LEVEL; sets BPORT, the port inbound peers connect to.
start_bind_gss() {
	local name=$1 level=$2 line
	shift 2
	start_bg "$name" stp-bind -x "socks5h://localhost:$STP_PORT" --gssapi \
		--gssapi-protection "$level" -k -v "$@"
	line=$(wait_for_line "$T/$name.err" '^bound [0-9.]+ [0-9]+$') || return 1
	BPORT=${line##* }
}

# peer_roundtrip TOOL TAG: TOOL (ncat or nc) connects to BPORT, sends
# 200 kB and must get the same bytes back (stp-bind -F echo / -e cat).
peer_roundtrip() {
	local tool=$1 tag=$2
	head -c 200000 /dev/urandom >"$T/in.$tag"
	if [ "$tool" = nc ]; then
		bounded nc -N 127.0.0.1 "$BPORT" <"$T/in.$tag" >"$T/got.$tag"
	else
		bounded ncat 127.0.0.1 "$BPORT" <"$T/in.$tag" >"$T/got.$tag"
	fi
	assert_files_equal "$T/got.$tag" "$T/in.$tag"
}

@test "BIND_MULTI at integrity: two inbound peers (ncat, nc) attached with their own protected sessions, 200 kB each way" {
	start_echo
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	start_bind_gss bind integrity -F "127.0.0.1:$ECHO_PORT"
	peer_roundtrip ncat a
	peer_roundtrip nc b
	run -0 wait_until "2 attach sessions logged" \
		lines_at_least "$STP_LOG" 'user=alice@STP\.TEST cmd=attach .*up=200000 down=200000 .*result="ok"' 2
	# the control channel and each ATTACH: a context and level of their own
	run -0 test "$(grep -c 'GSS-API: protection integrity asked, integrity granted' "$STP_LOG")" -ge 3
	run -1 grep -q 'refused: not carried' "$STP_LOG"
	run -0 test "$(grep -c '^accepted ' "$T/bind.err")" -eq 2
}

@test "BIND_MULTI at confidentiality with -e cat: peers in turn, bytes right both ways; the control channel's end drops the listener" {
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	start_bind_gss bind confidentiality -e cat
	peer_roundtrip ncat a
	peer_roundtrip nc b
	peer_roundtrip ncat c
	run -0 wait_until "3 attach sessions logged" \
		lines_at_least "$STP_LOG" 'user=alice@STP\.TEST cmd=attach .*up=200000 down=200000 .*result="ok"' 3
	run -0 test "$(grep -c 'GSS-API: protection confidentiality asked, confidentiality granted' "$STP_LOG")" -ge 4
	stop_bg bind
	run -0 wait_for_line "$STP_LOG" 'cmd=bind-multi .*result="control channel closed"'
	run -1 bounded ncat -z 127.0.0.1 "$BPORT"
}

@test "--workers 2, confidentiality: ATTACHes that land on the other worker are relayed there, every peer's bytes right" {
	start_stp_serve --gssapi-keytab "$KEYTAB" --workers 2 -v
	start_bind_gss bind confidentiality -e cat
	local k out
	for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
		peer_roundtrip ncat "w$k"
	done
	run -0 wait_until "12 attach sessions logged" \
		lines_at_least "$STP_LOG" 'cmd=attach .*up=200000 down=200000 .*result="ok"' 12
	# a protected client cannot change process: relayed, not handed over
	# (all 12 on one worker: a 1 in 2^11 chance)
	out=$(grep -cE 'attach: ticket of worker [12] relayed from worker [12]$' "$STP_LOG") || true
	[ "$out" -ge 1 ] && [ "$out" -le 11 ] || {
		echo "relayed: $out of 12" >&2
		cat "$STP_LOG" >&2
		false
	}
	run -1 grep -E 'handed over from|unknown or expired ticket|cannot hand' "$STP_LOG"
}

@test "an independent RFC 1961 client (python3-gssapi) gets BIND_MULTI's reply in an encapsulated message at confidentiality" {
	start_stp_serve --gssapi-keytab "$KEYTAB" -v
	: >"$T/in"
	# gssclient.py reads the reply only by unwrapping a message (a reply in
	# clear is "not an encapsulated message": exit 5); the control channel
	# then ends with the client's half-close
	run -0 --separate-stderr bounded "$PY" "$BATS_TEST_DIRNAME/lib/gssclient.py" \
		--level confidentiality --cmd $((0xD1)) "$STP_PORT" 0.0.0.0 0 <"$T/in"
	assert_match "$stderr" 'level asked 2 granted 2'
	assert_match "$stderr" 'reply 0'
	run -0 wait_for_line "$STP_LOG" 'user=alice@STP\.TEST cmd=bind-multi .*result="control channel closed"'
}

@test "CONFIG at integrity: stp-connect --gssapi --config socks5h://proxy gets a 14 kB document whole, in encapsulated messages" {
	start_echo
	local r k
	# 250 routes that do not match, then the one that does: many pieces
	r=
	for ((k = 0; k < 250; k++)); do
		r+="{\"match\": \"*.n$k.unused.example\", \"via\": \"direct\"}, "
	done
	printf '{"routes": [%s{"match": "127.0.0.1", "via": "direct"}]}' "$r" >"$T/big.json"
	[ "$(stat -c %s "$T/big.json")" -gt 10000 ]
	start_stp_serve --gssapi-keytab "$KEYTAB" --gssapi-protection integrity \
		--client-config "$T/big.json" -v
	echo 'through the configured route' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect --gssapi --gssapi-protection integrity \
		--config "socks5h://localhost:$STP_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
	run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=config .*down=$(stat -c %s "$T/big.json") .*result=\"ok\""
	run -0 grep -c 'GSS-API: protection integrity asked, integrity granted' "$STP_LOG"
	assert_equal "$output" 1
	# the route said direct: no CONNECT went through the proxy
	run -1 grep -q 'cmd=connect' "$STP_LOG"
}

# start_tls_upstream [ARGS...]: the upstream, an stp-serve with a TLS
# listener (the test PKI); sets UP_PORT and UP_LOG.
start_tls_upstream() {
	make_pki "$T/pki"
	start_bg upstream stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$T/pki/srv.pem" --key "$T/pki/srv.key" "$@"
	local line
	line=$(wait_for_line "$T/upstream.err" '^listening 127\.0\.0\.1 [0-9]+ tls$') || return 1
	UP_PORT=$(echo "$line" | cut -d' ' -f3)
	UP_LOG=$T/upstream.err
}

@test "a TLS --upstream on a confidentiality session: 1 MiB each way through socks5s, sha256 equal, half-close passed on as close_notify" {
	start_echo
	start_tls_upstream
	start_stp_serve --gssapi-keytab "$KEYTAB" --upstream-cacert "$T/pki/ca.pem" \
		--upstream "socks5hs://localhost:$UP_PORT" -v
	head -c 1048576 /dev/urandom >"$T/in"
	# stdin's end is the client's half-close: the echo peer answers all
	# of it only after the EOF came through both proxies
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://localhost:$STP_PORT" \
		--gssapi --gssapi-protection confidentiality 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/out")" "$(sha "$T/in")"
	run -0 wait_for_line "$STP_LOG" "user=alice@STP\.TEST cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=1048576 down=1048576 .*result=\"ok\""
	run -0 wait_for_line "$UP_LOG" "cmd=connect target=127\.0\.0\.1:$ECHO_PORT up=1048576 down=1048576 .*result=\"ok\""
	run -0 grep -c 'GSS-API: protection confidentiality asked, confidentiality granted' "$STP_LOG"
	assert_equal "$output" 1
	run -1 grep -q 'refused' "$STP_LOG"
}

@test "a TLS --upstream at integrity: a target that speaks first and closes (an HTTP peer), and a refusal passed back" {
	start_http
	start_tls_upstream
	start_stp_serve --gssapi-keytab "$KEYTAB" --upstream-cacert "$T/pki/ca.pem" \
		--upstream "socks5hs://localhost:$UP_PORT" -v
	printf 'GET /data.bin HTTP/1.0\r\nHost: x\r\n\r\n' >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://localhost:$STP_PORT" \
		--gssapi --gssapi-protection integrity localhost "$HTTP_PORT"
	# the body after the header is the file, whole
	sed '1,/^\r$/d' "$T/out" >"$T/body"
	assert_equal "$(sha "$T/body")" "$(sha "$HTTP_FILE")"
	run -0 wait_for_line "$UP_LOG" "cmd=connect target=localhost:$HTTP_PORT .*result=\"ok\""
	# a closed port behind the upstream: its refusal comes back (exit 15)
	local closed
	closed=$(closed_port)
	run -15 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://localhost:$STP_PORT" \
		--gssapi --gssapi-protection integrity 127.0.0.1 "$closed"
	assert_match "$stderr" 'connection refused'
}

@test "an https --upstream (HTTP CONNECT over TLS) on a confidentiality session: bytes right both ways" {
	start_echo
	start_tls_upstream
	start_stp_serve --gssapi-keytab "$KEYTAB" --upstream-cacert "$T/pki/ca.pem" \
		--upstream "https://localhost:$UP_PORT" -v
	head -c 300000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://localhost:$STP_PORT" \
		--gssapi --gssapi-protection confidentiality 127.0.0.1 "$ECHO_PORT"
	assert_equal "$(sha "$T/out")" "$(sha "$T/in")"
	run -0 wait_for_line "$UP_LOG" "cmd=connect http=CONNECT status=200 target=127\.0\.0\.1:$ECHO_PORT up=300000 down=300000 .*result=\"ok\""
}
