#!/usr/bin/env bats
# Issue 16 items 12-14: stp-bind -p (the port asked for on the proxy, with
# ncat as the peer), --keepalive on the clients and on stp-serve (read from
# the outside with ss), and the time and durations of session log lines.

bats_require_minimum_version 1.5.0
load lib/common

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# bound_addr FILE: waits for stp-bind's --addr-file, sets ADDR and PORT.
bound_addr() {
	wait_until "stp-bind wrote $1" test -s "$1" || return 1
	read -r ADDR PORT <"$1"
}

# keepalive_of SS-FILTER...: the keepalive timer of the one established
# TCP socket that ss finds with the filter, in whole seconds left, or
# "none" when the socket has no keepalive timer.
keepalive_of() {
	local out n
	out=$(ss -Htno state established "$@") || return 1
	n=$(grep -c . <<<"$out" || true)
	if [ "$n" -ne 1 ]; then
		echo "ss $*: $n sockets, not 1: $out" >&2
		return 1
	fi
	# ss writes the time left as "22sec", "1min5sec" or "7.120ms" (7.12 s)
	if [[ $out =~ timer:\(keepalive,(([0-9]+)min)?(([0-9]+)(sec|\.))? ]]; then
		echo $((${BASH_REMATCH[2]:-0} * 60 + ${BASH_REMATCH[4]:-0}))
	else
		echo none
	fi
}

# keepalive_armed FILTER...: the one such socket shows the keepalive timer
# (for wait_until: while a segment waits for its ACK, ss shows the
# retransmission timer instead, e.g. until a delayed ACK comes).
keepalive_armed() {
	local t
	t=$(keepalive_of "$@") && [ "$t" != none ]
}

# in_range VALUE MIN MAX
in_range() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ||
		{ echo "'$1' is not within $2..$3" >&2; return 1; }
}

# established FILTER...: ss lists at least one such socket (for wait_until).
established() {
	[ -n "$(ss -Htn state established "$@")" ]
}

# --------------------------------------------------------------- stp-bind -p

@test "stp-bind -p PORT: stp-serve listens on that port, ncat connects to it, bytes both ways" {
	start_stp_serve
	local want
	want=$(free_port)
	printf 'from binder\n' >"$T/in"
	start_bg_stdin binder "$T/in" stp-bind -x "127.0.0.1:$STP_PORT" -p "$want" --addr-file "$T/addr"
	bound_addr "$T/addr"
	assert_equal "$PORT" "$want"
	run -0 wait_for_line "$T/binder.err" "^bound 127\\.0\\.0\\.1 $want\$"
	# the peer reads to the end too: with --send-only it would close at
	# once, and the binder's bytes could meet a reset
	run -0 --separate-stderr bounded bash -c "printf 'from peer\n' | ncat 127.0.0.1 $want"
	assert_equal "$output" "from binder"
	wait_exit "${BG_PID[binder]}" 10
	assert_equal "$(cat "$T/binder.out")" "from peer"
	run -0 wait_for_line "$STP_LOG" "stp-serve: session .* cmd=bind target=0\\.0\\.0\\.0:$want .*result=\"ok\""
}

@test "stp-bind -k -p PORT: a reverse tunnel on a chosen port (BIND_MULTI), two ncat peers" {
	start_echo
	start_stp_serve
	local want
	want=$(free_port)
	start_bg binder stp-bind -k -x "127.0.0.1:$STP_PORT" -p "$want" -F "127.0.0.1:$ECHO_PORT"
	run -0 wait_for_line "$T/binder.err" "^bound 127\\.0\\.0\\.1 $want\$"
	run -0 --separate-stderr bounded bash -c "printf 'one\n' | ncat 127.0.0.1 $want"
	assert_equal "$output" "one"
	run -0 --separate-stderr bounded bash -c "printf 'two\n' | ncat 127.0.0.1 $want"
	assert_equal "$output" "two"
}

@test "stp-bind -p: a port taken on the proxy: exit 11, 'port N is not available on the proxy'" {
	start_stp_serve
	local taken
	taken=$(free_port)
	start_bg holder ncat -l -k 127.0.0.1 "$taken"
	wait_for_port "$taken"
	TMO=10 run -11 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" -p "$taken" </dev/null
	assert_equal "$output" ""
	assert_equal "$stderr" "stp-bind: port $taken is not available on the proxy: proxy 127.0.0.1:$STP_PORT refused BIND 0.0.0.0:$taken: general failure (reply 1)"
	# BIND_MULTI has an STP reply for it: X'C5', address in use
	TMO=10 run -11 --separate-stderr bounded stp-bind -k -x "127.0.0.1:$STP_PORT" -p "$taken" </dev/null
	assert_match "$stderr" "^stp-bind: port $taken is not available on the proxy: .*refused BIND_MULTI 0\\.0\\.0\\.0:$taken: address in use"
}

