#!/usr/bin/env bats
# tools/capacity on a small scale (README "Capacity"): 2 000 idle sessions
# held through stp-serve by bench-load, and what one of them costs. The
# full figures (100 000 sessions) are a tool run, not a test.

bats_require_minimum_version 1.5.0
load lib/common

# field NAME LINE: the value of NAME=VALUE in LINE.
field() {
	local v=${2#* $1=}
	echo "${v%% *}"
}

@test "tools/capacity: 2000 idle sessions cost two descriptors and a few KiB each; the sizing for 100 000 and 1 000 000 follows" {
	TMO=120 run -0 --separate-stderr bounded "$STP_TOP/tools/capacity" --sessions 2000 --no-busy \
		--timeout 100 --bin "$STP_TOP/bin/stp-serve"
	local idle fds user
	idle=$(grep '^CAPACITY idle ' <<<"$output") || { echo "no idle line in: $output" >&2; false; }
	fds=$(field fds_per_session "$idle")
	user=$(field user_kib_per_session "$idle")
	# a client connection and a target connection per session, nothing else
	awk -v f="$fds" 'BEGIN { exit !(f >= 1.95 && f <= 2.05) }' ||
		{ echo "fds per idle session: $fds" >&2; false; }
	# 2.9 KiB measured (issue 22); ASan's redzones and quarantine add more
	if [ -z "${STP_SANITIZE:-}" ]; then
		awk -v u="$user" 'BEGIN { exit !(u > 0 && u < 8) }' ||
			{ echo "user memory per idle session: $user KiB" >&2; false; }
	fi
	assert_match "$output" 'CAPACITY need sessions=100000 idle_user_mib=[0-9]+ idle_kernel_mib=-?[0-9]+ fds_per_worker=[0-9]+'
	assert_match "$output" 'CAPACITY need sessions=1000000 '
}

@test "tools/capacity says how many workers the descriptor limit asks for" {
	run -1 --separate-stderr "$STP_TOP/tools/capacity" --sessions 2000000 --workers 1 --no-busy \
		--bin "$STP_TOP/bin/stp-serve"
	assert_match "$stderr" '^capacity: 2000000 sessions over 1 worker\(s\) need about [0-9]+ descriptors per worker; the most a process may have here \(ulimit -Hn, fs.nr_open\) is [0-9]+: take --workers [0-9]+ or more$'
}
