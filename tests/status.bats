#!/usr/bin/env bats
# status.bats - stp-serve's status page (--stats ADDR:PORT, path /) and its
# JSON (/api/status, /api/sessions, /api/series): the page loaded in
# headless Chromium while traffic runs through the proxy (curl, OpenBSD
# nc), its numbers against /metrics; the JSON shapes checked with jq;
# --stats-users (Basic auth), the loopback rule, bad requests.

load lib/common
bats_require_minimum_version 1.5.0

setup() { stp_setup; }
teardown() { stp_teardown; }

# get PORT PATH [CURL ARGS...]: the body of GET PATH from the stats
# endpoint at 127.0.0.1:PORT.
get() {
	local port=$1 path=$2
	shift 2
	curl -sS --max-time $((10 * STP_SLOW)) "$@" "http://127.0.0.1:$port$path"
}

# code PORT PATH [CURL ARGS...]: the HTTP status of GET PATH.
code() {
	local port=$1 path=$2
	shift 2
	curl -sS --max-time $((10 * STP_SLOW)) -o /dev/null -w '%{http_code}' "$@" \
		"http://127.0.0.1:$port$path"
}

# hold NAME: a CONNECT session through the proxy to the http server that
# stays open (nc's stdin never ends) until teardown.
hold() {
	start_bg "$1" sh -c "sleep 300 | exec nc -X 5 -x 127.0.0.1:$STP_PORT 127.0.0.1 $HTTP_PORT"
}

# open_is PORT N: /metrics says N sessions are open (for wait_until).
open_is() {
	local v
	v=$(stats_value "$1" stp_sessions_open) || return 1
	[ "$v" = "$2" ] || { echo "stp_sessions_open is $v, not $2" >&2; return 1; }
}

# dom PORT: the status page after its scripts ran, from headless Chromium.
dom() {
	# --virtual-time-budget lets the page's fetches finish before the dump
	bounded timeout $((60 * STP_SLOW)) chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$T/chromium" --virtual-time-budget=8000 \
		--dump-dom "http://127.0.0.1:$1/" 2>"$T/chromium.err"
}

# dom_value ID: the data-value of the element with that id in $T/dom.html.
dom_value() {
	grep -o "id=\"$1\" data-value=\"[0-9]*\"" "$T/dom.html" | sed 's/.*data-value="\([0-9]*\)"/\1/'
}

# metric NAME{LABELS}: that sample of $T/metrics, 0 when absent.
metric() {
	# through the environment: awk -v would take the backslashes of \" away
	K="$1" awk '$1 == ENVIRON["K"] { v = $2 } END { print (v == "" ? 0 : v) }' "$T/metrics"
}

@test "the page, loaded in Chromium while a session is open, shows the numbers of /metrics" {
	command -v chromium >/dev/null || skip "chromium is not installed"
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local sport
	sport=$(stats_port)
	# traffic: five downloads that end, one session that stays open
	for n in 1 2 3 4 5; do
		run -0 curl -sS --max-time $((10 * STP_SLOW)) --socks5-hostname "127.0.0.1:$STP_PORT" \
			-o "$T/got.$n" "$HTTP_URL"
	done
	hold held
	wait_until "the held session is open" open_is "$sport" 1
	wait_until "5 sessions counted" stats_at_least "$sport" 'stp_sessions_total{command="connect",result="ok"}' 5
	dom "$sport" >"$T/dom.html"
	get "$sport" /metrics >"$T/metrics"
	grep -q 'data-ready="1"' "$T/dom.html" || { cat "$T/dom.html" "$T/chromium.err"; false; }
	local total
	total=$(awk '/^stp_sessions_total\{/ { n += $2 } END { print n + 0 }' "$T/metrics")
	assert_equal "$(dom_value sessions-open)" "$(metric stp_sessions_open)"
	assert_equal "$(dom_value sessions-open)" 1
	assert_equal "$(dom_value sessions-total)" "$total"
	assert_equal "$(dom_value sessions-total)" 5
	assert_equal "$(dom_value bytes-down)" "$(metric 'stp_bytes_total{direction="down"}')"
	assert_equal "$(dom_value bytes-up)" "$(metric 'stp_bytes_total{direction="up"}')"
	[ "$(dom_value bytes-down)" -ge $((5 * 262144)) ]
	assert_equal "$(dom_value rule-denials)" "$(metric stp_rule_denials_total)"
	# the live session in the sessions table and among the busiest targets
	grep -q "<td>127.0.0.1:$HTTP_PORT</td>" "$T/dom.html"
	grep -q '<td>connect</td>' "$T/dom.html"
	# nothing on the page comes from elsewhere
	run -1 grep -Eo '(src|href)="[a-z]+:' "$T/dom.html"
}

