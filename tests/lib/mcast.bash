# tests/lib/mcast.bash - helpers of tests/mcast.bats (after `load lib/common`).
#
# Multicast needs a network where it routes: each test that moves datagrams
# makes its own network namespace (lo up, multicast on, 224.0.0.0/4 via lo)
# and runs stp-serve and the peers inside it; teardown ends them by PID and
# deletes the namespace. Without root, or where `ip netns add` fails, those
# tests skip saying why.

MCPEERS="$TESTLIB/mcastpeers.py"
MC_NS=

# mc_ns: makes the namespace $MC_NS for this test, or skips.
mc_ns() {
	local err
	[ "$(id -u)" = 0 ] || skip "needs root to create a network namespace"
	command -v ip >/dev/null || skip "needs ip(8) (iproute2)"
	MC_NS="stp-mc-$$-${BATS_TEST_NUMBER}"
	if ! err=$(ip netns add "$MC_NS" 2>&1); then
		MC_NS=
		skip "cannot create a network namespace: $err"
	fi
	ip -n "$MC_NS" link set lo up &&
		ip -n "$MC_NS" link set lo multicast on &&
		ip -n "$MC_NS" route add 224.0.0.0/4 dev lo
}

# in_ns CMD...: CMD inside the test's namespace.
in_ns() {
	ip netns exec "$MC_NS" "$@"
}

mc_teardown() {
	local rc=0
	stp_teardown || rc=$?
	if [ -n "$MC_NS" ]; then
		ip netns del "$MC_NS" 2>/dev/null || true
	fi
	return "$rc"
}

# mc_serve [ARGS...]: stp-serve -v (debug log) inside the namespace.
# Exports STP_PORT and STP_LOG.
mc_serve() {
	start_bg stp-serve ip netns exec "$MC_NS" stp-serve -v -l 127.0.0.1:0 "$@"
	STP_LOG="$BATS_TEST_TMPDIR/stp-serve.err"
	STP_PORT=$(_listen_port stp-serve) || return 1
	export STP_PORT STP_LOG
}

# mc_client NAME ARGS...: stp-mcast -x the proxy ARGS in the namespace, in
# the background (stdin /dev/null); waits for its "joined" line and, with
# UDP delivery, until the relay knows it. Output in $T/NAME.out/.err.
mc_client() {
	local name=$1 known
	shift
	known=$(grep -c 'known at the relay' "$STP_LOG" 2>/dev/null) || true
	start_bg "$name" ip netns exec "$MC_NS" stp-mcast -x "127.0.0.1:$STP_PORT" "$@"
	wait_for_line "$T/$name.err" '^(joined |\{"event":"joined")' 10 >/dev/null || return 1
	case " $* " in
	*" --tcp "* | *" -s "* | *" --send "*) ;;
	*) mc_wait_count 'known at the relay' $((known + 1)) ;;
	esac
}

# mc_wait_count REGEX N: waits until stp-serve's log has N lines matching.
mc_wait_count() {
	local deadline
	deadline=$(_deadline 10)
	until [ "$(grep -cE -- "$1" "$STP_LOG")" -ge "$2" ]; do
		if _past "$deadline"; then
			echo "mc_wait_count: fewer than $2 lines /$1/ in $STP_LOG:" >&2
			cat "$STP_LOG" >&2
			return 1
		fi
		sleep 0.02
	done
}

# mc_send GROUP PORT [--from ADDR] TEXT...: datagrams to the group, sent
# from inside the namespace.
mc_send() {
	bounded ip netns exec "$MC_NS" "$PY" "$MCPEERS" send "$@"
}

# mc_wait_lines FILE N: waits until FILE has N lines.
mc_wait_lines() {
	local deadline
	deadline=$(_deadline 10)
	until [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; do
		if _past "$deadline"; then
			echo "mc_wait_lines: $1 has fewer than $2 lines:" >&2
			cat "$1" >&2
			return 1
		fi
		sleep 0.02
	done
}
