#!/usr/bin/env bats
# stp-probe against real servers: stp-serve (with and without users), Dante,
# ssh -D, microsocks, an HTTP server, a silent port, a closed port and a
# chain; the text report, the exit status and the --json document (checked
# with jq) of each; --url through each proxy.

bats_require_minimum_version 1.5.0
load lib/common
load lib/probe

HELP_HINT="try 'stp-probe --help'"

# ------------------------------------------------------------- stp-serve

@test "stp-serve: every check ok, verdict ok, exit 0; --json says the same" {
	start_http
	start_stp_serve
	run -0 --separate-stderr probe -w 3 -n 3 --url "$HTTP_URL" --bandwidth 1M "127.0.0.1:$STP_PORT"
	assert_check ok reach "127\.0\.0\.1:$STP_PORT [0-9.]+ ms"
	assert_check -- tls "not a TLS URL"
	assert_check ok detect "SOCKS5; SOCKS4: yes, SOCKS4a: yes"
	assert_check ok methods "no-auth yes, user/pass no"
	assert_check -- auth "none needed"
	assert_check ok connect "greeting [0-9.]+ ms, request [0-9.]+ ms, first byte [0-9.]+ ms; data passes both ways"
	assert_check ok dns "CONNECT localhost: reply 0 \(succeeded\), the proxy resolves names; stp-probe-[0-9a-f]+\.invalid: reply 4 \(host unreachable\), fails remotely as it must"
	assert_check ok ipv6 "ATYP 4"
	assert_check ok bind "first reply 127\.0\.0\.1:[0-9]+; second reply 127\.0\.0\.1:[0-9]+"
	assert_check ok bind-multi "with a ticket"
	assert_check ok udp "relay 127\.0\.0\.1:[0-9]+; round trip .*datagrams of [0-9]+ bytes pass"
	assert_check ok resolve "localhost -> 127\.0\.0\.1"
	assert_check ok resolve-ptr "127\.0\.0\.1 -> "
	assert_check ok features "stp-serve/.*stp/1.*bind-multi"
	assert_check ok latency "min [0-9.]+ ms, median [0-9.]+ ms, p99 [0-9.]+ ms over 3 tries"
	assert_check ok http "HTTP 200, 262144 bytes; name lookup .* first byte"
	assert_check ok bandwidth "1048576 bytes: up [0-9.]+ MiB/s, down [0-9.]+ MiB/s"
	assert_verdict_ok
	assert_equal "$stderr" ""
	# the lines are aligned: STATUS in 4 columns, CHECK in 11
	run -0 grep -cE '^(ok  |--  |warn|FAIL)  [a-z6-]{1,11} +  ?[^ ]' <<<"$output"
	assert_equal "$output" 17

	probe_json 0 -w 3 -n 2 "127.0.0.1:$STP_PORT"
	run -0 jq -r '[.detected, (.features | index("stp/1") != null), .methods["00"], (.checks | length), .proxy.port] | @tsv' "$T/probe.json"
	assert_equal "$output" "socks5	true	00	17	$STP_PORT"
	run -0 jq -r '.checks[] | select(.name == "latency") | [.tries, (.min_ms >= 0)] | @tsv' "$T/probe.json"
	assert_equal "$output" "2	true"
}

@test "stp-serve with users: right credentials ok, wrong exit 4, missing exit 4 with a hint" {
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users"
	run -0 --separate-stderr probe -w 3 -n 2 -U alice:secret "127.0.0.1:$STP_PORT"
	# SOCKS4 answered, with a refusal: said as such, not "yes (refused)"
	assert_check ok detect "SOCKS5; SOCKS4: refused \(91\), SOCKS4a: refused \(91\)\$"
	assert_check ok methods "no-auth no, user/pass yes"
	assert_check ok auth "user 'alice' accepted"
	assert_check ok connect
	assert_verdict_ok

	run -4 --separate-stderr probe -w 3 -U alice:wrong "127.0.0.1:$STP_PORT"
	assert_check FAIL auth "rejected the credentials of user 'alice'"
	assert_verdict_fail 1

	run -4 --separate-stderr probe -w 3 "127.0.0.1:$STP_PORT"
	assert_check FAIL auth "needs a user name and password: give -U USER"
	assert_verdict_fail 1

	STP_PASSWORD=secret probe_json 0 -w 3 -n 1 -U alice "127.0.0.1:$STP_PORT"
	probe_json 4 -w 3 -U alice:wrong "127.0.0.1:$STP_PORT"
	run -0 json_check auth
	assert_match "$output" "^fail proxy .* rejected"
	probe_json 4 -w 3 "127.0.0.1:$STP_PORT"
	run -0 jq -r '.methods["00,02"]' "$T/probe.json"
	assert_equal "$output" "02"
}