@test "the page's text from clients is text, not markup" {
	command -v chromium >/dev/null || skip "chromium is not installed"
	start_http
	start_stp_serve --stats 127.0.0.1:0 --rules '[{"action":"deny","to":"*.evil"},{"action":"allow"}]'
	local sport
	sport=$(stats_port)
	# a target name with markup in it, refused by the rules: it is listed
	# among the refusals, escaped
	run -12 bounded stp-connect -x "socks5h://127.0.0.1:$STP_PORT" 'x<b>y.evil' 80 </dev/null
	wait_until "the denial counted" stats_at_least "$sport" stp_rule_denials_total 1
	dom "$sport" >"$T/dom.html"
	grep -q 'x&lt;b&gt;y.evil:80' "$T/dom.html"
	run -1 grep -q 'x<b>y' "$T/dom.html"
	grep -q '<td>not allowed by ruleset</td>' "$T/dom.html"
}

@test "/api/status, /api/sessions and /api/series have the documented shapes" {
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local sport
	sport=$(stats_port)
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" "http://127.0.0.1:$(closed_port)/"
	hold held1
	hold held2
	wait_until "two sessions open" open_is "$sport" 2
	get "$sport" /api/status >"$T/status.json"
	jq -e '
	  (.version | type == "string") and (.now_ms | type == "number") and
	  (.uptime_s | type == "number") and .workers == 1 and
	  (.listeners | length == 1) and (.listeners[0] | (.addr == "127.0.0.1") and (.port | type == "number") and .tls == false) and
	  (.total | .sessions_open == 2 and .sessions_total == 2 and .failed_total == 1 and
	    .bytes_down >= 262144 and (.bytes_up | type == "number") and (.max_sessions > 0) and
	    .auth_failures == 0 and .rule_denials == 0 and .refused == 0 and (.resolver_lookups | type == "number")) and
	  (.per_worker | length == 1) and .per_worker[0].worker == 0 and .per_worker[0].sessions_open == 2 and
	  .ended.connect.ok == 1 and .ended.connect.refused == 1 and
	  .open_by_command.connect == 2 and
	  (.top_users | length == 1) and .top_users[0].user == "" and .top_users[0].sessions == 2 and
	  (.top_targets | length == 1) and .top_targets[0].sessions == 2 and
	  (.top_targets[0] | (.target | test(":[0-9]+$")) and (.bytes_up | type == "number") and (.bytes_down | type == "number")) and
	  (.refusals | length == 1) and (.refusals[0] | .command == "connect" and .reason == "connection refused" and
	    (.client | startswith("127.0.0.1:")) and (.t_ms | type == "number") and .user == "")
	' "$T/status.json" || { jq . "$T/status.json"; false; }
	get "$sport" '/api/sessions?limit=1' >"$T/sessions.json"
	jq -e --arg t "127.0.0.1:$HTTP_PORT" '
	  .open == 2 and .limit == 1 and (.sessions | length == 1) and
	  (.sessions[0] | (.id | type == "number") and .user == "" and (.client | startswith("127.0.0.1:")) and
	    .command == "connect" and .target == $t and .state == "active" and
	    (.bytes_up | type == "number") and (.bytes_down | type == "number") and
	    (.age_s | type == "number") and .worker == 0)
	' "$T/sessions.json" || { jq . "$T/sessions.json"; false; }
	get "$sport" /api/sessions >"$T/sessions.json"
	jq -e '.limit == 100 and (.sessions | length == 2) and (.sessions[0].id != .sessions[1].id)' "$T/sessions.json"
	# the series: one sample per 10 s; the first one within 20 s
	WAIT_S=25 wait_until "a sample in the series" sh -c \
		"curl -sS --max-time 10 http://127.0.0.1:$sport/api/series | jq -e '.samples | length >= 1'"
	get "$sport" /api/series >"$T/series.json"
	jq -e '.step_s == 10 and .capacity == 360 and
	  (.samples[0] | (.t_ms | type == "number") and (.bytes_up | type == "number") and
	    (.bytes_down | type == "number") and (.sessions | type == "number") and (.failures | type == "number"))
	' "$T/series.json" || { jq . "$T/series.json"; false; }
}

