# tests/lib/hproxy.bash - real HTTP proxies as test peers: tinyproxy and
# Squid (Basic auth through basic_ncsa_auth and a throw-away htpasswd),
# each on a free loopback port, any CONNECT port from 1024 allowed.

# start_tinyproxy: exports TP_PORT, TP_LOG (tinyproxy -d logs on stdout).
start_tinyproxy() {
	local try
	for try in 1 2 3; do
		TP_PORT=$(free_port)
		printf 'Port %s\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nLogLevel Connect\n' \
			"$TP_PORT" >"$BATS_TEST_TMPDIR/tinyproxy.conf"
		start_bg "tinyproxy.$try" tinyproxy -d -c "$BATS_TEST_TMPDIR/tinyproxy.conf"
		TP_LOG=$BATS_TEST_TMPDIR/tinyproxy.$try.out
		wait_for_port "$TP_PORT" 5 && return 0
	done
	return 1
}

# Squid drops root for its own user, which must read its files: they
# live in a folder of their own under /tmp (SQ_DIR, made by squid_dir);
# remove it with stop_squid_dir in teardown.
squid_dir() {
	SQ_DIR=$(mktemp -d /tmp/stp-squid.XXXXXX) || return 1
	chmod 777 "$SQ_DIR"
}

# start_squid_with LINE...: Squid on a free loopback port with its files
# in SQ_DIR (squid_dir first), no cache, and the LINEs (peers, access
# rules) after the common settings; exports SQ_PORT (access.log in SQ_DIR).
start_squid_with() {
	local try
	[ -n "${SQ_DIR:-}" ] && [ -d "$SQ_DIR" ] || return 1
	for try in 1 2 3; do
		SQ_PORT=$(free_port)
		{
			cat <<-EOC
				http_port 127.0.0.1:$SQ_PORT
				visible_hostname stp-test
				pid_filename $SQ_DIR/squid.pid
				cache_log $SQ_DIR/cache.log
				access_log stdio:$SQ_DIR/access.log
				cache_store_log none
				coredump_dir $SQ_DIR
				netdb_filename none
				pinger_enable off
				shutdown_lifetime 0 seconds
				cache deny all
			EOC
			printf '%s\n' "$@"
		} >"$SQ_DIR/squid.conf"
		start_bg "squid.$try" squid -N -f "$SQ_DIR/squid.conf"
		wait_for_port "$SQ_PORT" 15 && return 0
	done
	return 1
}

# start_squid: Squid wanting alice / s3cret, CONNECT to any port from 1024;
# exports SQ_PORT, SQ_DIR (as start_squid_with).
start_squid() {
	squid_dir || return 1
	htpasswd -bc "$SQ_DIR/htpasswd" alice s3cret 2>/dev/null
	chmod 644 "$SQ_DIR/htpasswd"
	start_squid_with \
		"auth_param basic program /usr/lib/squid/basic_ncsa_auth $SQ_DIR/htpasswd" \
		"auth_param basic realm stp-test" \
		"acl authed proxy_auth REQUIRED" \
		"acl okports port 1024-65535" \
		"acl CONNECT method CONNECT" \
		"http_access deny CONNECT !okports" \
		"http_access allow authed" \
		"http_access deny all"
}

stop_squid_dir() {
	[ -n "${SQ_DIR:-}" ] && rm -rf "$SQ_DIR"
	return 0
}
