# tests/lib/common.bash - shared helpers for the bats suites.
#
# Every suite does `load lib/common`. This file defines setup/teardown; a
# suite that needs its own calls stp_setup / stp_teardown from them.
#
#   start_bg NAME CMD...        background process, killed in teardown
#   wait_for_line FILE RE [S]   poll with a deadline, print the match
#   wait_until DESC CMD...      poll CMD with a deadline (WAIT_S, default 10)
#   size_at_least FILE N, lines_at_least FILE RE N   conditions for wait_until
#   stats_port, stats_value PORT NAME, stats_at_least PORT NAME N   --stats
#   wait_for_port PORT [S], wait_exit PID [S], free_port, closed_port
#   start_stp_serve [ARGS...]   STP_PORT, STP_LOG, STP_SERVE_PID (_N for more)
#   make_users FILE U P ...     users file via stp-serve --hash-password
#   start_http                  HTTP_PORT, HTTP_FILE, HTTP_URL
#   start_echo / start_digest / start_peer KIND   ECHO_PORT, DIGEST_PORT, ...
#   start_dante [RULE...]       DANTE_PORT
#   start_microsocks            MICROSOCKS_PORT
#   start_sshd, ssh_cmd, SSH_OPTS, start_ssh_D     SSHD_PORT, SSH_D_PORT
#   start_dnsmasq [ARGS...]     DNS_PORT
#   make_pki DIR                CA + localhost certificate (ca.pem, srv.pem, srv.key)
#   io IN OUT CMD..., io_hold, bounded CMD...      bounded runs
#   stp_serve_alive [PORT], assert_*, sha
#
# Teardown fails the test when an stp program it started wrote a sanitizer
# report.
#
# Background processes: start_bg NAME CMD... runs CMD in its own session
# (setsid, so teardown can end it and any children it forked, e.g. Dante's),
# stdin from /dev/null, stdout/stderr in $BATS_TEST_TMPDIR/NAME.out/.err, fd 3
# closed (bats waits for every holder of fd 3). Its PID is recorded; teardown
# kills only the recorded PIDs and their process groups.

: "${STP_TOP:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
export STP_TOP

PY=/usr/bin/python3                  # has python3-socks; the pyenv one does not
TESTLIB="$STP_TOP/tests/lib"
PEERS="$TESTLIB/peers.py"

# Deadlines (seconds) are multiplied by this under sanitizer builds.
if [ -n "${STP_SANITIZE:-}" ]; then STP_SLOW=4; else STP_SLOW=1; fi

stp_setup() {
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	unset STP_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy http_proxy \
		https_proxy HTTP_PROXY HTTPS_PROXY STP_PASSWORD STP_CONFIG \
		SSH_AUTH_SOCK CURL_HOME
	export PATH="$STP_TOP/bin:${PATH}"
	export PYTHONPATH="$TESTLIB"
	export LC_ALL=C
	BG_PIDS=()
	declare -gA BG_PID=()
	STP_SERVE_COUNT=0
	T="$BATS_TEST_TMPDIR"
}

stp_teardown() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		_reap "$pid"
	done
	BG_PIDS=()
	# A sanitizer report from any stp program this test started fails it,
	# even when the test itself saw nothing wrong.
	local f bad=0
	for f in "$BATS_TEST_TMPDIR"/stp-*.err; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ' "$f"; then
			echo "sanitizer report in $f:" >&2
			cat "$f" >&2
			bad=1
		fi
	done
	return "$bad"
}

setup() { stp_setup; }
teardown() { stp_teardown; }

# _reap PID: waits up to 3 s for a recorded process to end, then SIGKILLs it
# (and its process group) and waits for it.
_reap() {
	local pid=$1 n=0
	while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 60 ]; do
		# a zombie child still answers kill -0; wait collects it
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null)" = Z ]; then break; fi
		sleep 0.05
		n=$((n + 1))
	done
	if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z ]; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
}