@test "--require names checks; a missing one FAILs with exit 7; unknown names are usage errors" {
	start_stp_serve
	run -0 --separate-stderr probe -w 3 -n 1 --require bind,udp,resolve,bind-multi "127.0.0.1:$STP_PORT"
	assert_verdict_ok
	run -2 --separate-stderr stp-probe --require bind,teleport "127.0.0.1:$STP_PORT"
	assert_equal "$stderr" "stp-probe: --require: unknown check 'teleport'; $HELP_HINT"
	run -2 --separate-stderr stp-probe
	# without URL the proxy comes from the environment, as for every client
	assert_equal "$stderr" "stp-probe: no proxy: give -x URL or --config, or set STP_PROXY or ALL_PROXY; $HELP_HINT"
	run -2 --separate-stderr stp-probe "ftp://127.0.0.1:$STP_PORT"
	assert_match "$stderr" "^stp-probe: .*unknown scheme 'ftp'.*$HELP_HINT\$"
}

@test "a chain: probed through the first proxy; a broken first hop is named, exit 3" {
	start_stp_serve
	start_stp_serve
	run -0 --separate-stderr probe -w 3 -n 1 -x "socks5://127.0.0.1:$STP_PORT_1" "127.0.0.1:$STP_PORT_2"
	assert_check ok reach "127\.0\.0\.1:$STP_PORT_2 through 1 proxy: "
	assert_check ok connect
	assert_check -- http
	assert_verdict_ok
	local dead
	dead=$(closed_port)
	run -3 --separate-stderr probe -w 3 -x "socks5://127.0.0.1:$dead" "127.0.0.1:$STP_PORT_2"
	assert_check FAIL reach "cannot reach proxy 127\.0\.0\.1:$dead"
	run -3 --separate-stderr probe -w 3 -x "socks5://127.0.0.1:$STP_PORT_1" "127.0.0.1:$dead"
	assert_check FAIL reach "cannot reach proxy 127\.0\.0\.1:$dead through proxy 127\.0\.0\.1:$STP_PORT_1"
}

# ------------------------------------------------------------- other servers

@test "Dante: BIND and UDP yes, RESOLVE closed without reply; --url through it" {
	start_http
	start_dante
	run -0 --separate-stderr probe -w 3 -n 2 --url "$HTTP_URL" "socks5h://127.0.0.1:$DANTE_PORT"
	assert_check ok detect "SOCKS5"
	assert_check ok connect "data passes both ways"
	assert_check ok bind "second reply"
	assert_check ok udp "round trip"
	assert_check -- resolve "RESOLVE not supported: closed without reply"
	assert_check -- resolve-ptr "not supported"
	assert_check -- features "not supported"
	assert_check ok http "HTTP 200"
	assert_verdict_ok
	probe_json 0 -w 3 -n 1 "127.0.0.1:$DANTE_PORT"
	run -0 json_check resolve
	assert_match "$output" "^skip RESOLVE not supported: closed without reply"
	run -0 jq -r '.features | length' "$T/probe.json"
	assert_equal "$output" 0
}

