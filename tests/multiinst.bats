#!/usr/bin/env bats
# Several instances of stp-serve: BIND_MULTI (stp-bind -k) whose ATTACH
# connections land elsewhere than the listener that holds their peer.
# With --workers 2 the kernel spreads ATTACHes over both worker processes
# and the one without the ticket hands the client over (handoff.c); behind
# HAProxy (tools/haproxy-stp.cfg, send-proxy-v2, round robin) each instance
# names its own frontend with --attach-at and stp-bind attaches there.

bats_require_minimum_version 1.5.0
load lib/common

# echo_conns PORT N TAG: N connections, one after another, to 127.0.0.1:PORT
# (an stp-bind -k -e cat listener): each sends its own line and must get it
# back. Prints how many did; fails unless all did.
echo_conns() {
	local port=$1 n=$2 tag=$3 k got ok=0
	for ((k = 1; k <= n; k++)); do
		got=$(printf '%s %d %s\n' "$tag" "$k" "$RANDOM$RANDOM" | tee "$T/sent.$tag.$k" |
			bounded ncat 127.0.0.1 "$port" 2>/dev/null | head -1) || true
		[ "$got" = "$(cat "$T/sent.$tag.$k")" ] && ok=$((ok + 1))
	done
	echo "$ok"
	[ "$ok" -eq "$n" ]
}

# start_bind_k NAME URL [ARGS...]: stp-bind -k -e cat through URL; prints
# the port peers connect to.
start_bind_k() {
	local name=$1 url=$2 line
	shift 2
	start_bg "$name" stp-bind -x "$url" -k -e cat -v "$@"
	line=$(wait_for_line "$T/$name.err" '^bound [0-9.]+ [0-9]+$') || return 1
	echo "${line##* }"
}

@test "--workers 2: 20 peers of one stp-bind -k all attached with their bytes, on whichever worker the ATTACH lands" {
	start_stp_serve --workers 2 -v
	local bport out
	bport=$(start_bind_k bind "127.0.0.1:$STP_PORT")
	run -0 echo_conns "$bport" 20 w
	assert_equal "$output" 20
	run -0 wait_until "20 attach sessions logged" \
		lines_at_least "$STP_LOG" 'cmd=attach .*result="ok"' 20
	# each session logged once, by the worker that served it
	assert_equal "$(grep -c 'cmd=attach ' "$STP_LOG")" 20
	# both workers took ATTACHes: some were handed over, some were not
	# (all 20 on one worker: a 1 in 2^19 chance)
	out=$(grep -cE 'attach: ticket of worker [12] handed over from worker [12]$' "$STP_LOG") || true
	[ "$out" -ge 1 ] && [ "$out" -le 19 ] || {
		echo "hand-overs: $out of 20" >&2
		cat "$STP_LOG" >&2
		false
	}
	run -1 grep -E 'unknown or expired ticket|cannot hand' "$STP_LOG" "$T/bind.err"
}

