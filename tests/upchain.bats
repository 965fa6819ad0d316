#!/usr/bin/env bats
# upchain.bats - stp-serve --upstream-chain and --upstream-strategy: two
# stp-serve instances (and Dante) as alternative upstream chains, their
# health checks, failover when one is killed (the time it takes), the
# chain taken back when it answers again, round-robin and hash-user,
# SIGHUP reloading the chains, and the chains' health in --stats
# (/metrics, /api/status).

load lib/common
bats_require_minimum_version 1.5.0

setup() { stp_setup; }
teardown() { stp_teardown; }

# api PORT: /api/status of the --stats endpoint at PORT.
api() {
	curl -sS --max-time $((10 * STP_SLOW)) "http://127.0.0.1:$1/api/status"
}

# chain_state_is PORT K STATE: chain K (1-based) is STATE in /api/status.
chain_state_is() {
	api "$1" | jq -e --argjson k "$2" --arg s "$3" '.upstreams[$k - 1].state == $s' >/dev/null
}

# dom PORT: the status page after its scripts ran, from headless Chromium.
dom() {
	bounded timeout $((60 * STP_SLOW)) chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$T/chromium" --virtual-time-budget=8000 \
		--dump-dom "http://127.0.0.1:$1/" 2>"$T/chromium.err"
}

# fetch PORT: one download through the proxy at PORT, checked.
fetch() {
	local out="$T/got.$RANDOM"
	curl -sS --max-time $((10 * STP_SLOW)) --socks5-hostname "127.0.0.1:$1" -o "$out" "$HTTP_URL" &&
		cmp -s "$out" "$HTTP_FILE"
}

# two_upstreams: starts two stp-serve upstreams; U1, U2 their ports, U1_PID.
two_upstreams() {
	start_stp_serve
	U1=$STP_PORT U1_PID=$STP_SERVE_PID
	start_stp_serve
	U2=$STP_PORT
}

@test "failover: a killed upstream is skipped (no new session fails), the time quoted; taken back when it answers again" {
	start_http
	two_upstreams
	start_stp_serve --stats 127.0.0.1:0 \
		--upstream-chain "socks5h://127.0.0.1:$U1" --upstream-chain "socks5h://127.0.0.1:$U2"
	local front=$STP_PORT sport t0 t1 n
	sport=$(stats_port)
	wait_until "chain 1 up" chain_state_is "$sport" 1 up
	wait_until "chain 2 up" chain_state_is "$sport" 2 up
	for n in 1 2 3; do fetch "$front"; done
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')" 3
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="2",result="ok"}')" 0
	# kill the first chain's proxy; every new session still gets through
	kill -KILL "$U1_PID"
	t0=$(_now_ms)
	fetch "$front"  # at once: this session finds chain 1 dead and goes on to chain 2
	WAIT_S=5 wait_until "chain 1 seen down" chain_state_is "$sport" 1 down
	t1=$(_now_ms)
	echo "# failover: chain 1 marked down $((t1 - t0)) ms after the kill" >&3
	[ $((t1 - t0)) -le $((3000 * STP_SLOW)) ]
	for n in 1 2 3 4 5; do fetch "$front"; done
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')" 3
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="2",result="ok"}')" 6
	assert_equal "$(stats_value "$sport" 'stp_upstream_up{chain="1"}')" 0
	api "$sport" >"$T/status.json"
	jq -e --arg h "socks5h://127.0.0.1:$U1" '
	  .upstreams[0] | .hops == $h and .up == false and .checked == true and
	  (.last_error | test("refused")) and (.last_error_ms | type == "number") and
	  (.last_ok_ms | type == "number") and .sessions == 3 and (.failures | type == "number")
	' "$T/status.json" || { jq . "$T/status.json"; false; }
	grep -q "upstream chain 1 (socks5h://127.0.0.1:$U1): down" "$STP_LOG"
	# the status page shows it, in Chromium
	if command -v chromium >/dev/null; then
		dom "$sport" >"$T/dom.html"
		grep -q 'data-ready="1"' "$T/dom.html" || { cat "$T/dom.html" "$T/chromium.err"; false; }
		grep -Eq "<tr><td class=\"n\">1</td><td>socks5h://127.0.0.1:$U1</td><td>down</td>" "$T/dom.html"
		grep -Eq "<tr><td class=\"n\">2</td><td>socks5h://127.0.0.1:$U2</td><td>up</td>" "$T/dom.html"
	fi
	# the proxy answers again on its port: chain 1 is taken back
	start_bg u1again stp-serve -l "127.0.0.1:$U1"
	_listen_port u1again >/dev/null
	t0=$(_now_ms)
	WAIT_S=5 wait_until "chain 1 up again" chain_state_is "$sport" 1 up
	t1=$(_now_ms)
	echo "# recovery: chain 1 taken back $((t1 - t0)) ms after it listened again" >&3
	for n in 1 2; do fetch "$front"; done
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')" 5
	api "$sport" >"$T/status.json"
	jq -e '.upstreams[0] | .up == true and (.rtt_ms | type == "number")' "$T/status.json"
}