@test "stp-bind -p: ports below 1024 are refused by default (exit 12); --bind-ports and its config key decide" {
	start_stp_serve
	TMO=10 run -12 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" -p 1023 </dev/null
	assert_equal "$stderr" "stp-bind: port 1023 is not available on the proxy: proxy 127.0.0.1:$STP_PORT refused BIND 0.0.0.0:1023: not allowed by ruleset (reply 2)"
	run -0 grep -F "bind: port 1023 refused: outside --bind-ports 1024-65535" "$STP_LOG"
	# a range from the configuration file
	local lo hi
	lo=$(free_port)
	hi=$((lo + 1))
	printf '{"listen": ["127.0.0.1:0"], "bind-ports": "%s-%s"}\n' "$lo" "$lo" >"$T/stp.json"
	start_bg confserve stp-serve -c "$T/stp.json"
	local cport
	cport=$(_listen_port confserve)
	TMO=10 run -12 --separate-stderr bounded stp-bind -x "127.0.0.1:$cport" -p "$hi" </dev/null
	assert_match "$stderr" "^stp-bind: port $hi is not available on the proxy: "
	start_bg binder stp-bind -x "127.0.0.1:$cport" -p "$lo"
	run -0 wait_for_line "$T/binder.err" "^bound 127\\.0\\.0\\.1 $lo\$"
	# none: no port may be asked for; any port still works
	start_stp_serve --bind-ports none
	TMO=10 run -12 --separate-stderr bounded stp-bind -x "127.0.0.1:$STP_PORT" -p "$hi" </dev/null
	start_bg anyport stp-bind -x "127.0.0.1:$STP_PORT"
	run -0 wait_for_line "$T/anyport.err" '^bound 127\.0\.0\.1 [0-9]+$'
	run -2 --separate-stderr stp-serve --bind-ports 2000-1000
	assert_match "$stderr" "^stp-serve: --bind-ports: 2000 is above 1000 in '2000-1000'"
	run -2 --separate-stderr stp-serve --bind-ports 0-10
	assert_match "$stderr" "^stp-serve: --bind-ports: expected MIN-MAX"
}

@test "stp-bind: -p does not go with PEER; a bad -p is a usage error" {
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 -p 5000 127.0.0.1
	assert_equal "$stderr" "stp-bind: -p asks for a port that any peer may connect to: it does not go with PEER; try 'stp-bind --help'"
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 -p 0
	assert_match "$stderr" "^stp-bind: -p: bad port '0'"
	run -2 --separate-stderr stp-bind -x 127.0.0.1:1 -p 65536
	assert_match "$stderr" "^stp-bind: -p: bad port '65536'"
}

@test "stp-bind PEER PORT: the expected peer's port is not taken as the port to listen on" {
	# RFC 1928 clients name their peer in DST; only with DST.ADDR 0.0.0.0
	# is DST.PORT a port asked for (guard: this worked before -p too)
	start_stp_serve
	local p
	p=$(free_port)
	start_bg binder stp-bind -x "127.0.0.1:$STP_PORT" --addr-file "$T/addr" 127.0.0.1 "$p"
	bound_addr "$T/addr"
	[ "$PORT" != "$p" ]
}

# ---------------------------------------------------------------- keepalive

@test "--keepalive on stp-connect: its connection to the proxy has the timer, stp-serve's sockets do not" {
	start_echo
	start_stp_serve
	start_bg conn bash -c "sleep 30 | stp-connect --keepalive 23 -x 127.0.0.1:$STP_PORT 127.0.0.1 $ECHO_PORT"
	wait_until "the session is relaying" established "( sport = :$ECHO_PORT )"
	wait_until "the keepalive timer of ( dport = :$STP_PORT )" keepalive_armed "( dport = :$STP_PORT )"
	run -0 keepalive_of "( dport = :$STP_PORT )"
	in_range "$output" 18 23
	run -0 keepalive_of "( sport = :$STP_PORT )"
	assert_equal "$output" none
	run -0 keepalive_of "( dport = :$ECHO_PORT )"
	assert_equal "$output" none
}

@test "--keepalive on stp-serve (config key): the client's and the target's sockets; none on the client without it" {
	start_echo
	printf '{"listen": ["127.0.0.1:0"], "keepalive": 37}\n' >"$T/stp.json"
	start_bg ka stp-serve -c "$T/stp.json"
	local port
	port=$(_listen_port ka)
	start_bg conn bash -c "sleep 30 | stp-connect -x 127.0.0.1:$port 127.0.0.1 $ECHO_PORT"
	wait_until "the session is relaying" established "( sport = :$ECHO_PORT )"
	wait_until "the keepalive timer of ( sport = :$port )" keepalive_armed "( sport = :$port )"
	run -0 keepalive_of "( sport = :$port )"
	in_range "$output" 32 37
	wait_until "the keepalive timer of ( dport = :$ECHO_PORT )" keepalive_armed "( dport = :$ECHO_PORT )"
	run -0 keepalive_of "( dport = :$ECHO_PORT )"
	in_range "$output" 32 37
	run -0 keepalive_of "( dport = :$port )"
	assert_equal "$output" none
	run -0 keepalive_of "( sport = :$ECHO_PORT )"
	assert_equal "$output" none
}

