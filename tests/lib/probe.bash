# tests/lib/probe.bash - helpers for tests/probe.bats (load after lib/common).
#
#   probe ARGS...              run -N is the caller's: `run -0 --separate-stderr probe ...`
#   assert_check STATUS CHECK [REGEX]   a report line "STATUS  CHECK  DETAIL"
#   assert_verdict_ok / assert_verdict_fail N
#   probe_json EXIT ARGS...    runs stp-probe --json, expects EXIT, checks the
#                              document's shape with jq; leaves it in $T/probe.json
#   json_check NAME            prints "STATUS DETAIL" of check NAME in $T/probe.json

# stp-probe with a deadline (-w 3 unless given) and no colour.
probe() {
	bounded stp-probe --color never "$@"
}

# assert_check STATUS CHECK [REGEX]: $output has the line of CHECK with
# STATUS (ok, FAIL, warn, --), its detail matching REGEX.
assert_check() {
	local st=$1 check=$2 re=${3:-} line
	line=$(grep -E "^[^ ]+ +$check  " <<<"$output" | head -1)
	if [ -z "$line" ]; then
		printf 'no line for check %s in:\n%s\n' "$check" "$output" >&2
		return 1
	fi
	local got=${line%% *}
	if [ "$got" != "$st" ]; then
		printf 'check %s: expected %s, got line:\n%s\n(all:\n%s)\n' "$check" "$st" "$line" "$output" >&2
		return 1
	fi
	[ -z "$re" ] && return 0
	assert_match "$line" "$re"
}

assert_verdict_ok() {
	assert_equal "${lines[${#lines[@]} - 1]}" "verdict: ok"
}

assert_verdict_fail() {
	local n=$1 s=s
	[ "$n" = 1 ] && s=
	assert_equal "${lines[${#lines[@]} - 1]}" "verdict: FAIL ($n check$s failed)"
}

# probe_json EXIT ARGS...: stp-probe --json ARGS must exit EXIT and print one
# JSON document of the documented shape whose "exit" is EXIT.
probe_json() {
	local want=$1 rc=0
	shift
	bounded stp-probe --json "$@" >"$T/probe.json" 2>"$T/probe.json.err" || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "stp-probe --json $*: exit $rc, expected $want" >&2
		cat "$T/probe.json" "$T/probe.json.err" >&2
		return 1
	fi
	jq -e --argjson want "$want" '
		(.proxy | type == "object") and
		(.detected | IN("socks5", "socks4", "http", "tls", "unknown")) and
		(.methods | type == "object") and
		(.features | type == "array") and
		(.checks | type == "array" and length > 0) and
		all(.checks[]; (.name | type == "string") and
			(.status | IN("ok", "fail", "warn", "skip")) and
			(.detail | type == "string")) and
		(.verdict == (if $want == 0 then "ok" else "fail" end)) and
		(.exit == $want)' "$T/probe.json" >/dev/null || {
		echo "stp-probe --json $*: not the documented shape:" >&2
		cat "$T/probe.json" >&2
		return 1
	}
}

# json_check NAME: "STATUS DETAIL" of check NAME in $T/probe.json.
json_check() {
	jq -r --arg n "$1" '.checks[] | select(.name == $n) | "\(.status) \(.detail)"' "$T/probe.json"
}
