# krb5realm.bash - a throw-away Kerberos realm for the GSS-API tests: an MIT
# KDC (Debian krb5-kdc) on a free loopback port, its database, a service
# keytab for the proxy and a user with a ticket, everything under the
# test's temp folder and its own KRB5_CONFIG, the KDC stopped by PID in
# the test's teardown like any start_bg process.
#
#   krb5_realm_start             realm STP.TEST, KDC up; exports KRB5_CONFIG,
#                                KRB5_KDC_PROFILE, KRB5CCNAME (empty cache),
#                                KRB5_REALM, KRB5_DIR, KDC_PORT
#   krb5_add_service NAME KEYTAB PRINCIPAL...   random-key principals
#                                (e.g. rcmd/localhost) added to KEYTAB
#   krb5_add_user NAME PASSWORD  a user principal
#   krb5_kinit NAME PASSWORD [LIFETIME]  a ticket in $KRB5CCNAME
#
# Host names are taken as written (no DNS canonicalisation, no reverse
# lookup): a client naming the proxy "localhost" asks for rcmd/localhost.

krb5_realm_start() {
	command -v krb5kdc >/dev/null || skip "krb5kdc not installed (Debian krb5-kdc)"
	command -v kdb5_util >/dev/null || skip "kdb5_util not installed (Debian krb5-kdc)"
	KRB5_REALM=STP.TEST
	KRB5_DIR="$BATS_TEST_TMPDIR/krb5"
	mkdir -p "$KRB5_DIR"
	KDC_PORT=$(free_port)
	cat >"$KRB5_DIR/krb5.conf" <<CONF
[libdefaults]
	default_realm = $KRB5_REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	ignore_acceptor_hostname = false
	udp_preference_limit = 1
[realms]
	$KRB5_REALM = {
		kdc = 127.0.0.1:$KDC_PORT
	}
[domain_realm]
	localhost = $KRB5_REALM
	127.0.0.1 = $KRB5_REALM
CONF
	cat >"$KRB5_DIR/kdc.conf" <<CONF
[kdcdefaults]
	kdc_ports = $KDC_PORT
	kdc_tcp_ports = $KDC_PORT
[realms]
	$KRB5_REALM = {
		database_name = $KRB5_DIR/principal
		key_stash_file = $KRB5_DIR/stash
		acl_file = $KRB5_DIR/kadm5.acl
		max_life = 10h
		max_renewable_life = 1d
	}
[logging]
	kdc = FILE:$KRB5_DIR/kdc.log
CONF
	: >"$KRB5_DIR/kadm5.acl"
	export KRB5_CONFIG="$KRB5_DIR/krb5.conf" KRB5_KDC_PROFILE="$KRB5_DIR/kdc.conf"
	export KRB5CCNAME="FILE:$KRB5_DIR/ccache" KRB5_REALM KRB5_DIR KDC_PORT
	# no replay cache files outside the test's folder
	export KRB5RCACHEDIR="$KRB5_DIR"
	kdb5_util create -s -r "$KRB5_REALM" -P "stp-master-$$" \
		>"$KRB5_DIR/create.log" 2>&1 || {
		cat "$KRB5_DIR/create.log" >&2
		return 1
	}
	start_bg krb5kdc krb5kdc -n -r "$KRB5_REALM"
	wait_for_port "$KDC_PORT" 10
}

krb5_add_service() {
	local keytab=$1 p
	shift
	for p in "$@"; do
		kadmin.local -r "$KRB5_REALM" -q "addprinc -randkey $p" >/dev/null 2>&1 || return 1
		kadmin.local -r "$KRB5_REALM" -q "ktadd -k $keytab $p" >/dev/null 2>&1 || return 1
	done
}

krb5_add_user() {
	kadmin.local -r "$KRB5_REALM" -q "addprinc -pw $2 $1" >/dev/null 2>&1
}

krb5_kinit() {
	local life=${3:-1h}
	printf '%s\n' "$2" | kinit -l "$life" "$1@$KRB5_REALM" >/dev/null
}

# krb5_proxy_setup [USER...]: what every stp-serve GSS-API suite starts
# from: the realm; stp-serve's keytab $KEYTAB for rcmd/localhost and
# rcmd/127.0.0.1; alice (password alice-Pw1) and each USER (USER-Pw1);
# alice's ticket in the cache.
krb5_proxy_setup() {
	local u
	krb5_realm_start || return 1
	KEYTAB="$T/proxy.keytab"
	krb5_add_service "$KEYTAB" rcmd/localhost rcmd/127.0.0.1 || return 1
	for u in alice "$@"; do
		krb5_add_user "$u" "$u-Pw1" || return 1
	done
	krb5_kinit alice alice-Pw1
}