# start_bg NAME CMD...: start CMD in the background; sets BG_PID[NAME] and
# LAST_PID. Output goes to $BATS_TEST_TMPDIR/NAME.out and NAME.err.
start_bg() {
	local name=$1
	shift
	setsid "$@" </dev/null >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	LAST_PID=$!
	BG_PIDS+=("$LAST_PID")
	BG_PID[$name]=$LAST_PID
}

# start_bg_stdin NAME INFILE CMD...: as start_bg, with stdin from INFILE
# (a file or a fifo).
start_bg_stdin() {
	local name=$1 in=$2
	shift 2
	setsid "$@" <"$in" >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	LAST_PID=$!
	BG_PIDS+=("$LAST_PID")
	BG_PID[$name]=$LAST_PID
}

# stop_bg NAME [SIGNAL]: signal one recorded process and wait for it; leaves
# its exit status in BG_STATUS.
stop_bg() {
	local pid=${BG_PID[$1]} sig=${2:-TERM}
	kill "-$sig" "$pid" 2>/dev/null || true
	BG_STATUS=0
	wait_exit "$pid" 5 || BG_STATUS=$?
}

# wait_exit PID [TIMEOUT]: waits for a background child to exit within the
# deadline and returns its exit status; returns 124 (and leaves it running)
# on timeout.
wait_exit() {
	local pid=$1 timeout=${2:-5} deadline
	deadline=$(_deadline "$timeout")
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(ps -o stat= -p "$pid" 2>/dev/null)" = Z ] && break
		if _past "$deadline"; then
			echo "wait_exit: pid $pid still running after ${timeout}s" >&2
			return 124
		fi
		sleep 0.02
	done
	local rc=0
	wait "$pid" || rc=$?
	return "$rc"
}

_now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
_deadline() { echo $(($(_now_ms) + ${1%.*} * 1000 * STP_SLOW)); }
_past() { [ "$(_now_ms)" -ge "$1" ]; }

# wait_for_line FILE REGEX [TIMEOUT]: polls FILE until a line matches the
# extended REGEX; prints the first matching line. On timeout prints FILE's
# content on stderr and fails.
wait_for_line() {
	local file=$1 re=$2 timeout=${3:-10} deadline line
	deadline=$(_deadline "$timeout")
	while :; do
		if [ -f "$file" ] && line=$(grep -E -m1 -- "$re" "$file"); then
			printf '%s\n' "$line"
			return 0
		fi
		if _past "$deadline"; then
			{
				echo "wait_for_line: no line matching /$re/ in $file after ${timeout}s; it holds:"
				cat "$file" 2>/dev/null || echo "(no such file)"
			} >&2
			return 1
		fi
		sleep 0.02
	done
}

# wait_until DESC CMD...: runs CMD every 0.05 s until it succeeds, for at
# most $WAIT_S seconds (default 10, times STP_SLOW). On timeout fails with
# "wait_until: DESC: not the case after N s" (and CMD's last stderr), so a
# test cannot go on without the state it waited for. CMD is run afresh each
# time: write `wait_until D size_at_least F N`, not `test "$(stat ...)"`
# (which would be expanded once, before the first try).
wait_until() {
	local desc=$1 timeout=${WAIT_S:-10} deadline err
	shift
	deadline=$(_deadline "$timeout")
	while :; do
		if err=$("$@" 2>&1 >/dev/null); then
			return 0
		fi
		if _past "$deadline"; then
			echo "wait_until: $desc: not the case after $((timeout * STP_SLOW)) s" >&2
			[ -n "$err" ] && printf '%s\n' "$err" >&2
			return 1
		fi
		sleep 0.05
	done
}

# lines_at_least FILE REGEX N: at least N lines of FILE match REGEX (for
# wait_until).
lines_at_least() {
	local n
	n=$(grep -c -E -- "$2" "$1" 2>/dev/null) || n=0
	[ "$n" -ge "$3" ] || { echo "$1: $n lines match /$2/, not yet $3" >&2; return 1; }
}

# size_at_least FILE N: FILE exists and holds at least N bytes (for
# wait_until).
size_at_least() {
	local n
	n=$(stat -c %s "$1" 2>/dev/null) || { echo "no $1" >&2; return 1; }
	[ "$n" -ge "$2" ] || { echo "$1 holds $n bytes, not yet $2" >&2; return 1; }
}