@test "round-robin takes the chains in turn; hash-user keeps one client on one chain" {
	start_http
	two_upstreams
	start_stp_serve --stats 127.0.0.1:0 --upstream-strategy round-robin \
		--upstream-chain "socks5h://127.0.0.1:$U1" --upstream-chain "socks5h://127.0.0.1:$U2"
	local front=$STP_PORT sport n
	sport=$(stats_port)
	wait_until "chain 2 up" chain_state_is "$sport" 2 up
	for n in 1 2 3 4; do fetch "$front"; done
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')" 2
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="2",result="ok"}')" 2
	start_stp_serve --stats 127.0.0.1:0 --upstream-strategy hash-user \
		--upstream-chain "socks5h://127.0.0.1:$U1" --upstream-chain "socks5h://127.0.0.1:$U2"
	front=$STP_PORT
	sport=$(stats_port)
	wait_until "chain 2 up" chain_state_is "$sport" 2 up
	for n in 1 2 3 4; do fetch "$front"; done
	local a b
	a=$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')
	b=$(stats_value "$sport" 'stp_upstream_sessions_total{chain="2",result="ok"}')
	[ $((a + b)) -eq 4 ] && { [ "$a" -eq 4 ] || [ "$b" -eq 4 ]; }
}

@test "a Dante upstream as the second chain; --upstream stays the first chain" {
	start_http
	start_dante
	start_stp_serve
	local u1=$STP_PORT
	start_stp_serve --stats 127.0.0.1:0 --upstream "socks5h://127.0.0.1:$u1" \
		--upstream-chain "socks5://127.0.0.1:$DANTE_PORT"
	local front=$STP_PORT sport
	sport=$(stats_port)
	wait_until "chain 2 (Dante) up" chain_state_is "$sport" 2 up
	fetch "$front"
	assert_equal "$(stats_value "$sport" 'stp_upstream_sessions_total{chain="1",result="ok"}')" 1
	api "$sport" >"$T/status.json"
	jq -e --arg d "socks5://127.0.0.1:$DANTE_PORT" '
	  (.upstreams | length == 2) and .upstreams[1].hops == $d and .upstreams[1].checked == true
	' "$T/status.json" || { jq . "$T/status.json"; false; }
}

@test "SIGHUP reloads the upstream chains" {
	start_http
	two_upstreams
	printf '{ "upstream_chains": [["socks5h://127.0.0.1:%s"]] }\n' "$U1" >"$T/cfg.json"
	start_stp_serve -c "$T/cfg.json" --stats 127.0.0.1:0
	local front=$STP_PORT sport
	sport=$(stats_port)
	fetch "$front"
	api "$sport" | jq -e --arg h "socks5h://127.0.0.1:$U1" '.upstreams | length == 1 and .[0].hops == $h'
	printf '{ "upstream_chains": [["socks5h://127.0.0.1:%s"], ["socks5h://127.0.0.1:%s"]] }\n' \
		"$U2" "$U1" >"$T/cfg.json"
	kill -HUP "$STP_SERVE_PID"
	wait_for_line "$STP_LOG" 'SIGHUP: reloaded' >/dev/null
	api "$sport" | jq -e --arg a "socks5h://127.0.0.1:$U2" --arg b "socks5h://127.0.0.1:$U1" \
		'.upstreams | length == 2 and .[0].hops == $a and .[1].hops == $b'
	fetch "$front"
	# the second session went through the new first chain: U2 logged it
	wait_for_line "$STP_LOG_2" 'session .*result="?ok' >/dev/null
}

@test "bad --upstream-chain and --upstream-strategy values are usage errors" {
	run -2 --separate-stderr stp-serve --upstream-strategy sometimes
	assert_match "$stderr" "upstream-strategy: 'sometimes' is not failover, round-robin or hash-user"
	run -2 --separate-stderr stp-serve --upstream-chain "socks5h://127.0.0.1:1,ftp://x:1"
	assert_match "$stderr" "upstream-chain"
	run -2 --separate-stderr stp-serve --upstream-chain "socks5h://127.0.0.1:1" --upstream-mux
	assert_match "$stderr" "upstream-mux"
}
