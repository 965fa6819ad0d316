#!/usr/bin/env bats
# Security review, items 4, 9 and 11: logs that cannot be forged or lost
# (control characters and bytes that are not UTF-8 in user names, SOCKS4
# userids and target names), a SOCKS4 userid logged apart from users, a
# target's reset passed on to the client as a reset, and start-up messages
# that say what failed (a v4-mapped listen address, a missing key file).

bats_require_minimum_version 1.5.0
load lib/common

SECLOGS="$BATS_TEST_DIRNAME/lib/seclogs.py"

# The forged line an attacker would like the log to show.
FORGED='stp-serve: session client=10.0.0.5:1 user=root cmd=connect target=x:1 up=0 down=0 duration=0.000s result="ok"'

hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# no_forged_line FILE: no line of FILE is the forged one (or starts like it).
no_forged_line() {
	if grep -nE '^([0-9TZ:.-]+ )?(stp-serve: )?session client=10\.0\.0\.5' "$1"; then
		echo "a forged line in $1:" >&2
		cat "$1" >&2
		return 1
	fi
}

@test "item 4: a newline in an RFC 1929 user name (before authentication) forges no log line" {
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users"
	run -0 "$PY" "$SECLOGS" auth5 "$STP_PORT" "$(hex "x"$'\n'"$FORGED")"
	assert_equal "$output" "auth 1"
	wait_for_line "$STP_LOG" 'session client=127\.0\.0\.1:[0-9]+ user=x\\nstp-serve:\\x20session\\x20client=10\.0\.0\.5:1\\x20user=root.* result="authentication failed"$'
	wait_for_line "$STP_LOG" "^stp-serve: authentication failed for user 'x\\\\nstp-serve:\\\\x20session\\\\x20client=10\\.0\\.0\\.5:1\\\\x20user=root.*'$"
	no_forged_line "$STP_LOG"
}

@test "item 4: a SOCKS4 userid is escaped and logged as userid=, never as user=" {
	start_echo
	start_stp_serve --open
	run -0 "$PY" "$SECLOGS" socks4 "$STP_PORT" "$ECHO_PORT" "$(hex "bob"$'\n'"$FORGED")" 1000
	assert_equal "$output" "reply 90 echo 1000"
	line=$(wait_for_line "$STP_LOG" "session client=127\\.0\\.0\\.1:[0-9]+ user=- userid=bob\\\\nstp-serve:\\\\x20session.* cmd=connect target=127\\.0\\.0\\.1:$ECHO_PORT up=1000 down=1000 ")
	assert_match "$line" 'result="ok"$'
	no_forged_line "$STP_LOG"
	run -1 grep -E 'user=bob' "$STP_LOG"
}

@test "item 4: control characters in a target name are escaped in the session and denial lines" {
	start_stp_serve --rules '[{"action":"deny","to":"*"}]'
	run -0 "$PY" "$SECLOGS" name5 "$STP_PORT" "$(hex "a"$'\n'"$FORGED"$'\r\t\x1b')" 1
	assert_equal "$output" "reply 2"
	wait_for_line "$STP_LOG" 'cmd=connect target=a\\nstp-serve:\\x20session\\x20client=10\.0\.0\.5:1.*\\r\\t\\x1b:1 up=0 down=0 .*result="'
	wait_for_line "$STP_LOG" '^stp-serve: rule 1 denies connect from 127\.0\.0\.1 user - to a\\nstp-serve:'
	no_forged_line "$STP_LOG"
}

@test "item 4: JSON logs keep the line of a SOCKS4 session whose userid is not UTF-8" {
	start_echo
	start_stp_serve --open --log-format json
	run -0 "$PY" "$SECLOGS" socks4 "$STP_PORT" "$ECHO_PORT" "626f62fffe0a" 1000
	assert_equal "$output" "reply 90 echo 1000"
	line=$(wait_for_line "$STP_LOG" '^\{"ts":"[^"]+","event":"session",' 10)
	assert_match "$line" '"user":null,"userid":"bob\\\\xff\\\\xfe\\n","command":"connect"'
	assert_match "$line" '"bytes_up":1000,"bytes_down":1000,.*"result":"ok","socks":4\}$'
}

@test "item 4: JSON logs keep the line of a session whose target name is not UTF-8" {
	start_stp_serve --rules '[{"action":"deny","to":"*"}]' --log-format json
	run -0 "$PY" "$SECLOGS" socks4a "$STP_PORT" "636166e92e6578616d706c65" 80 "75"
	assert_equal "$output" "reply 91"
	line=$(wait_for_line "$STP_LOG" '^\{"ts":"[^"]+","event":"session",' 10)
	assert_match "$line" '"user":null,"userid":"u","command":"connect","target":"caf\\\\xe9\.example:80"'
}

@test "item 9: a target's reset reaches stp-connect as an error, exit 1" {
	start_bg reset "$PY" "$SECLOGS" reset-peer 4096
	RESET_PORT=$(_listen_port reset)
	start_stp_serve --open
	run -1 --separate-stderr bounded bash -c "printf 'go\n' | stp-connect -x socks5://127.0.0.1:$STP_PORT 127.0.0.1 $RESET_PORT"
	assert_match "$stderr" '^stp-connect: .*[Rr]eset'
	wait_for_line "$STP_LOG" "target=127\\.0\\.0\\.1:$RESET_PORT .*result=\"Connection reset by peer\"$"
}

