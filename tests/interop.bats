#!/usr/bin/env bats
# stp with OpenSSH and Dante: ssh's ProxyCommand through stp-connect (via
# stp-serve and via Dante), `ssh -D` as the SOCKS server for stp-connect, and
# a check of the harness itself (curl through Dante, ssh through nc -X 5).

bats_require_minimum_version 1.5.0
load lib/common

# ---------------------------------------------------------------- harness

@test "harness: curl through Dante fetches the test file" {
	start_http
	start_dante
	run -0 --separate-stderr curl -sS --max-time 20 --socks5 "127.0.0.1:$DANTE_PORT" -o "$T/got" "$HTTP_URL"
	assert_files_equal "$T/got" "$HTTP_FILE"
}

@test "harness: ssh through OpenBSD nc -X 5 via Dante reaches the private sshd" {
	start_sshd
	start_dante
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="nc -X 5 -x 127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 echo harness-ok
	assert_equal "$output" harness-ok
}

# ---------------------------------------------------------------- ProxyCommand

@test "ssh ProxyCommand stp-connect through stp-serve" {
	start_sshd
	start_stp_serve
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 true
	assert_equal "$output" ""
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'echo "out:$((6 * 7))"; echo err >&2'
	assert_equal "$output" "out:42"
	assert_equal "$stderr" "err"
	wait_for_line "$STP_LOG" "127\.0\.0\.1:$SSHD_PORT([^0-9]|$)"
}

@test "ssh ProxyCommand stp-connect (socks5h, proxy resolves localhost) through stp-serve" {
	start_sshd
	start_stp_serve
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5h://127.0.0.1:$STP_PORT %h %p" \
		-p "$SSHD_PORT" root@localhost hostname
	assert_equal "$output" "$(hostname)"
}

@test "ssh ProxyCommand stp-connect through Dante" {
	start_sshd
	start_dante
	run -0 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'echo via-dante'
	assert_equal "$output" via-dante
}

@test "ssh ProxyCommand: a bulk transfer over ssh through stp-serve and Dante" {
	start_sshd
	start_stp_serve
	start_dante
	head -c 5000000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/sum" ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT -x socks5://127.0.0.1:$DANTE_PORT %h %p" \
		-p "$SSHD_PORT" root@127.0.0.1 'sha256sum | cut -d" " -f1'
	run -0 cat "$T/sum"
	assert_equal "$output" "$(sha "$T/in")"
}

@test "ssh ProxyCommand: a failing stp-connect makes ssh fail with its message" {
	start_sshd
	start_stp_serve
	local closed
	closed=$(closed_port)
	run -255 --separate-stderr bounded ssh "${SSH_OPTS[@]}" \
		-o ProxyCommand="stp-connect -x socks5://127.0.0.1:$STP_PORT %h %p" \
		-p "$closed" root@127.0.0.1 true
	assert_match "$stderr" "stp-connect: proxy 127\.0\.0\.1:$STP_PORT refused CONNECT 127\.0\.0\.1:$closed: connection refused \(reply 5\)"
}

# ---------------------------------------------------------------- ssh -D