@test "--workers 2: the page's JSON shows the sum and each worker" {
	start_http
	start_stp_serve --stats 127.0.0.1:0 --workers 2
	local sport
	sport=$(stats_port)
	for n in 1 2 3 4 5 6; do
		run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	done
	wait_until "6 sessions counted" stats_at_least "$sport" 'stp_sessions_total{command="connect",result="ok"}' 6
	get "$sport" /api/status >"$T/status.json"
	get "$sport" /metrics >"$T/metrics"
	jq -e --argjson down "$(metric 'stp_bytes_total{direction="down"}')" '
	  .workers == 2 and (.per_worker | length == 2) and
	  .total.sessions_total == 6 and .total.bytes_down == $down and
	  ([.per_worker[].sessions_total] | add) == 6 and
	  ([.per_worker[].bytes_down] | add) == $down
	' "$T/status.json" || { jq . "$T/status.json"; false; }
}

# hold_at NAME PORT: like hold, through the proxy listener at PORT.
hold_at() {
	start_bg "$1" sh -c "sleep 300 | exec nc -X 5 -x 127.0.0.1:$2 127.0.0.1 $HTTP_PORT"
}

# status_open_is PORT N: /api/status counts N live sessions by command (for
# wait_until: the workers' boards are rewritten once a second).
status_open_is() {
	curl -sS --max-time $((10 * STP_SLOW)) "http://127.0.0.1:$1/api/status" |
		jq -e --argjson n "$2" '([.open_by_command[]] | add // 0) == $n' >/dev/null
}

@test "--workers 2: live sessions, the busiest targets, refusals and /api/sessions are of every worker" {
	start_http
	start_stp_serve --stats 127.0.0.1:0 --workers 2
	local sport n
	sport=$(stats_port)
	# ten connections: the kernel spreads them over both workers'
	# SO_REUSEPORT sockets (all on one: once in 512 runs, and then the
	# workers named below are that one, as its counts say)
	for n in 1 2 3 4 5 6 7 8 9 10; do
		hold_at "held$n" "$STP_PORT"
	done
	for n in 1 2 3; do
		run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" "http://127.0.0.1:$(closed_port)/"
	done
	wait_until "ten sessions open" open_is "$sport" 10
	WAIT_S=15 wait_until "every worker's live sessions on the page" status_open_is "$sport" 10
	get "$sport" /api/status >"$T/status.json"
	jq -e --arg t "127.0.0.1:$HTTP_PORT" '
	  .workers == 2 and .stale_workers == 0 and
	  .open_by_command.connect == 10 and
	  ([.per_worker[].sessions_open] | add) == 10 and
	  .listeners[0].sessions_open == 10 and
	  (.top_targets | length == 1) and .top_targets[0].target == $t and .top_targets[0].sessions == 10 and
	  (.top_users | length == 1) and .top_users[0].sessions == 10 and
	  (.refusals | length == 3) and ([.refusals[].reason] | unique == ["connection refused"]) and
	  ([.refusals[].t_ms] == ([.refusals[].t_ms] | sort | reverse))
	' "$T/status.json" || { jq . "$T/status.json"; false; }
	get "$sport" /api/sessions >"$T/sessions.json"
	local busy
	busy=$(jq -c '[.per_worker | to_entries[] | select(.value.sessions_open > 0) | .key]' "$T/status.json")
	jq -e --arg t "127.0.0.1:$HTTP_PORT" --argjson busy "$busy" '
	  .open == 10 and (.sessions | length == 10) and
	  ([.sessions[] | select(.target == $t and .command == "connect" and .listener == 0)] | length == 10) and
	  ([.sessions[].worker] | unique == $busy)
	' "$T/sessions.json" || { jq . "$T/sessions.json"; false; }
	get "$sport" '/api/sessions?limit=4' >"$T/sessions.json"
	jq -e '.open == 10 and (.sessions | length == 4)' "$T/sessions.json"
}

@test "per listener: sessions open and ended on each" {
	start_http
	start_stp_serve --stats 127.0.0.1:0 -l 127.0.0.1:0
	local sport port2
	sport=$(stats_port)  # printed after every listener's line
	port2=$(grep -E '^listening 127\.0\.0\.1 [0-9]+$' "$STP_LOG" | sed -n 2p | awk '{print $3}')
	[ -n "$port2" ] && [ "$port2" != "$STP_PORT" ]
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$port2" -o /dev/null "$HTTP_URL"
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$port2" -o /dev/null "$HTTP_URL"
	run -0 curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	hold_at held "$port2"
	wait_until "the held session is open" open_is "$sport" 1
	get "$sport" /api/status >"$T/status.json"
	jq -e --argjson p1 "$STP_PORT" --argjson p2 "$port2" '
	  (.listeners | length == 2) and
	  (.listeners[0] | .port == $p1 and .sessions_open == 0 and .sessions_total == 1) and
	  (.listeners[1] | .port == $p2 and .sessions_open == 1 and .sessions_total == 2)
	' "$T/status.json" || { jq . "$T/status.json"; false; }
	get "$sport" /api/sessions >"$T/sessions.json"
	jq -e '.sessions[0].listener == 1' "$T/sessions.json"
}