@test "item 9: a target's reset reaches a plain TCP client as a reset" {
	start_bg reset "$PY" "$SECLOGS" reset-peer 4096
	RESET_PORT=$(_listen_port reset)
	start_stp_serve --open
	run -0 bounded "$PY" - "$STP_PORT" "$RESET_PORT" <<'PYEOF'
import socket, struct, sys
from sockstest import conn, recv_exact
s = conn(sys.argv[1])
s.sendall(struct.pack(">BBH4s", 4, 1, int(sys.argv[2]), socket.inet_aton("127.0.0.1")) + b"\0")
assert recv_exact(s, 8)[1] == 90
s.sendall(b"go\n")
try:
    while s.recv(65536):
        pass
    print("eof")
except ConnectionResetError:
    print("reset")
PYEOF
	assert_equal "$output" "reset"
}

@test "item 11: -l [::ffff:127.0.0.1]:0 listens on 127.0.0.1" {
	start_echo
	start_bg stp-serve stp-serve -l '[::ffff:127.0.0.1]:0' --open
	port=$(_listen_port stp-serve)
	printf 'ping\n' >"$T/in"
	run -0 io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$port" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/in" "$T/out"
}

@test "item 11: a missing --key or --cert file is named with its errno text" {
	make_pki "$T/pki"
	run -2 --separate-stderr stp-serve --tls-listen 127.0.0.1:0 --open --cert "$T/pki/srv.pem" --key "$T/nokey.pem"
	assert_match "$stderr" "^stp-serve: --key $T/nokey\\.pem: No such file or directory"
	run -2 --separate-stderr stp-serve --tls-listen 127.0.0.1:0 --open --cert "$T/nocert.pem" --key "$T/pki/srv.key"
	assert_match "$stderr" "^stp-serve: --cert $T/nocert\\.pem: No such file or directory"
}

# Lines longer than a diagnostics buffer: every untrusted field at its
# longest (255 bytes), each byte escaped to 4 characters.
@test "item 4: a 255-byte user name of control characters is logged whole" {
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users"
	run -0 "$PY" "$SECLOGS" auth5 "$STP_PORT" "$(printf '01%.0s' {1..255})"
	assert_equal "$output" "auth 1"
	wait_for_line "$STP_LOG" "^stp-serve: authentication failed for user '(\\\\x01){255}'\$"
	wait_for_line "$STP_LOG" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z stp-serve: session client=127\.0\.0\.1:[0-9]+ user=(\\x01){255} cmd=- target=- up=0 down=0 duration=[0-9.]+s result="authentication failed"$'
}

@test "item 4: a 255-byte userid and target name of control characters are logged whole" {
	start_stp_serve --rules '[{"action":"deny","to":"*"}]'
	run -0 "$PY" "$SECLOGS" socks4a "$STP_PORT" "$(printf '1b%.0s' {1..255})" 80 "$(printf '02%.0s' {1..255})"
	assert_equal "$output" "reply 91"
	wait_for_line "$STP_LOG" '^stp-serve: rule 1 denies connect from 127\.0\.0\.1 user - to (\\x1b){255}:80: .*to.*\*'
	wait_for_line "$STP_LOG" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z stp-serve: session client=127\.0\.0\.1:[0-9]+ user=- userid=(\\x02){255} cmd=connect target=(\\x1b){255}:80 up=0 down=0 duration=[0-9.]+s result="[^"]+"$'
}

@test "item 4: JSON session lines with 255-byte control-character fields parse whole" {
	make_users "$T/users" alice secret
	start_stp_serve --users "$T/users" --log-format json
	run -0 "$PY" "$SECLOGS" auth5 "$STP_PORT" "$(printf '01%.0s' {1..255})"
	start_bg open stp-serve -l 127.0.0.1:0 --open --log-format json --rules '[{"action":"deny","to":"*"}]'
	local port
	port=$(_listen_port open)
	run -0 "$PY" "$SECLOGS" socks4a "$port" "$(printf '1b%.0s' {1..255})" 80 "$(printf '02%.0s' {1..255})"
	wait_for_line "$STP_LOG" '^\{"ts":"[^"]+","event":"session",' 10
	wait_for_line "$T/open.err" '^\{"ts":"[^"]+","event":"session",' 10
	run -0 "$PY" - "$STP_LOG" "$T/open.err" <<'PYEOF'
import json, sys
keys = ["ts", "event", "client", "user", "command", "target", "bytes_up", "bytes_down",
        "duration", "result", "socks"]
a = [json.loads(l) for l in open(sys.argv[1]) if '"event":"session"' in l][0]
b = [json.loads(l) for l in open(sys.argv[2]) if '"event":"session"' in l][0]
assert list(a) == keys, list(a)
assert a["user"] == "\x01" * 255 and a["result"] == "authentication failed", a
assert list(b) == keys[:4] + ["userid"] + keys[4:], list(b)
assert b["userid"] == "\x02" * 255 and b["target"] == "\x1b" * 255 + ":80", b
print("whole")
PYEOF
	assert_equal "$output" "whole"
}
