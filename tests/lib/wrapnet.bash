# tests/lib/wrapnet.bash - the network namespaces of tests/wrap.bats.
#
#   client (WN_C)  10.91.0.2, fd91::2   no route to the targets; its own
#        |                              resolver is a dnsmasq on 127.0.0.1
#        |                              that logs every query
#   proxy  (WN_P)  10.91.0.1, fd91::1   stp-serve on 10.91.0.1:1080
#        |         10.92.0.1, fd92::1
#   targets (WN_T) 10.92.0.2, fd92::2   http (python), sshd, dnsmasq
#                                       knowing web.stp.test, ssh.stp.test
#
# The veth pairs are made inside the namespaces (no name ever appears in
# the host's). Every process is started with wn_bg; its pid goes to
# $WN_DIR/pids, and wn_down kills exactly those, then the namespaces.

# wn_can: whether this test may make namespaces (else prints why).
wn_can() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "network namespaces need root"
		return 1
	fi
	if ! ip netns add "stpw-can-$$" 2>/dev/null; then
		echo "ip netns add is not permitted here"
		return 1
	fi
	ip netns del "stpw-can-$$"
}

# wn_bg NAME NS CMD...: CMD in namespace NS in the background (own session,
# fd 3 closed), output in $WN_DIR/NAME.out/.err, pid recorded.
wn_bg() {
	local name=$1 ns=$2
	shift 2
	setsid ip netns exec "$ns" "$@" </dev/null >"$WN_DIR/$name.out" \
		2>"$WN_DIR/$name.err" 3>&- &
	echo "$!" >>"$WN_DIR/pids"
	eval "WN_PID_${name//[^a-zA-Z0-9]/_}=$!"
}

# wn_up: the namespaces, links, addresses and servers. Sets WN_C, WN_P,
# WN_T, WN_DIR, WN_PROXY (the proxy URL), WN_DNSLOG.
wn_up() {
	WN_DIR=$1
	local tag="stpw-$$"
	WN_C=$tag-c WN_P=$tag-p WN_T=$tag-t
	export WN_C WN_P WN_T WN_DIR
	mkdir -p "$WN_DIR"
	: >"$WN_DIR/pids"
	echo "$WN_C $WN_P $WN_T" >"$WN_DIR/netns"
	ip netns add "$WN_C" && ip netns add "$WN_P" && ip netns add "$WN_T" || return 1
	ip link add wc netns "$WN_C" type veth peer name wp netns "$WN_P" || return 1
	ip link add wq netns "$WN_P" type veth peer name wt netns "$WN_T" || return 1
	wn_addr "$WN_C" wc 10.91.0.2 fd91::2
	wn_addr "$WN_P" wp 10.91.0.1 fd91::1
	wn_addr "$WN_P" wq 10.92.0.1 fd92::1
	wn_addr "$WN_T" wt 10.92.0.2 fd92::2
	ip -n "$WN_T" route add default via 10.92.0.1
	ip -n "$WN_T" -6 route add default via fd92::1
	ip netns exec "$WN_P" sysctl -qw net.ipv4.ip_forward=0

	# the client's own resolver: /etc/netns/NS/resolv.conf is what ip
	# netns exec shows as /etc/resolv.conf inside NS
	mkdir -p "/etc/netns/$WN_C"
	echo "nameserver 127.0.0.1" >"/etc/netns/$WN_C/resolv.conf"
	WN_DNSLOG=$WN_DIR/client-dns.log
	export WN_DNSLOG
	wn_bg cdns "$WN_C" dnsmasq -d -C /dev/null --no-resolv --no-hosts --no-poll --port=53 \
		--listen-address=127.0.0.1 --bind-interfaces --log-queries \
		--log-facility="$WN_DNSLOG" --local=/test/
	# the targets' names, known only to the targets' dnsmasq
	wn_bg tdns "$WN_T" dnsmasq -d -C /dev/null --no-resolv --no-hosts --no-poll --port=53 \
		--listen-address=10.92.0.2 --listen-address=fd92::2 --bind-interfaces --local=/stp.test/ \
		--host-record=web.stp.test,10.92.0.2,fd92::2 \
		--host-record=ssh.stp.test,10.92.0.2 --host-record=web6.stp.test,fd92::2
	# http on both families, port 80
	mkdir -p "$WN_DIR/www"
	echo "hello from the targets" >"$WN_DIR/www/index.html"
	(cd "$WN_DIR/www" && wn_bg http "$WN_T" python3 -u -m http.server --bind :: 80)
	# a git repository served over http (dumb protocol)
	git init -q "$WN_DIR/src" && git -C "$WN_DIR/src" -c user.name=t -c user.email=t@t \
		commit -q --allow-empty -m "wrapped clone" &&
		git clone -q --bare "$WN_DIR/src" "$WN_DIR/www/repo.git" &&
		git -C "$WN_DIR/www/repo.git" update-server-info || return 1
	wn_sshd || return 1
	# the proxy: deny 10.92.0.2 port 81 by rule
	wn_bg serve "$WN_P" "$STP_TOP/bin/stp-serve" -l 10.91.0.1:1080 -l '[fd91::1]:1080' \
		--resolver 10.92.0.2 \
		--rules '[{"action":"deny","to":"10.92.0.2/32","ports":"81"},{"action":"allow"}]'
	WN_PROXY=socks5h://10.91.0.1:1080
	export WN_PROXY
	wait_for_line "$WN_DIR/serve.err" "^listening fd91::1 1080" 10 >/dev/null &&
		wait_for_line "$WN_DIR/http.out" "Serving HTTP" 10 >/dev/null &&
		wait_for_line "$WN_DIR/cdns.err" "started" 10 >/dev/null &&
		wait_for_line "$WN_DIR/tdns.err" "started" 10 >/dev/null &&
		wait_for_line "$WN_DIR/sshd.err" "^Server listening on 10\.92\.0\.2 port 22" 10 >/dev/null
}