@test "--stats-users: 401 without or with wrong credentials, 200 with them" {
	start_http
	make_users "$T/stats-users" ops 's3cret pw'
	start_stp_serve --stats 127.0.0.1:0 --stats-users "$T/stats-users"
	local sport
	sport=$(stats_port)
	for path in / /metrics /api/status /api/sessions /api/series; do
		assert_equal "$(code "$sport" "$path")" 401
	done
	get "$sport" /metrics -D "$T/head" -o /dev/null
	grep -qi '^WWW-Authenticate: Basic realm="stp-serve"' "$T/head"
	assert_equal "$(code "$sport" /metrics -u ops:wrong)" 401
	assert_equal "$(code "$sport" /metrics -u nobody:'s3cret pw')" 401
	assert_equal "$(code "$sport" /metrics -H 'Authorization: Basic !!!!')" 401
	for path in / /metrics /api/status /api/sessions /api/series; do
		assert_equal "$(code "$sport" "$path" -u ops:'s3cret pw')" 200
	done
	# a remembered password costs no new check: many quick answers
	for n in 1 2 3 4 5 6 7 8 9 10; do
		assert_equal "$(code "$sport" /api/status -u ops:'s3cret pw')" 200
	done
	# the proxy itself is not affected
	stp_serve_alive
}

@test "--stats off loopback needs --stats-users or --open; a bad --stats-users file is refused" {
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --stats 0.0.0.0:0
	assert_equal "$stderr" "stp-serve: --stats 0.0.0.0:0: not a loopback address: anyone who reaches it would see every session (give --stats-users FILE, or --open if you mean it); try 'stp-serve --help'"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --stats '[::]:0'
	assert_match "$stderr" "^stp-serve: --stats \[::\]:0: not a loopback address"
	# with either, the check passes: the next step (binding an address this
	# host does not have, TEST-NET-1) is what fails
	make_users "$T/stats-users" ops pw
	run --separate-stderr stp-serve -l 127.0.0.1:0 --stats 192.0.2.1:0 --stats-users "$T/stats-users"
	[ "$status" -ne 0 ]
	assert_match "$stderr" "^stp-serve: --stats.*192\.0\.2\.1"
	run -1 grep -q 'not a loopback' <<<"$stderr"
	run --separate-stderr stp-serve -l 127.0.0.1:0 --stats 192.0.2.1:0 --open
	[ "$status" -ne 0 ]
	run -1 grep -q 'not a loopback' <<<"$stderr"
	# a users file with a plain-text password is refused, naming the line
	printf 'ops:plaintext\n' >"$T/bad-users"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --stats 127.0.0.1:0 --stats-users "$T/bad-users"
	assert_match "$stderr" "^stp-serve: --stats-users: .*bad-users:1"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --stats 127.0.0.1:0 --stats-users "$T/none"
	assert_match "$stderr" "^stp-serve: --stats-users"
}

@test "bad requests: unknown path 404, bad ?limit= 400, huge headers 431, a slow client closed; the server keeps serving" {
	start_http
	start_stp_serve --stats 127.0.0.1:0
	local sport
	sport=$(stats_port)
	assert_equal "$(code "$sport" /api/nope)" 404
	assert_equal "$(code "$sport" /api)" 404
	assert_equal "$(code "$sport" /api/sessions/)" 404
	assert_equal "$(code "$sport" /api/status -X POST)" 404
	assert_equal "$(code "$sport" '/api/sessions?limit=0')" 400
	assert_equal "$(code "$sport" '/api/sessions?limit=x')" 400
	assert_equal "$(code "$sport" '/api/sessions?limit=10001')" 400
	assert_equal "$(code "$sport" '/api/sessions?limit=10000')" 200
	assert_equal "$(code "$sport" '/?cachebuster=1')" 200
	assert_equal "$(code "$sport" / -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' a)")" 431
	# slowloris: a request line, then a header byte now and then; cut off
	# at the 5 s limit for the whole exchange
	run -0 "$PY" -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"GET /api/status HTTP/1.1\r\n")
t = time.monotonic()
try:
    while time.monotonic() - t < 15:
        s.sendall(b"X")
        s.settimeout(1)
        try:
            if s.recv(100) == b"":
                break
        except socket.timeout:
            pass