@test "ssh -D: CONNECT only, the others closed without reply; --require bind exits 7; sshd itself is an SSH server" {
	start_http
	start_sshd
	start_ssh_D
	run -0 --separate-stderr probe -w 3 -n 2 --url "$HTTP_URL" "socks5h://127.0.0.1:$SSH_D_PORT"
	assert_check ok connect "data passes both ways"
	assert_check -- bind "BIND not supported: closed without reply"
	assert_check -- udp "UDP ASSOCIATE not supported: closed without reply"
	assert_check -- resolve "closed without reply"
	assert_check -- features "closed without reply"
	assert_check ok http "HTTP 200"
	assert_verdict_ok
	run -7 --separate-stderr probe -w 3 -n 1 --require bind "127.0.0.1:$SSH_D_PORT"
	assert_check FAIL bind "closed without reply \(required\)"
	assert_verdict_fail 1
	probe_json 7 -w 3 -n 1 --require bind "127.0.0.1:$SSH_D_PORT"

	run -5 --separate-stderr probe -w 3 "127.0.0.1:$SSHD_PORT"
	assert_check FAIL detect "an SSH server that speaks first \('SSH-2\.0-"
	probe_json 5 -w 3 "127.0.0.1:$SSHD_PORT"
}

@test "microsocks: CONNECT, --url through it" {
	start_http
	start_microsocks
	run -0 --separate-stderr probe -w 3 -n 2 --url "$HTTP_URL" "socks5h://127.0.0.1:$MICROSOCKS_PORT"
	assert_check ok detect "SOCKS5"
	assert_check ok connect
	assert_check ok http "HTTP 200"
	assert_verdict_ok
	probe_json 0 -w 3 -n 1 "127.0.0.1:$MICROSOCKS_PORT"
}

# ------------------------------------------------------------- not proxies

@test "an HTTP server: exit 5, 'an HTTP server', detected http" {
	start_http
	run -5 --separate-stderr probe -w 3 "127.0.0.1:$HTTP_PORT"
	assert_check ok reach
	assert_check FAIL detect "not SOCKS: an HTTP server"
	assert_verdict_fail 1
	probe_json 5 -w 3 "127.0.0.1:$HTTP_PORT"
	run -0 jq -r .detected "$T/probe.json"
	assert_equal "$output" http
	start_peer http-reply
	run -5 --separate-stderr probe -w 3 "127.0.0.1:$HTTP_REPLY_PORT"
	assert_check FAIL detect "an HTTP server \(it answered 'HTTP/1\.1 400"
}

@test "an SSH server whose banner comes late (a busy host) is still named an SSH server" {
	start_peer late-banner
	run -5 --separate-stderr probe -w 3 "127.0.0.1:$LATE_BANNER_PORT"
	assert_check FAIL detect "an SSH server that speaks first \('SSH-2\.0-Late_0\.1'\)"
}

@test "a closed port: exit 3 at reach; a silent port: exit 5 within -w" {
	local dead
	dead=$(closed_port)
	run -3 --separate-stderr probe -w 3 "127.0.0.1:$dead"
	assert_check FAIL reach "127\.0\.0\.1:$dead refused"
	assert_verdict_fail 1
	assert_equal "${#lines[@]}" 2
	probe_json 3 -w 3 "127.0.0.1:$dead"
	run -0 json_check reach
	assert_match "$output" "^fail "
	start_peer silent
	local t0=$SECONDS
	run -5 --separate-stderr probe -w 1 "127.0.0.1:$SILENT_PORT"
	assert_check FAIL detect "silence, no answer within 1\.0 s"
	# -w 1 fires; the bound is generous (a busy machine must not fail it)
	[ $((SECONDS - t0)) -le $((10 * STP_SLOW)) ]
}