wn_addr() { # NS DEV V4 V6
	ip -n "$1" link set lo up
	ip -n "$1" link set "$2" up
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" addr add "$4/64" dev "$2" nodad
}

wn_sshd() {
	local d=$WN_DIR/ssh
	mkdir -p "$d" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C hostkey -f "$d/host_key" </dev/null || return 1
	ssh-keygen -q -t ed25519 -N '' -C userkey -f "$d/user_key" </dev/null || return 1
	cp "$d/user_key.pub" "$d/authorized_keys"
	echo "ssh.stp.test $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 10.92.0.2:22
		HostKey $d/host_key
		AuthorizedKeysFile $d/authorized_keys
		UsePAM no
		StrictModes no
		PidFile none
		PermitRootLogin yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		LogLevel INFO
	EOF
	wn_bg sshd "$WN_T" /usr/sbin/sshd -D -e -f "$d/sshd_config"
}

# wn_down: kills the recorded processes (by pid and their sessions), then
# removes the namespaces and the resolv.conf folder.
wn_down() {
	local pid n ns
	[ -n "${WN_DIR:-}" ] && [ -f "$WN_DIR/pids" ] || return 0
	while read -r pid; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	done <"$WN_DIR/pids"
	while read -r pid; do
		n=100
		while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do
			sleep 0.05
			n=$((n - 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
	done <"$WN_DIR/pids"
	# every command may fail here (gone already): callers under set -e
	# (tools/bench-transparent's EXIT trap) must still reach the netns
	for ns in $(cat "$WN_DIR/netns" 2>/dev/null); do
		ip netns del "$ns" 2>/dev/null || true
		case $ns in stpw-*) rm -rf "/etc/netns/$ns" ;; esac
	done
}

# in_client CMD...: runs CMD in the client namespace.
in_client() { ip netns exec "$WN_C" "$@"; }

# The shape every namespace suite shares: setup_file makes the namespaces
# once, or writes why not to $BATS_FILE_TMPDIR/skip: the kernel's refusal
# (the tests skip) or "the namespaces could not be set up" and the error
# output (the tests fail, showing it).

# ns_suite_up CAN UP...: setup_file's part. CAN prints why namespaces are
# not permitted (wn_can, tp_can); UP... the set-up command line.
ns_suite_up() {
	local why can=$1
	shift
	if ! why=$("$can"); then
		echo "$why" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	: "${STP_SLOW:=1}"
	if ! "$@"; then
		echo "the namespaces could not be set up" >"$BATS_FILE_TMPDIR/skip"
		for f in "$BATS_FILE_TMPDIR"/net/*.err; do echo "== $f"; cat "$f"; done \
			>>"$BATS_FILE_TMPDIR/skip"
	fi
	return 0
}

# ns_test_setup: setup()'s part; NS_SKIP is the reason, if any.
ns_test_setup() {
	stp_setup
	NS_SKIP=
	if [ -f "$BATS_FILE_TMPDIR/skip" ]; then NS_SKIP=$(head -1 "$BATS_FILE_TMPDIR/skip"); fi
}

# ns_need: in a test, the namespaces of setup_file, or skip (not
# permitted here) or fail (permitted, but the set-up failed: a defect,
# shown). Sets WN_DIR.
ns_need() {
	if [ "$NS_SKIP" = "the namespaces could not be set up" ]; then
		cat "$BATS_FILE_TMPDIR/skip" >&2
		return 1
	fi
	[ -z "$NS_SKIP" ] || skip "$NS_SKIP"
	WN_DIR=$BATS_FILE_TMPDIR/net
}