except (BrokenPipeError, ConnectionResetError):
    pass
print("closed", round(time.monotonic() - t))' "$sport"
	assert_match "$output" '^closed ([4-9]|1[0-4])$'
	# the endpoint and the proxy both still serve
	assert_equal "$(code "$sport" /api/status)" 200
	assert_equal "$(code "$sport" /)" 200
	stp_serve_alive
}

@test "the page is one self-contained HTML document" {
	start_stp_serve --stats 127.0.0.1:0
	local sport
	sport=$(stats_port)
	get "$sport" / -D "$T/head" -o "$T/page.html"
	grep -qi '^Content-Type: text/html; charset=utf-8' "$T/head"
	cmp "$T/page.html" "$STP_TOP/libcommon/server/statspage.html"
	# no resource from anywhere else: no src= or href= with a scheme or //
	run -1 grep -Eio '(src|href|url)[=(]["'"'"']?(https?:|//)' "$T/page.html"
	# small enough to read in one sitting
	[ "$(wc -c <"$T/page.html")" -lt 16384 ]
}

@test "--stats-per-user: sessions and bytes by authenticated user, names escaped; off by default" {
	start_http
	make_users "$T/users" alice pw 'b"ob' pw2
	start_stp_serve --stats 127.0.0.1:0 --users "$T/users" --stats-per-user
	local sport
	sport=$(stats_port)
	for n in 1 2 3; do
		run -0 curl -sS --max-time 10 --socks5-hostname "alice:pw@127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	done
	run -0 curl -sS --max-time 10 --socks5-hostname "b%22ob:pw2@127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	run -97 curl -sS --max-time 10 --socks5-hostname "alice:wrong@127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	wait_until "4 sessions counted" stats_at_least "$sport" 'stp_sessions_total{command="connect",result="ok"}' 4
	get "$sport" /metrics >"$T/metrics"
	assert_equal "$(metric 'stp_user_sessions_total{user="alice"}')" 3
	assert_equal "$(metric 'stp_user_sessions_total{user="b\"ob"}')" 1
	[ "$(metric 'stp_user_bytes_total{user="alice",direction="down"}')" -ge $((3 * 262144)) ]
	[ "$(metric 'stp_user_bytes_total{user="b\"ob",direction="down"}')" -ge 262144 ]
	# a refused login is nobody's session
	assert_equal "$(grep -c '^stp_user_sessions_total{' "$T/metrics")" 2
	grep -q '^# TYPE stp_user_bytes_total counter$' "$T/metrics"
	# without the option: no such metric
	start_stp_serve --stats 127.0.0.1:0 --users "$T/users"
	sport=$(stats_port "$STP_LOG_2")
	run -0 curl -sS --max-time 10 --socks5-hostname "alice:pw@127.0.0.1:$STP_PORT_2" -o /dev/null "$HTTP_URL"
	wait_until "the session counted" stats_at_least "$sport" 'stp_sessions_total{command="connect",result="ok"}' 1
	run -1 grep -q stp_user_ <(get "$sport" /metrics)
	# and without --stats, both options are usage errors
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --stats-per-user
	assert_equal "$stderr" "stp-serve: --stats-users and --stats-per-user are for --stats ADDR:PORT; try 'stp-serve --help'"
}

@test "the Grafana dashboard is JSON and every metric it queries is in /metrics" {
	local dash="$STP_TOP/tools/grafana/stp-serve.json"
	jq -e '.title == "stp-serve" and (.panels | length > 5)' "$dash"
	start_http
	make_users "$T/users" alice pw
	start_stp_serve --stats 127.0.0.1:0 --users "$T/users" --stats-per-user
	local sport name
	sport=$(stats_port)
	run -0 curl -sS --max-time 10 --socks5-hostname "alice:pw@127.0.0.1:$STP_PORT" -o /dev/null "$HTTP_URL"
	wait_until "the session counted" stats_at_least "$sport" 'stp_sessions_total{command="connect",result="ok"}' 1
	get "$sport" /metrics >"$T/metrics"
	jq -r '(.. | objects | select(has("expr")) | .expr), (.templating.list[].query | strings)' "$dash" >"$T/exprs"
	[ -s "$T/exprs" ]
	grep -o 'stp_[a-z_]*' "$T/exprs" | sort -u >"$T/names"
	[ "$(wc -l <"$T/names")" -ge 10 ]
	while read -r name; do
		grep -Eq "^$name(\{| )" "$T/metrics" || { echo "the dashboard queries $name; /metrics has no such sample" >&2; false; }
	done <"$T/names"
}