@test "TLS: socks5hs with --cacert ok (version, subject, issuer, expiry); unverified exit 6; --insecure warns; plain to TLS is 'a TLS listener'" {
	make_pki "$T/pki"
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$T/pki/srv.pem" --key "$T/pki/srv.key"
	local line tls_port
	line=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$')
	tls_port=$(cut -d' ' -f3 <<<"$line")
	run -0 --separate-stderr probe -w 3 -n 1 --url http://127.0.0.1:1/ --cacert "$T/pki/ca.pem" "socks5hs://127.0.0.1:$tls_port"
	assert_check ok tls "TLSv1\.[23] .* subject .*CN=localhost, issuer .*CN=stp test CA, valid until .*; verification: ok"
	assert_check ok detect "SOCKS5"
	assert_check ok connect "data passes both ways"
	assert_check -- http "libcurl does not speak TLS"
	assert_verdict_ok
	probe_json 0 -w 3 -n 1 --cacert "$T/pki/ca.pem" "socks5hs://127.0.0.1:$tls_port"
	run -0 jq -r '.checks[] | select(.name == "tls") | [.verified, .version] | @tsv' "$T/probe.json"
	assert_match "$output" $'^true\tTLSv1\\.[23]$'

	run -6 --separate-stderr probe -w 3 "socks5hs://127.0.0.1:$tls_port"
	# the proxy named once, with its port
	assert_check FAIL tls "  TLS to proxy 127\.0\.0\.1:$tls_port: certificate verification failed: [^:]+\$"
	assert_verdict_fail 1
	run -0 --separate-stderr probe -w 3 -n 1 --insecure "socks5hs://127.0.0.1:$tls_port"
	assert_check warn tls "verification: NOT verified \(--insecure\)"
	run -5 --separate-stderr probe -w 3 "socks5h://127.0.0.1:$tls_port"
	assert_check FAIL detect "a TLS listener"
	# through a plain hop first: TLS inside the chain
	local plain_port
	plain_port=$(grep -m1 -E '^listening 127\.0\.0\.1 [0-9]+$' "$T/tlsserve.err" | cut -d' ' -f3)
	run -0 --separate-stderr probe -w 3 -n 1 --cacert "$T/pki/ca.pem" -x "socks5://127.0.0.1:$plain_port" \
		"socks5hs://127.0.0.1:$tls_port"
	assert_check ok reach "through 1 proxy: "
	assert_check ok tls "verification: ok"
	assert_check ok connect "data passes both ways"
}

@test "-q prints only failed checks and the verdict; --help says what -q, --json, -x, -U, -4, -6 do here" {
	start_stp_serve
	local dead
	dead=$(closed_port)
	run -0 --separate-stderr probe -q -w 3 -n 1 "127.0.0.1:$STP_PORT"
	assert_equal "$output" "verdict: ok"
	run -3 --separate-stderr probe -q -w 3 "127.0.0.1:$dead"
	assert_match "${lines[0]}" "^FAIL  reach "
	assert_equal "${lines[${#lines[@]} - 1]}" "verdict: FAIL (1 check failed)"
	# --bandwidth takes fractions, as its help says
	run -0 --separate-stderr probe -q -w 3 -n 1 --bandwidth 1.5M "127.0.0.1:$STP_PORT"
	run -0 --separate-stderr probe -w 3 -n 1 --bandwidth 1.5M "127.0.0.1:$STP_PORT"
	assert_check ok bandwidth "^ok +bandwidth +1572864 bytes: "
	run -0 --separate-stderr stp-probe --help
	local want
	for want in \
		'  -x, --proxy URL                 reach the probed proxy through this one (repeat to chain)' \
		'  -U, --proxy-user USER[:PASS]    credentials for the probed proxy when its URL has none' \
		'  -4, --ipv4                      reach the proxy (the first -x hop) over IPv4 only' \
		'  -6, --ipv6                      reach the proxy (the first -x hop) over IPv6 only' \
		'      --json                      print one JSON document at the end instead of the report' \
		'  -q, --quiet                     print only the failed checks and the verdict' \
		'      --bandwidth BYTES           measure throughput with BYTES each way (e.g. 200000, 512K, 1.5M)'; do
		grep -qxF -- "$want" <<<"$output" || { echo "--help lacks: $want"; echo "$output"; return 1; }
	done
}

@test "--color always colours the status; --json prints nothing but the document" {
	start_stp_serve
	run -0 --separate-stderr bounded stp-probe --color always -w 3 -n 1 "127.0.0.1:$STP_PORT"
	assert_match "$output" $'\e\\[32mok'
	run -0 --separate-stderr bounded stp-probe --json -w 3 -n 1 "127.0.0.1:$STP_PORT"
	run -0 jq -e . <<<"$output"
}