@test "--workers 2 on a TLS listener: ATTACHes that land on the other worker are relayed there" {
	make_pki "$T/pki"
	start_bg stp-serve stp-serve --tls-listen 127.0.0.1:0 --cert "$T/pki/srv.pem" \
		--key "$T/pki/srv.key" --workers 2 -v
	STP_LOG="$T/stp-serve.err"
	local line port bport out
	line=$(wait_for_line "$STP_LOG" '^listening 127\.0\.0\.1 [0-9]+ tls$')
	port=${line#listening 127.0.0.1 }
	port=${port% tls}
	bport=$(start_bind_k bind "socks5hs://localhost:$port" --cacert "$T/pki/ca.pem")
	run -0 echo_conns "$bport" 16 t
	assert_equal "$output" 16
	out=$(grep -cE 'attach: ticket of worker [12] relayed from worker [12]$' "$STP_LOG") || true
	[ "$out" -ge 1 ] && [ "$out" -le 15 ] || {
		echo "relayed: $out of 16" >&2
		cat "$STP_LOG" >&2
		false
	}
}

# start_pair [ATTACH_AT]: two instances behind HAProxy running
# tools/haproxy-stp.cfg with its ports changed; with ATTACH_AT=yes each
# names its own frontend with --attach-at. Sets LB (the balanced port) and
# STP_LOG_1, STP_LOG_2.
start_pair() {
	local f1 f2 conf
	f1=$(free_port)
	f2=$(free_port)
	if [ "${1:-}" = yes ]; then
		start_stp_serve --proxy-protocol 127.0.0.1/32 --attach-at "127.0.0.1:$f1" -v
		start_stp_serve --proxy-protocol 127.0.0.1/32 --attach-at "127.0.0.1:$f2" -v
	else
		start_stp_serve --proxy-protocol 127.0.0.1/32 -v
		start_stp_serve --proxy-protocol 127.0.0.1/32 -v
	fi
	LB=$(free_port)
	conf="$T/haproxy.cfg"
	sed -e "s/127\.0\.0\.1:1080\$/127.0.0.1:$LB/" \
		-e "s/127\.0\.0\.1:1081 send-proxy-v2/127.0.0.1:$STP_PORT_1 send-proxy-v2/" \
		-e "s/127\.0\.0\.1:1082 send-proxy-v2/127.0.0.1:$STP_PORT_2 send-proxy-v2/" \
		-e "s/127\.0\.0\.1:1091\$/127.0.0.1:$f1/" \
		-e "s/127\.0\.0\.1:1092\$/127.0.0.1:$f2/" \
		"$STP_TOP/tools/haproxy-stp.cfg" >"$conf"
	[ "$(grep -cE "bind 127\.0\.0\.1:($LB|$f1|$f2)\$" "$conf")" -eq 3 ] &&
		[ "$(grep -cE "server s[12] 127\.0\.0\.1:($STP_PORT_1|$STP_PORT_2) send-proxy-v2\$" "$conf")" -eq 4 ] || {
		echo "start_pair: tools/haproxy-stp.cfg does not have the expected lines" >&2
		return 1
	}
	start_bg haproxy haproxy -db -f "$conf"
	WAIT_S=5 wait_until "haproxy listening" ha_listening "$LB" "$f1" "$f2"
}

# ha_listening PORT...: something listens on each 127.0.0.1:PORT (asked of
# the kernel: a test connection would reach stp-serve as a session).
ha_listening() {
	local p
	for p in "$@"; do
		ss -Hltn "sport = :$p" | grep -q . || return 1
	done
}

@test "HAProxy round robin in front of two instances with --attach-at: two stp-bind -k get every peer, each on the instance that holds it" {
	start_pair yes
	local b1 b2
	b1=$(start_bind_k bind1 "127.0.0.1:$LB")
	b2=$(start_bind_k bind2 "127.0.0.1:$LB")
	run -0 echo_conns "$b1" 10 a
	assert_equal "$output" 10
	run -0 echo_conns "$b2" 10 b
	assert_equal "$output" 10
	# round robin put one control channel on each instance, and each
	# instance served the ATTACHes of its own
	run -0 wait_until "10 attaches on the first instance" \
		lines_at_least "$STP_LOG_1" 'cmd=attach .*result="ok"' 10
	run -0 wait_until "10 attaches on the second instance" \
		lines_at_least "$STP_LOG_2" 'cmd=attach .*result="ok"' 10
	assert_equal "$(grep -c 'cmd=attach ' "$STP_LOG_1")" 10
	assert_equal "$(grep -c 'cmd=attach ' "$STP_LOG_2")" 10
	# -v: stp-bind says where it attached, and why
	run -0 grep -cE '^stp-bind: the notice names 127\.0\.0\.1:[0-9]+ \(ATTACH_AT\) as where to attach: attaching there, not at 127\.0\.0\.1:'"$LB"'$' "$T/bind1.err"
	assert_equal "$output" 10
}

@test "the same without --attach-at: ATTACHes the balancer sends to the other instance fail (what --attach-at is for)" {
	start_pair no
	local b1
	b1=$(start_bind_k bind1 "127.0.0.1:$LB")
	run -1 echo_conns "$b1" 6 n
	[ "$output" -lt 6 ]
	run -0 grep -E 'unknown or expired ticket' "$T/bind1.err"
}

@test "--attach-at takes HOST:PORT clients can connect to; the config key too" {
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --attach-at 127.0.0.1
	assert_match "$stderr" "^stp-serve: --attach-at"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --attach-at 0.0.0.0:1080
	assert_match "$stderr" "^stp-serve: --attach-at: '0\.0\.0\.0:1080' is not an address clients can connect to"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 --attach-at '[::1]:0'
	assert_match "$stderr" "no port 0"
	printf '{ "attach-at": "lb.example.net:1091" }\n' >"$T/c.json"
	start_stp_serve -c "$T/c.json"
	printf '{ "attach_at": "7" }\n' >"$T/bad.json"
	run -2 --separate-stderr stp-serve -l 127.0.0.1:0 -c "$T/bad.json"
	assert_match "$stderr" "attach_at"
}

@test "a notice carries ATTACH_AT as given, a name too, and stp-bind attaches there" {
	# a name (stp-bind resolves it for its ATTACH connection) and a port
	# nobody listens on: the ATTACH goes there and fails, said on stderr
	start_stp_serve --attach-at "localhost:$(closed_port)"
	local b
	b=$(start_bind_k bind "127.0.0.1:$STP_PORT")
	start_bg peer ncat 127.0.0.1 "$b"
	run -0 wait_for_line "$T/bind.err" 'the notice names localhost:[0-9]+ \(ATTACH_AT\)'
	run -0 wait_for_line "$T/bind.err" '^stp-bind: attach connection: .*localhost:[0-9]+'
}

@test "README 'Running several instances': its lines run as written (other ports), every peer through" {
	local sec lines line name k=0 p bport
	local -A map=()
	sec=$(awk '/^## Running several instances$/ { on = 1; next } /^## / { on = 0 } on' \
		"$STP_TOP/README.md")
	lines=$(grep -E '^    \$ ' <<<"$sec" | sed -e 's/^    \$ //' -e 's/ &$//')
	assert_equal "$(grep -c . <<<"$lines")" 4
	# the README's fixed ports, here fresh ones (runs side by side)
	for p in 1080 1081 1082 1091 1092 9181 9182; do
		map[$p]=$(free_port)
	done
	remap() {
		local s=$1 q
		for q in "${!map[@]}"; do
			s=${s//127.0.0.1:$q/127.0.0.1:${map[$q]}}
		done
		printf '%s\n' "$s"
	}
	remap "$(cat "$STP_TOP/tools/haproxy-stp.cfg")" >"$T/ha.cfg"
	while IFS= read -r line; do
		k=$((k + 1))
		line=$(remap "$line")
		line=${line//tools\/haproxy-stp.cfg/$T/ha.cfg}
		read -ra words <<<"$line"
		name=$k.${words[0]}
		start_bg "$name" "${words[@]}"
		case ${words[0]} in
		stp-serve) wait_for_line "$T/$name.err" '^listening 127\.0\.0\.1 [0-9]+ stats$' ;;
		haproxy) WAIT_S=5 wait_until "haproxy listening" ha_listening \
			"${map[1080]}" "${map[1091]}" "${map[1092]}" ;;
		stp-bind) bport=$(wait_for_line "$T/$name.err" '^bound [0-9.]+ [0-9]+$')
			bport=${bport##* } ;;
		esac
	done <<<"$lines"
	[ -n "$bport" ]
	run -0 echo_conns "$bport" 8 r
	assert_equal "$output" 8
	# each instance answers its own scrape
	run -0 stats_value "${map[9181]}" stp_sessions_open
	run -0 stats_value "${map[9182]}" stp_sessions_open
}