@test "stp-connect through ssh -D to the echo server" {
	start_sshd
	start_ssh_D
	start_echo
	head -c 200000 /dev/urandom >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "stp-connect through ssh -D, proxy resolves the name (socks5h)" {
	start_sshd
	start_ssh_D
	start_echo
	echo "resolved by sshd" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect -x "socks5h://127.0.0.1:$SSH_D_PORT" localhost "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

@test "stp-connect -z through ssh -D: a close before any reply to CONNECT is exit 11" {
	start_sshd
	start_ssh_D
	local closed
	closed=$(closed_port)
	# ssh -D closes the client connection without a reply when the channel
	# open fails; SPEC §2.3 maps a close before any reply to CONNECT to 11
	run -11 --separate-stderr bounded stp-connect -z -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$closed"
	assert_match "$stderr" "^stp-connect: .*127\.0\.0\.1:$SSH_D_PORT"
}

@test "chain: stp-serve then ssh -D then the echo server" {
	start_sshd
	start_ssh_D
	start_stp_serve
	start_echo
	echo "two different proxies" >"$T/in"
	run -0 --separate-stderr io "$T/in" "$T/out" stp-connect \
		-x "socks5://127.0.0.1:$STP_PORT" -x "socks5://127.0.0.1:$SSH_D_PORT" 127.0.0.1 "$ECHO_PORT"
	assert_files_equal "$T/out" "$T/in"
}

# ---------------------------------------------------------------- man page

# Prints the ssh_config examples of stp-connect(1) (each display after a
# '.\" ssh_config example' comment), roff escapes undone, blocks separated
# by a line "--".
man_ssh_configs() {
	awk '/^\.\\" ssh_config example/ { want = 1; next }
	     want && /^\.Bd/ { on = 1; next }
	     on && /^\.Ed/ { on = 0; want = 0; print "--"; next }
	     on' "$STP_TOP/man/stp-connect.1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e "s/\\\\(aq/'/g" -e 's/\\&//g'
}

@test "stp-connect(1)'s ~/.ssh/config examples: ssh accepts them and connects through them" {
	start_sshd
	start_stp_serve
	local n=0 cfg opts=() o skip=
	# the test's ssh options, without their "-F /dev/null"
	for o in "${SSH_OPTS[@]}"; do
		[ -n "$skip" ] && { skip=; continue; }
		[ "$o" = -F ] && { skip=1; continue; }
		opts+=("$o")
	done
	cfg="$T/ssh_config.0"
	: >"$cfg"
	while IFS= read -r line; do
		if [ "$line" = -- ]; then
			n=$((n + 1))
			cfg="$T/ssh_config.$n"
			: >"$cfg"
			continue
		fi
		printf '%s\n' "$line" >>"$cfg"
	done < <(man_ssh_configs)
	[ "$n" -ge 2 ] || { echo "found $n ssh_config examples in man/stp-connect.1"; return 1; }
	for cfg in "$T"/ssh_config.[0-9]*; do
		[ -s "$cfg" ] || continue
		# ssh_config has no continuation lines: ssh refuses a file with them
		run -0 --separate-stderr ssh -G -F "$cfg" box.internal
		assert_match "$output" $'(^|\n)proxycommand stp-connect '
	done
	# the first, its proxy made ours
	sed -i "s|socks5h://proxy.example.net|socks5h://127.0.0.1:$STP_PORT|" "$T/ssh_config.0"
	run -0 --separate-stderr bounded ssh -F "$T/ssh_config.0" "${opts[@]}" \
		-o HostName=127.0.0.1 -p "$SSHD_PORT" root@box.internal echo through-first
	assert_equal "$output" through-first
	# the second: through a MUX master, then, without one, the fallback
	# through STP_PROXY (which --mux-fallback wants set either way)
	sed -i "s|~/.stp.sock|$T/mux.sock|" "$T/ssh_config.1"
	export STP_PROXY="socks5h://127.0.0.1:$STP_PORT"
	start_bg master stp-connect --mux-master "$T/mux.sock"
	wait_for_line "$T/master.err" "^listening $T/mux.sock\$" >/dev/null
	run -0 --separate-stderr bounded ssh -F "$T/ssh_config.1" "${opts[@]}" \
		-o HostName=127.0.0.1 -p "$SSHD_PORT" root@box.internal echo through-mux
	assert_equal "$output" through-mux
	stop_bg master
	[ ! -e "$T/mux.sock" ]
	run -0 --separate-stderr bounded ssh -F "$T/ssh_config.1" "${opts[@]}" \
		-o HostName=127.0.0.1 -p "$SSHD_PORT" root@box.internal echo through-fallback
	assert_equal "$output" through-fallback
}
