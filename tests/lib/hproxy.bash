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

# start_squid: Squid wanting alice / s3cret; exports SQ_PORT, SQ_DIR (its
# access.log there). Squid drops root for its own user, which must read
# its files: they live in a folder of their own under /tmp; remove it with
# stop_squid_dir in teardown.
start_squid() {
	local try
	SQ_DIR=$(mktemp -d /tmp/stp-squid.XXXXXX)
	htpasswd -bc "$SQ_DIR/htpasswd" alice s3cret 2>/dev/null
	chmod 644 "$SQ_DIR/htpasswd"
	chmod 777 "$SQ_DIR"
	for try in 1 2 3; do
		SQ_PORT=$(free_port)
		cat >"$SQ_DIR/squid.conf" <<-EOC
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
			auth_param basic program /usr/lib/squid/basic_ncsa_auth $SQ_DIR/htpasswd
			auth_param basic realm stp-test
			acl authed proxy_auth REQUIRED
			acl okports port 1024-65535
			acl CONNECT method CONNECT
			http_access deny CONNECT !okports
			http_access allow authed
			http_access deny all
		EOC
		start_bg "squid.$try" squid -N -f "$SQ_DIR/squid.conf"
		wait_for_port "$SQ_PORT" 15 && return 0
	done
	return 1
}

stop_squid_dir() {
	[ -n "${SQ_DIR:-}" ] && rm -rf "$SQ_DIR"
	return 0
}