# wait_for_port PORT [TIMEOUT]: polls until 127.0.0.1:PORT accepts.
wait_for_port() {
	local port=$1 timeout=${2:-10} deadline
	deadline=$(_deadline "$timeout")
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		if _past "$deadline"; then
			echo "wait_for_port: nothing accepts on 127.0.0.1:$port after ${timeout}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
# Callers that bind it themselves must retry if it was taken meanwhile.
free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# closed_port: a port on 127.0.0.1 nobody listens on (just released by
# free_port; ephemeral ports are handed out in sequence, so it stays free
# for the moment a test needs it).
closed_port() { free_port; }

# _listen_port NAME: waits for "listening 127.0.0.1 PORT" on NAME's stderr
# and prints PORT.
_listen_port() {
	local line
	line=$(wait_for_line "$BATS_TEST_TMPDIR/$1.err" '^listening 127\.0\.0\.1 [0-9]+$' "${2:-10}") || return 1
	echo "${line##* }"
}

# ---------------------------------------------------------------- stp-serve

# start_stp_serve [ARGS...]: starts `stp-serve -l 127.0.0.1:0 ARGS` and waits
# for its `listening` line. Exports STP_PORT, STP_LOG (its stderr) and
# STP_SERVE_PID. A second call starts another server (stp-serve.2, ...);
# each call's values are also in STP_PORT_N / STP_LOG_N (N = 1, 2, ...).
start_stp_serve() {
	STP_SERVE_COUNT=$((STP_SERVE_COUNT + 1))
	local name=stp-serve
	[ "$STP_SERVE_COUNT" -gt 1 ] && name="stp-serve.$STP_SERVE_COUNT"
	start_bg "$name" stp-serve -l 127.0.0.1:0 "$@"
	STP_SERVE_PID=$LAST_PID
	STP_LOG="$BATS_TEST_TMPDIR/$name.err"
	STP_PORT=$(_listen_port "$name") || {
		echo "start_stp_serve: stp-serve $* did not start" >&2
		return 1
	}
	export STP_PORT STP_LOG STP_SERVE_PID
	printf -v "STP_PORT_$STP_SERVE_COUNT" %s "$STP_PORT"
	printf -v "STP_LOG_$STP_SERVE_COUNT" %s "$STP_LOG"
}

# stats_port [LOG]: the port of the "listening ADDR PORT stats" line in LOG
# (default $STP_LOG); start stp-serve with --stats 127.0.0.1:0.
stats_port() {
	local line
	line=$(wait_for_line "${1:-$STP_LOG}" '^listening 127\.0\.0\.1 [0-9]+ stats$') || return 1
	line=${line#listening 127.0.0.1 }
	echo "${line% stats}"
}

# stats_value PORT NAME: prints the value of the sample NAME (with its
# labels, exactly as /metrics writes them, e.g.
# 'stp_sessions_total{command="connect",result="ok"}') from the --stats
# endpoint at 127.0.0.1:PORT, or 0 when it is absent; fails when the
# endpoint does not answer.
stats_value() {
	local body
	body=$(curl -sS --max-time $((10 * STP_SLOW)) "http://127.0.0.1:$1/metrics") || return 1
	awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' <<<"$body"
}

# stats_at_least PORT NAME N: stats_value PORT NAME is at least N (for
# wait_until).
stats_at_least() {
	local v
	v=$(stats_value "$1" "$2") || return 1
	[ "${v%.*}" -ge "$3" ] || { echo "$2 is $v, not yet $3" >&2; return 1; }
}

# make_users FILE USER PASSWORD [USER PASSWORD...]: a users file for
# stp-serve --users, hashes made with `stp-serve --hash-password`.
make_users() {
	local file=$1 hash
	shift
	: >"$file"
	while [ $# -ge 2 ]; do
		hash=$(printf '%s\n' "$2" | stp-serve --hash-password) || return 1
		printf '%s:%s\n' "$1" "$hash" >>"$file"
		shift 2
	done
}

# ---------------------------------------------------------------- peers

# start_http: serves $BATS_TEST_TMPDIR/www over HTTP/1.1 with a large listen
# backlog. Exports HTTP_PORT, HTTP_FILE (a 256 KiB random file served as
# /data.bin) and HTTP_URL (its URL).
start_http() {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	HTTP_FILE="$BATS_TEST_TMPDIR/www/data.bin"
	[ -f "$HTTP_FILE" ] || head -c 262144 /dev/urandom >"$HTTP_FILE"
	echo "hello from the test http server" >"$BATS_TEST_TMPDIR/www/hello.txt"
	start_bg http "$PY" "$PEERS" http "$BATS_TEST_TMPDIR/www"
	HTTP_PORT=$(_listen_port http) || return 1
	HTTP_URL="http://127.0.0.1:$HTTP_PORT/data.bin"
	export HTTP_PORT HTTP_FILE HTTP_URL
}

# start_peer KIND [NAME]: starts peers.py KIND (echo, digest, silent,
# greet-close, close); prints nothing, exports PEER_PORT and KIND_PORT
# (ECHO_PORT, DIGEST_PORT, SILENT_PORT, GREET_CLOSE_PORT, CLOSE_PORT).
start_peer() {
	local kind=$1 name=${2:-$1} var
	start_bg "$name" "$PY" "$PEERS" "$kind"
	PEER_PORT=$(_listen_port "$name") || return 1
	var=$(echo "${kind}_PORT" | tr 'a-z-' 'A-Z_')
	printf -v "$var" %s "$PEER_PORT"
	export "${var?}" PEER_PORT
}
start_echo() { start_peer echo; }
start_digest() { start_peer digest; }

# start_dante [RULE...]: a Dante sockd on a free loopback port allowing
# CONNECT, BIND and UDP ASSOCIATE without authentication (TESTING-NOTES).
# Each RULE is a config line put before the pass rules (first match wins),
# e.g. 'socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = 9 }'.
# Exports DANTE_PORT. Retries with another port if the chosen one was taken.
start_dante() {
	local try port conf rules
	rules=$(printf '%s\n' "$@")
	for try in 1 2 3 4 5; do
		port=$(free_port)
		conf="$BATS_TEST_TMPDIR/danted.$try.conf"
		cat >"$conf" <<-EOF
			logoutput: stderr
			internal: 127.0.0.1 port = $port
			external: 127.0.0.1
			socksmethod: none
			clientmethod: none
			user.privileged: root
			user.unprivileged: nobody
			client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
			$rules
			socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: bind connect udpassociate }
			socks pass { from: 0.0.0.0/0 to: 127.0.0.0/8 command: bindreply udpreply }
		EOF
		start_bg "danted.$try" danted -f "$conf" -p "$BATS_TEST_TMPDIR/danted.$try.pid"
		local pid=$LAST_PID deadline
		deadline=$(_deadline 10)
		while kill -0 "$pid" 2>/dev/null; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				DANTE_PORT=$port
				export DANTE_PORT
				return 0
			fi
			_past "$deadline" && break
			sleep 0.02
		done
		echo "start_dante: try $try on port $port failed:" >&2
		cat "$BATS_TEST_TMPDIR/danted.$try.err" >&2
	done
	return 1
}

# start_microsocks: microsocks on a free loopback port (no auth). Exports
# MICROSOCKS_PORT.
start_microsocks() {
	local try port
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "microsocks.$try" microsocks -i 127.0.0.1 -p "$port"
		local pid=$LAST_PID deadline
		deadline=$(_deadline 5)
		while kill -0 "$pid" 2>/dev/null; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				MICROSOCKS_PORT=$port
				export MICROSOCKS_PORT
				return 0
			fi
			_past "$deadline" && break
			sleep 0.02
		done
	done
	echo "start_microsocks: could not start" >&2
	return 1
}

# start_sshd: a private sshd on a free loopback port with fresh host and
# user keys. Exports SSHD_PORT and sets SSH_OPTS (see ssh_cmd).
start_sshd() {
	local d="$BATS_TEST_TMPDIR/ssh" try port
	mkdir -p "$d" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C hostkey -f "$d/host_key" </dev/null || return 1
	ssh-keygen -q -t ed25519 -N '' -C userkey -f "$d/user_key" </dev/null || return 1
	cp "$d/user_key.pub" "$d/authorized_keys"
	echo "stp-test-sshd $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	for try in 1 2 3 4 5; do
		port=$(free_port)
		cat >"$d/sshd_config" <<-EOF
			ListenAddress 127.0.0.1:$port
			HostKey $d/host_key
			AuthorizedKeysFile $d/authorized_keys
			UsePAM no
			StrictModes no
			PidFile none
			PermitRootLogin yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			AllowTcpForwarding yes
			LogLevel INFO
		EOF
		start_bg "sshd.$try" /usr/sbin/sshd -D -e -f "$d/sshd_config"
		if wait_for_line "$BATS_TEST_TMPDIR/sshd.$try.err" \
			"^Server listening on 127\.0\.0\.1 port $port\." 10 >/dev/null 2>&1; then
			SSHD_PORT=$port
			export SSHD_PORT
			_ssh_opts
			return 0
		fi
		echo "start_sshd: try $try on port $port failed:" >&2
		cat "$BATS_TEST_TMPDIR/sshd.$try.err" >&2
	done
	return 1
}

# ssh_cmd ARGS...: ssh with the private keys and nothing of the user's
# configuration; add -p "$SSHD_PORT" root@127.0.0.1 (or a ProxyCommand).
# The options alone are in the array SSH_OPTS.
ssh_cmd() {
	ssh "${SSH_OPTS[@]}" "$@"
}

_ssh_opts() {
	local d="$BATS_TEST_TMPDIR/ssh"
	SSH_OPTS=(-F /dev/null -i "$d/user_key" -o BatchMode=yes
		-o IdentitiesOnly=yes -o UserKnownHostsFile="$d/known_hosts"
		-o HostKeyAlias=stp-test-sshd -o StrictHostKeyChecking=yes
		-o ConnectTimeout=$((10 * STP_SLOW)))
}

# start_ssh_D: `ssh -N -D` through the private sshd (start_sshd first): a
# SOCKS4/5 server with CONNECT only. Exports SSH_D_PORT.
start_ssh_D() {
	local try port
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "ssh-D.$try" ssh "${SSH_OPTS[@]}" -v -N \
			-o ExitOnForwardFailure=yes -D "127.0.0.1:$port" \
			-p "$SSHD_PORT" root@127.0.0.1
		if wait_for_line "$BATS_TEST_TMPDIR/ssh-D.$try.err" \
			"Local forwarding listening on 127\.0\.0\.1 port $port\." 10 >/dev/null 2>&1; then
			SSH_D_PORT=$port
			export SSH_D_PORT
			return 0
		fi
		echo "start_ssh_D: try $try on port $port failed:" >&2
		cat "$BATS_TEST_TMPDIR/ssh-D.$try.err" >&2
	done
	return 1
}

# start_dnsmasq [ARGS...]: a private resolver on a free port answering only
# what ARGS define (--address=/name/addr ...); other names: NXDOMAIN via
# --local=/invalid/ and no upstream. Exports DNS_PORT.
start_dnsmasq() {
	local try port
	for try in 1 2 3 4 5; do
		port=$(free_port)
		start_bg "dnsmasq.$try" dnsmasq -d -C /dev/null --no-resolv --no-hosts \
			--no-poll --port="$port" --listen-address=127.0.0.1 \
			--bind-interfaces --user=root --group=root "$@"
		if wait_for_line "$BATS_TEST_TMPDIR/dnsmasq.$try.err" '^dnsmasq: started' 5 >/dev/null 2>&1 &&
			kill -0 "$LAST_PID" 2>/dev/null; then
			DNS_PORT=$port
			export DNS_PORT
			return 0
		fi
	done
	echo "start_dnsmasq: could not start" >&2
	return 1
}

# ---------------------------------------------------------------- checks

# stp_serve_alive: proof that stp-serve on $STP_PORT still serves: a curl
# through it fetches the HTTP file byte for byte (start_http first).
stp_serve_alive() {
	local out="$BATS_TEST_TMPDIR/alive.$RANDOM"
	curl -sS --max-time $((10 * STP_SLOW)) --socks5 "127.0.0.1:${1:-$STP_PORT}" \
		-o "$out" "$HTTP_URL" || {
		echo "stp_serve_alive: curl through 127.0.0.1:${1:-$STP_PORT} failed" >&2
		return 1
	}
	cmp "$out" "$HTTP_FILE"
}

# sha FILE: the sha256 hex digest of FILE.
sha() { sha256sum "$1" | cut -d' ' -f1; }

# assert_files_equal A B: fails with the sizes when A and B differ.
assert_files_equal() {
	cmp -s "$1" "$2" && return 0
	echo "files differ: $1 ($(stat -c %s "$1" 2>/dev/null) bytes) vs $2 ($(stat -c %s "$2" 2>/dev/null) bytes)" >&2
	return 1
}

# assert_match STRING REGEX: fails showing both.
assert_match() {
	[[ $1 =~ $2 ]] && return 0
	printf 'expected to match /%s/:\n%s\n' "$2" "$1" >&2
	return 1
}

# assert_equal ACTUAL EXPECTED
assert_equal() {
	[ "$1" = "$2" ] && return 0
	printf 'expected: %q\nactual:   %q\n' "$2" "$1" >&2
	return 1
}

# assert_status N: after `run`, for suites that cannot use run -N.
assert_status() {
	[ "$status" -eq "$1" ] && return 0
	printf 'expected exit %s, got %s\nstdout: %s\nstderr: %s\n' "$1" "$status" \
		"$output" "${stderr-}" >&2
	return 1
}

# io IN OUT CMD...: runs CMD (bounded by $TMO seconds, default 30, times
# STP_SLOW) with stdin from IN and stdout to OUT, for byte streams that must
# not pass through $output. Use under run: `run -0 --separate-stderr io ...`.
io() {
	local in=$1 out=$2
	shift 2
	timeout -k 2 $((${TMO:-30} * STP_SLOW)) "$@" <"$in" >"$out"
}

# bounded CMD...: CMD with a deadline of $TMO seconds (default 30, times
# STP_SLOW); exit 124 when it runs out.
bounded() {
	timeout -k 2 $((${TMO:-30} * STP_SLOW)) "$@"
}

# io_hold IN OUT CMD...: as io, but stdin stays open until OUT has as many
# bytes as IN (or $TMO runs out), then ends; for proxies that do not pass a
# half-close on (microsocks closes both ways at the client's EOF).
io_hold() {
	local in=$1 out=$2 size
	shift 2
	size=$(stat -c %s "$in")
	: >"$out"
	{
		cat "$in"
		local deadline
		deadline=$(_deadline "${TMO:-30}")
		while [ "$(stat -c %s "$out")" -lt "$size" ] && ! _past "$deadline"; do
			sleep 0.02
		done
	} | timeout -k 2 $((${TMO:-30} * STP_SLOW)) "$@" >"$out"
}

# make_pki DIR [SAN CN]: a CA (DIR/ca.pem, ca.key) and a certificate
# signed by it (DIR/srv.pem, srv.key) for localhost/127.0.0.1, or for the
# subjectAltName SAN ("IP:10.91.0.1") with common name CN.
make_pki() {
	local d=$1 san=${2:-DNS:localhost,IP:127.0.0.1} cn=${3:-localhost}
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout ca.key -out ca.pem -days 30 -subj "/CN=stp test CA" 2>/dev/null
		printf 'subjectAltName=%s\n' "$san" >srv.ext
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout srv.key -out srv.csr -subj "/CN=$cn" 2>/dev/null
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out srv.pem -days 30 -extfile srv.ext 2>/dev/null
	) && [ -s "$d/srv.pem" ]
}
