#!/usr/bin/env bats
# stp-serve's system calls per CONNECT session (issue 22): strace(1) of a
# real server, one SOCKS5 CONNECT to a literal address of the echo peer
# (lib/peers.py) with the bytes checked, then the trace read by
# lib/syscalls.py. What is asserted is what does not depend on timing:
# the accepted socket is read at once (not after the next epoll_wait), each
# fd is registered with epoll once for its life (no DEL and ADD again when
# the target's socket goes from connecting to relaying, no interest taken
# away and given back while the client waits), a connect that raised no
# EPOLLERR needs no getsockopt(SO_ERROR), and the client's socket needs no
# setsockopt of its own (TCP_NODELAY comes from the listener). A target
# connected within connect(2) (loopback) is answered without an epoll_wait,
# and the session's end costs no shutdown the close does anyway.

bats_require_minimum_version 1.5.0
load lib/common

SYSCALLS="$BATS_TEST_DIRNAME/lib/syscalls.py"

# one_session PIPELINED: a SOCKS5 CONNECT to 127.0.0.1:$ECHO_PORT through
# $STP_PORT, the greeting and request in one write when PIPELINED is 1,
# then 5 bytes echoed back; prints "ok" when the reply and bytes are right.
one_session() {
	"$PY" - "$STP_PORT" "$ECHO_PORT" "$1" <<'PYEOF'
import socket, struct, sys
port, tport, pipelined = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
s = socket.create_connection(("127.0.0.1", port), timeout=20)
req = b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", tport)
def exact(n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            sys.exit("EOF after %r" % b)
        b += k
    return b
if pipelined:
    s.sendall(b"\x05\x01\x00" + req)
    assert exact(2) == b"\x05\x00"
else:
    s.sendall(b"\x05\x01\x00")
    assert exact(2) == b"\x05\x00"
    s.sendall(req)
r = exact(10)
assert r[:4] == b"\x05\x00\x00\x01", r
s.sendall(b"hello")
assert exact(5) == b"hello"
s.shutdown(socket.SHUT_WR)
assert s.recv(1) == b""
s.close()
print("ok")
PYEOF
}

# traced_session PIPELINED: stp-serve under strace, one session, the
# server stopped; the trace's figures in $T/figures.
traced_session() {
	start_echo
	# LeakSanitizer cannot work under ptrace and aborts at exit (make
	# sanitize): leaks are the other suites' to find, not this one's
	start_bg stp-serve env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -o "$T/trace" stp-serve -l 127.0.0.1:0
	STP_PORT=$(_listen_port stp-serve 30) || return 1
	run one_session "$1"
	[ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
	[ "$output" = ok ] || { echo "$output" >&2; return 1; }
	# the session's end is logged once both fds are closed
	wait_for_line "$T/stp-serve.err" "cmd=connect target=127\.0\.0\.1:$ECHO_PORT .*result=\"ok\"" 30 \
		>/dev/null || return 1
	# the server (strace's child) stops; strace follows it
	local spid
	spid=$(pgrep -P "${BG_PID[stp-serve]}" -x stp-serve) || return 1
	kill -TERM "$spid"
	wait_exit "${BG_PID[stp-serve]}" 30 || return 1
	"$PY" "$SYSCALLS" "$T/trace" >"$T/figures" || return 1
	cat "$T/figures"
}

# figure NAME: the value of NAME in $T/figures.
figure() { sed -n "s/^$1=//p" "$T/figures"; }

@test "serve-syscalls: the accepted socket is read at once, before waiting again" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 0
	[ "$(figure first_after_accept)" = "read($(figure cfd))" ]
}

@test "serve-syscalls: each socket of a CONNECT session is registered with epoll once" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 0
	# the client's socket: added; its read interest off at its EOF
	[ "$(figure ctl_cfd)" = ADD,MOD ]
	# the target's: added to wait for the connect, then read by the
	# relay; a connect that completed at once (loopback, mostly) is added
	# by the relay alone
	if [ "$(figure connected_at_once)" -eq 1 ]; then
		[ "$(figure ctl_tfd)" = ADD ]
	else
		[ "$(figure ctl_tfd)" = ADD,MOD ]
	fi
	[ "$(figure soerror_tfd)" -eq 0 ]
	[ "$(figure setsockopt_cfd)" -eq 0 ]
}

@test "serve-syscalls: a greeting and request in one segment are answered in one pass" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 1
	# one wait for the target's connect; one more only if the client's
	# bytes came after the accept (a busy machine)
	[ "$(figure waits_to_reply)" -le 2 ]
	[ "$(figure calls_to_reply)" -le 14 ]
}

@test "serve-syscalls: a target connected at once is answered in the same pass" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 1
	# a loopback target answers the SYN within connect(2) unless the
	# kernel left its softirq work to ksoftirqd (a busy machine)
	[ "$(figure connected_at_once)" -eq 1 ] ||
		skip "the target's connect did not complete at once in this run"
	# (the request itself may have come after the accept's read)
	[ "$(figure waits_request_to_reply)" -eq 0 ]
	[ "$(figure calls_to_reply)" -le 14 ]
}

@test "serve-syscalls: the session ends with the client's close, no shutdown or SO_ERROR of its own" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 0
	# the client half-closed first: once the target's EOF is passed on,
	# close(2) sends the client its FIN (one_session saw the EOF)
	[ "$(figure shutdown_cfd)" -eq 0 ]
	[ "$(figure soerror_end)" -eq 0 ]
}

@test "serve-syscalls: a short read of a relayed socket is not followed by one that says EAGAIN" {
	command -v strace >/dev/null || skip "strace is not installed (tools/install-deps)"
	traced_session 0
	# "hello" each way took one read each: the socket was empty after it
	[ "$(figure eagain_end)" -eq 0 ]
}