@test "--keepalive on stp-bind, stp-udp and stp-udp --tcp: the control connection to the proxy" {
	start_stp_serve
	start_bg binder stp-bind --keepalive 25 -x "127.0.0.1:$STP_PORT"
	run -0 wait_for_line "$T/binder.err" '^bound '
	wait_until "the keepalive timer of ( dport = :$STP_PORT )" keepalive_armed "( dport = :$STP_PORT )"
	run -0 keepalive_of "( dport = :$STP_PORT )"
	in_range "$output" 20 25
	# a server of its own each, so that ss sees one connection to it
	start_stp_serve
	start_bg udp bash -c "sleep 30 | stp-udp --keepalive 45 -x 127.0.0.1:$STP_PORT 127.0.0.1 9"
	wait_until "stp-udp holds its control connection" established "( sport = :$STP_PORT )"
	wait_until "the keepalive timer of ( dport = :$STP_PORT )" keepalive_armed "( dport = :$STP_PORT )"
	run -0 keepalive_of "( dport = :$STP_PORT )"
	in_range "$output" 40 45
	start_stp_serve
	start_bg udptcp bash -c "sleep 30 | stp-udp --tcp --keepalive 50 -x 127.0.0.1:$STP_PORT 127.0.0.1 9"
	wait_until "stp-udp --tcp holds its connection" established "( sport = :$STP_PORT )"
	wait_until "the keepalive timer of ( dport = :$STP_PORT )" keepalive_armed "( dport = :$STP_PORT )"
	run -0 keepalive_of "( dport = :$STP_PORT )"
	in_range "$output" 45 50
}

@test "--keepalive: bad values are usage errors that name the option" {
	run -2 --separate-stderr stp-connect --keepalive 0 -x 127.0.0.1:1 h 1
	assert_match "$stderr" "^stp-connect: --keepalive: "
	run -2 --separate-stderr stp-connect --keepalive soon -x 127.0.0.1:1 h 1
	assert_match "$stderr" "^stp-connect: --keepalive: "
	run -2 --separate-stderr stp-serve --keepalive 40000
	assert_match "$stderr" "^stp-serve: --keepalive: "
}

# ----------------------------------------------------------- log timestamps

@test "text session lines start with an RFC 3339 UTC time, within seconds of now" {
	start_echo
	start_stp_serve
	run -0 --separate-stderr bounded bash -c "printf 'x' | stp-connect -x 127.0.0.1:$STP_PORT 127.0.0.1 $ECHO_PORT"
	local line ts t now
	line=$(wait_for_line "$STP_LOG" 'stp-serve: session client=')
	assert_match "$line" "^$TS_RE stp-serve: session client=127\\.0\\.0\\.1:[0-9]+ user=- cmd=connect "
	ts=${line%% *}
	t=$(date -u -d "$ts" +%s)
	now=$(date -u +%s)
	[ $((now - t)) -ge -2 ] && [ $((now - t)) -le 5 ]
	# the other diagnostics keep their form
	run -0 grep -E '^listening 127\.0\.0\.1 [0-9]+$' "$STP_LOG"
}

@test "JSON session lines: \"ts\" first, parseable and recent; the duration has at most 3 decimals" {
	start_echo
	start_stp_serve --log-format json
	local n
	for n in 1 2 3; do
		run -0 --separate-stderr bounded bash -c "{ printf x; sleep 0.3$n; } | stp-connect -x 127.0.0.1:$STP_PORT 127.0.0.1 $ECHO_PORT"
	done
	wait_until "three session lines" lines_at_least "$STP_LOG" '"event":"session"' 3
	grep '"event":"session"' "$STP_LOG" >"$T/lines.json"
	run -0 jq -r 'keys_unsorted[0]' "$T/lines.json"
	assert_equal "$output" $'ts\nts\nts'
	local ts t now
	while read -r ts; do
		assert_match "$ts" "^$TS_RE\$"
		t=$(date -u -d "$ts" +%s)
		now=$(date -u +%s)
		[ $((now - t)) -ge -2 ] && [ $((now - t)) -le 10 ]
	done < <(jq -r .ts "$T/lines.json")
	# the number as written, not as jq reads it: 0.312, not 0.31209999999999999
	run -0 grep -oE '"duration":[^,]*' "$T/lines.json"
	assert_equal "${#lines[@]}" 3
	local d
	for d in "${lines[@]}"; do
		assert_match "$d" '^"duration":[0-9]+(\.[0-9]{1,3})?$'
	done
}
