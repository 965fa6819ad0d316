#!/usr/bin/env bats
# stp-probe --url through an https:// proxy (issue 17): libcurl's TLS to
# the proxy trusts what the other checks trust (--cacert: CURLOPT_PROXY_CAINFO;
# --insecure), so a proxy with a private CA can be probed. Peer: stp-serve's
# TLS listener serving HTTP on its mixed port; origin: lib/peers.py http.

bats_require_minimum_version 1.5.0
load lib/common
load lib/probe

@test "--url through https:// (stp-serve's TLS listener): ok with --cacert, exit 6 without, ok with --insecure" {
	make_pki "$T/pki"
	start_http
	start_bg tlsserve stp-serve -l 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
		--cert "$T/pki/srv.pem" --key "$T/pki/srv.key"
	local line tls_port
	line=$(wait_for_line "$T/tlsserve.err" '^listening 127\.0\.0\.1 [0-9]+ tls$')
	tls_port=$(cut -d' ' -f3 <<<"$line")
	run -0 --separate-stderr probe -w 5 -n 1 --cacert "$T/pki/ca.pem" \
		--url "http://127.0.0.1:$HTTP_PORT/hello.txt" "https://localhost:$tls_port"
	# (the first "http" line is the absolute-form check; --url's is its own)
	assert_match "$output" $'\nok +http +http://127\\.0\\.0\\.1:'"$HTTP_PORT"'/hello\.txt: HTTP 200, 32 bytes; name lookup'
	assert_verdict_ok
	probe_json 0 -w 5 -n 1 --cacert "$T/pki/ca.pem" --url "$HTTP_URL" "https://localhost:$tls_port"
	run -0 jq -r '[.checks[] | select(.name == "http")] | last | [.status, .http_status, .bytes] | @tsv' "$T/probe.json"
	assert_equal "$output" $'ok\t200\t262144'
	# the private CA not given: the TLS check and the fetch both fail on it
	run -6 --separate-stderr probe -w 5 -n 1 --url "$HTTP_URL" "https://localhost:$tls_port"
	assert_check FAIL tls "certificate verification failed"
	run -0 --separate-stderr probe -w 5 -n 1 --insecure --url "$HTTP_URL" "https://localhost:$tls_port"
	assert_match "$output" $'\nok +http +http://127\\.0\\.0\\.1:'"$HTTP_PORT"'/data\.bin: HTTP 200, 262144 bytes'
	assert_check warn tls "NOT verified"
	run -0 wait_for_line "$T/tlsserve.err" "http=GET status=200 target=127\.0\.0\.1:$HTTP_PORT "
}
