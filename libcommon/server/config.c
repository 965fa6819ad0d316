/* config.c - defaults, then the JSON file, then the command line: one
 * table of keys, one setter per key, the same for both sources. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cidr.h"
#include "proto/gssmsg.h"
#include "server/config.h"
#include "server/nat.h"
#include "server/policy/mcastpol.h"
#include "server/policy/ratelimit.h"
#include "core/opts.h"
#include "core/sock.h"
#include "server/policy/rules.h"
#include "proto/url.h"
#include "server/workers.h"

#define CFG_FILE_MAX (1 << 20)

struct strnode {
	struct strnode *next;
	char s[];
};

struct stp_cfg_mem {
	struct strnode *strs;
};

struct build {
	struct stp_server_cfg *cfg;
	json_t *rules;          /* every rule so far, in order */
	bool args;              /* applying the command line now */
	unsigned cleared;       /* list groups the command line has replaced */
	bool verbose_seen;
};

/* What a key takes in the file. */
enum jkind { J_STR, J_SECS, J_INT, J_INT_AUTO, J_BOOL, J_LIST, J_RULES, J_RATE };

typedef int setter(struct build *b, const char *where, const char *val, struct stp_err *e);

struct key {
	const char *name;
	enum jkind kind;
	setter *set;
	unsigned group;         /* list keys: which list the command line replaces */
};

/* Keeps a copy of s for the life of the configuration. Returns NULL when
 * out of memory. */
static const char *keep(struct build *b, const char *s)
{
	size_t n = strlen(s) + 1;
	struct strnode *sn = malloc(sizeof(*sn) + n);

	if (!sn)
		return NULL;
	memcpy(sn->s, s, n);
	sn->next = b->cfg->mem->strs;
	b->cfg->mem->strs = sn;
	return sn->s;
}

static int keep_into(struct build *b, const char **dst, const char *val, struct stp_err *e)
{
	const char *k = keep(b, val);

	if (!k)
		return stp_err_set(e, STP_EXIT_FAIL, "configuration: out of memory");
	*dst = k;
	return 0;
}

/* A list key met on the command line for the first time: drop the file's. */
static void clear_group(struct build *b, unsigned group)
{
	if (!b->args || (b->cleared & group))
		return;
	b->cleared |= group;
	switch (group) {
	case 1:
		b->cfg->nlisten = 0;
		memset(b->cfg->listen_tls, 0, sizeof(b->cfg->listen_tls));
		break;
	case 2:
		b->cfg->resolvers[0] = '\0';
		break;
	case 4:
		json_array_clear(b->rules);
		break;
	case 8:
		b->cfg->nmcast_allow = 0;
		break;
	case 16:
		b->cfg->nupstream = 0;
		break;
	case 32:
		b->cfg->nproxy_from = 0;
		break;
	case 64:
		memset(b->cfg->advertise, 0, sizeof(b->cfg->advertise));
		break;
	case 128:
		memset(b->cfg->egress, 0, sizeof(b->cfg->egress));
		break;
	case 256:
		b->cfg->upstream_local = 0;
		break;
	case 512:
		b->cfg->ntransparent = 0;
		break;
	case 1024:
		b->cfg->ntransparent_udp = 0;
		break;
	case 2048:
		b->cfg->nchains = 0;
		break;
	}
}

static int add_listen(struct build *b, const char *where, const char *val, bool tls,
		      struct stp_err *e)
{
	struct stp_server_cfg *c = b->cfg;

	clear_group(b, 1);
	if (c->nlisten == STP_MAX_LISTEN)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d listeners (at '%s')",
				   where, STP_MAX_LISTEN, val);
	if (!*val)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected ADDR:PORT", where);
	c->listen_tls[c->nlisten] = tls;
	return keep_into(b, &c->listen[c->nlisten++], val, e);
}

static int set_listen(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	return add_listen(b, where, val, false, e);
}

static int set_tls_listen(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	return add_listen(b, where, val, true, e);
}

/* --transparent and --transparent-udp ADDR:PORT (transparent.h): one
 * more listener for redirected flows, checked when it is bound. */
static int add_transparent(struct build *b, const char *where, const char *val, bool udp,
			   struct stp_err *e)
{
	struct stp_server_cfg *c = b->cfg;
	int *n = udp ? &c->ntransparent_udp : &c->ntransparent;
	const char **v = udp ? c->transparent_udp : c->transparent;
	char host[256];
	uint16_t port;

	clear_group(b, udp ? 1024 : 512);
	if (*n == STP_MAX_TRANSPARENT)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d (at '%s')", where,
				   STP_MAX_TRANSPARENT, val);
	if (stp_hostport_split(val, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "%s", where);
	return keep_into(b, &v[(*n)++], val, e);
}

static int set_transparent(struct build *b, const char *where, const char *val,
			   struct stp_err *e)
{
	return add_transparent(b, where, val, false, e);
}

static int set_transparent_udp(struct build *b, const char *where, const char *val,
			       struct stp_err *e)
{
	return add_transparent(b, where, val, true, e);
}

static int set_resolver(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	struct stp_server_cfg *c = b->cfg;
	char host[256], item[STP_HOSTPORT_MAX];
	uint16_t port;
	struct stp_addr a;

	clear_group(b, 2);
	if (stp_hostport_split(val, host, sizeof(host), &port, 53, false, e) < 0)
		return stp_err_prefix(e, "%s", where);
	if (stp_addr_from_host(&a, host, port) < 0 || a.atyp == STP_ATYP_NAME)
		return stp_err_set(e, STP_EXIT_USAGE, "%s needs a numeric address, not '%s'",
				   where, val);
	if (a.atyp == STP_ATYP_IPV6)
		snprintf(item, sizeof(item), "[%s]:%u", host, port);
	else
		snprintf(item, sizeof(item), "%s:%u", host, port);
	if (strlen(c->resolvers) + strlen(item) + 2 > sizeof(c->resolvers))
		return stp_err_set(e, STP_EXIT_USAGE, "too many resolvers (at '%s')", val);
	if (c->resolvers[0])
		strcat(c->resolvers, ",");
	strcat(c->resolvers, item);
	return 0;
}

static int set_rules(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	json_error_t je;
	json_t *j;
	int rc = 0;

	clear_group(b, 4);
	j = json_loads(val, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: not JSON: column %d: %s", where,
				   je.column, je.text);
	/* checked here, so that the message names the option */
	struct stp_rules *r = stp_rules_parse(j, where, e);
	if (!r)
		rc = -1;
	else if (json_is_array(j) ? json_array_extend(b->rules, j) : json_array_append(b->rules, j))
		rc = stp_err_set(e, STP_EXIT_FAIL, "configuration: out of memory");
	stp_rules_free(r);
	json_decref(j);
	return rc;
}

static int set_mcast_allow(struct build *b, const char *where, const char *val,
			   struct stp_err *e)
{
	struct stp_mcast_rule r;

	clear_group(b, 8);
	if (b->cfg->nmcast_allow == STP_MCAST_ALLOW_MAX)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d entries (at '%s')", where,
				   STP_MCAST_ALLOW_MAX, val);
	if (stp_mcast_rule_parse(val, &r, where, e) < 0)
		return -1;
	return keep_into(b, &b->cfg->mcast_allow[b->cfg->nmcast_allow++], val, e);
}

/* --proxy-protocol CIDR: one more range of trusted load balancers. */
static int set_proxy_protocol(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	struct stp_server_cfg *c = b->cfg;

	clear_group(b, 32);
	if (c->nproxy_from == STP_MAX_PROXY_FROM)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d ranges (at '%s')", where,
				   STP_MAX_PROXY_FROM, val);
	if (stp_cidr_parse(val, &c->proxy_from[c->nproxy_from]) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s' is not an address or CIDR range",
				   where, val);
	c->nproxy_from++;
	return 0;
}

/* --advertise ADDR and --egress ADDR: one address per family (nat.h). */
static int set_advertise(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	clear_group(b, 64);
	return stp_nat_family_addr(b->cfg->advertise, where, val, e);
}

static int set_egress(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	clear_group(b, 128);
	return stp_nat_family_addr(b->cfg->egress, where, val, e);
}

/* --attach-at HOST:PORT: a name or a literal, and a port (cmd_bindmulti.c
 * puts it in every NOTICE, so a client must be able to connect there). */
static int set_attach_at(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	char host[256];
	uint16_t port;
	struct stp_addr a;

	if (stp_hostport_split(val, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "%s", where);
	if (stp_addr_from_host(&a, host, port) < 0 || port == 0 ||
	    (a.atyp != STP_ATYP_NAME && stp_addr_is_zero(&a)))
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s' is not an address clients can "
				   "connect to (HOST:PORT, no port 0, no unspecified address)",
				   where, val);
	return keep_into(b, &b->cfg->attach_at, val, e);
}

static int set_udp_ports(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	return stp_nat_ports_parse(where, val, &b->cfg->udp_port_min, &b->cfg->udp_port_max, e);
}

static int set_egress_iface(struct build *b, const char *where, const char *val,
			    struct stp_err *e)
{
	return stp_nat_iface_parse(where, val, b->cfg->egress_iface, sizeof(b->cfg->egress_iface),
				   e);
}

static int set_mcast_max_ttl(struct build *b, const char *where, const char *val,
			     struct stp_err *e)
{
	return stp_parse_long(val, 0, 255, &b->cfg->mcast_max_ttl, where, e);
}

/* Paths and other strings. */
#define STRING_SETTER(fn, field)                                                        \
	static int fn(struct build *b, const char *where, const char *val, struct stp_err *e) \
	{                                                                               \
		if (!*val)                                                              \
			return stp_err_set(e, STP_EXIT_USAGE, "%s: empty", where);       \
		return keep_into(b, &b->cfg->field, val, e);                            \
	}
STRING_SETTER(set_users, users_file)
STRING_SETTER(set_cert, tls_cert)
STRING_SETTER(set_key, tls_key)
STRING_SETTER(set_client_ca, tls_client_ca)
STRING_SETTER(set_client_config, client_config_file)
STRING_SETTER(set_user, run_as)
STRING_SETTER(set_gss_keytab, gss_keytab)

/* --gssapi-service NAME: the first part of the principals accepted
 * (NAME/host@REALM); a whole principal is not a service name. */
static int set_gss_service(struct build *b, const char *where, const char *val,
			   struct stp_err *e)
{
	if (!*val || strpbrk(val, "/@ \t") || strlen(val) > 63)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected a service name such as rcmd, "
				   "not '%s'", where, val);
	return keep_into(b, &b->cfg->gss_service, val, e);
}

/* --gssapi-protection none|integrity|confidentiality. */
static int set_gss_protection(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	int lv = stp_gss_level_parse(val);

	if (lv < 0 || lv > STP_GSS_LEVEL_CONFIDENTIALITY)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected none, integrity or "
				   "confidentiality, not '%s'", where, val);
	b->cfg->gss_protection = lv;
	return 0;
}

/* --upstream URL: one more hop of the chain, checked as a client's -x. */
static int set_upstream(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	struct stp_proxy p;
	int rc;

	clear_group(b, 16);
	if (b->cfg->nupstream == STP_MAX_UPSTREAM)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d upstream proxies", where,
				   STP_MAX_UPSTREAM);
	rc = stp_url_parse(val, &p, e);
	stp_proxy_wipe(&p);
	if (rc < 0)
		return stp_err_prefix(e, "%s", where);
	/* the relay reads and writes through one TLS layer: TLS inside TLS
	 * would leave the outer layer's buffered bytes unannounced */
	for (int i = 0; p.tls && i < b->cfg->nupstream; i++) {
		struct stp_proxy q;
		bool tls = stp_url_parse(b->cfg->upstream[i], &q, e) == 0 && q.tls;
		stp_proxy_wipe(&q);
		if (tls)
			return stp_err_set(e, STP_EXIT_USAGE, "%s: only one upstream proxy of the "
					   "chain may use TLS (socks5s, socks5hs, https)", where);
	}
	return keep_into(b, &b->cfg->upstream[b->cfg->nupstream++], val, e);
}

/* --upstream-chain URL[,URL...]: one whole alternative chain, each hop
 * checked as --upstream's (in the file, "upstream_chains" takes arrays of
 * URLs, joined with commas by apply_json). */
static int set_upstream_chain(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	char buf[4096], *save = NULL;
	int hops = 0, tls = 0;

	clear_group(b, 2048);
	if (b->cfg->nchains == STP_MAX_CHAINS)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d upstream chains", where,
				   STP_MAX_CHAINS);
	if (strlen(val) >= sizeof(buf))
		return stp_err_set(e, STP_EXIT_USAGE, "%s: too long", where);
	snprintf(buf, sizeof(buf), "%s", val);
	for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		struct stp_proxy p;
		int rc = stp_url_parse(u, &p, e);
		tls += rc == 0 && p.tls;
		stp_proxy_wipe(&p);
		if (rc < 0) {
			OPENSSL_cleanse(buf, sizeof(buf));
			return stp_err_prefix(e, "%s", where);
		}
		hops++;
	}
	OPENSSL_cleanse(buf, sizeof(buf));  /* may hold passwords */
	if (hops == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: no proxy URL", where);
	if (hops > STP_MAX_UPSTREAM)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: at most %d proxies in a chain", where,
				   STP_MAX_UPSTREAM);
	if (tls > 1)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: only one upstream proxy of the chain "
				   "may use TLS (socks5s, socks5hs, https)", where);
	return keep_into(b, &b->cfg->upstream_chain[b->cfg->nchains++], val, e);
}

/* --upstream-strategy failover|round-robin|hash-user */
static int set_upstream_strategy(struct build *b, const char *where, const char *val,
				 struct stp_err *e)
{
	if (strcmp(val, "failover") == 0)
		b->cfg->upstream_strategy = STP_UPSTRAT_FAILOVER;
	else if (strcmp(val, "round-robin") == 0)
		b->cfg->upstream_strategy = STP_UPSTRAT_ROUND_ROBIN;
	else if (strcmp(val, "hash-user") == 0)
		b->cfg->upstream_strategy = STP_UPSTRAT_HASH_USER;
	else
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s' is not failover, round-robin or "
				   "hash-user", where, val);
	return 0;
}

/* --upstream-cacert FILE: must be readable now (the TLS context is made
 * at the first TLS upstream). */
static int set_upstream_cacert(struct build *b, const char *where, const char *val,
			       struct stp_err *e)
{
	FILE *f;

	if (!*val)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: empty", where);
	if (!(f = fopen(val, "r")))
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %s: %s", where, val, strerror(errno));
	fclose(f);
	return keep_into(b, &b->cfg->upstream_cacert, val, e);
}

/* --stats ADDR:PORT: a numeric address (checked here), bound at start. */
static int set_stats(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	char host[256];
	uint16_t port;
	struct stp_addr a;

	if (stp_hostport_split(val, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "%s", where);
	if (stp_addr_from_host(&a, host, port) < 0 || a.atyp == STP_ATYP_NAME)
		return stp_err_set(e, STP_EXIT_USAGE, "%s needs a numeric address, not '%s'",
				   where, val);
	return keep_into(b, &b->cfg->stats_listen, val, e);
}
STRING_SETTER(set_mcast_iface, mcast_iface)
STRING_SETTER(set_stats_users, stats_users)

static int set_auth_url(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected an http:// or https:// URL",
				   where);
	return keep_into(b, &b->cfg->auth_url, val, e);
}

/* Seconds: positive ones (timeouts that must end) and others (0 = off). */
static int secs(const char *where, const char *val, long max, bool positive, long *out,
		struct stp_err *e)
{
	long v;

	if (stp_parse_secs(val, max, &v, where, e) < 0)
		return -1;
	if (positive && v == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: not a positive number of seconds: '%s'",
				   where, val);
	*out = v;
	return 0;
}

#define SECS_SETTER(fn, field, max, positive)                                           \
	static int fn(struct build *b, const char *where, const char *val, struct stp_err *e) \
	{                                                                               \
		return secs(where, val, max, positive, &b->cfg->field, e);              \
	}
SECS_SETTER(set_hs_timeout, handshake_timeout_ms, 86400, true)
SECS_SETTER(set_connect_timeout, connect_timeout_ms, 86400, true)
SECS_SETTER(set_bind_timeout, bind_timeout_ms, 86400, true)
SECS_SETTER(set_idle_timeout, idle_timeout_ms, 86400 * 365, false)
SECS_SETTER(set_drain_timeout, drain_timeout_ms, 86400, false)
SECS_SETTER(set_auth_cache, auth_cache_ms, 86400 * 7, false)
SECS_SETTER(set_auth_neg_cache, auth_neg_cache_ms, 86400, false)
SECS_SETTER(set_auth_timeout, auth_timeout_ms, 300, true)

static int set_keepalive(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	return stp_parse_long(val, 0, STP_KEEPALIVE_MAX, &b->cfg->keepalive_s, where, e);
}

/* --bind-ports MIN-MAX (or one PORT): the ports a BIND's hint may name;
 * "none" grants no hint. */
static int set_bind_ports(struct build *b, const char *where, const char *val,
			  struct stp_err *e)
{
	long min, max;

	if (strcmp(val, "none") == 0) {
		b->cfg->bind_port_min = b->cfg->bind_port_max = 0;
		return 0;
	}
	if (val[strspn(val, "0123456789-")] != '\0')
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected MIN-MAX (ports 1-65535) "
				   "or none, not '%s'", where, val);
	if (stp_nat_ports_parse(where, val, &min, &max, e) < 0)
		return -1;
	b->cfg->bind_port_min = min;
	b->cfg->bind_port_max = max;
	return 0;
}

static int set_max_sessions(struct build *b, const char *where, const char *val,
			    struct stp_err *e)
{
	return stp_parse_long(val, 1, 1 << 22, &b->cfg->max_sessions, where, e);
}

/* --workers N, or "auto": one per online CPU (at most STP_MAX_WORKERS). */
static int set_workers(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	if (strcmp(val, "auto") == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		b->cfg->workers = n < 1 ? 1 : n > STP_MAX_WORKERS ? STP_MAX_WORKERS : n;
		return 0;
	}
	return stp_parse_long(val, 1, STP_MAX_WORKERS, &b->cfg->workers, where, e);
}

static int set_max_per_client(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	return stp_parse_long(val, 0, 1 << 22, &b->cfg->max_per_client, where, e);
}

static int set_login_failures(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	return stp_parse_long(val, 0, 1000, &b->cfg->login_failures, where, e);
}

static int set_bandwidth(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	return stp_parse_bytes(val, 1, STP_BYTES_MAX, &b->cfg->bandwidth, where, e);
}

static int set_user_bandwidth(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	return stp_parse_bytes(val, 1, STP_BYTES_MAX, &b->cfg->user_bandwidth, where, e);
}

static int set_open(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	(void)where;
	(void)e;
	b->cfg->open = strcmp(val, "false") != 0;
	return 0;
}

/* --stats-per-user: metrics labelled by user (off: label cardinality). */
static int set_stats_per_user(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	(void)where;
	(void)e;
	b->cfg->stats_per_user = strcmp(val, "false") != 0;
	return 0;
}

static int set_udp_any_sender(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	(void)where;
	(void)e;
	b->cfg->udp_any_sender = strcmp(val, "false") != 0;
	return 0;
}

static int set_no_http(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	(void)where;
	(void)e;
	b->cfg->no_http = strcmp(val, "false") != 0;
	return 0;
}

static int set_upstream_mux(struct build *b, const char *where, const char *val,
			    struct stp_err *e)
{
	(void)where;
	(void)e;
	b->cfg->upstream_mux = strcmp(val, "false") != 0;
	return 0;
}

/* --upstream-local udp,bind,dns: comma-separated classes, added up (the
 * option and the key's array elements alike). */
static int set_upstream_local(struct build *b, const char *where, const char *val,
			      struct stp_err *e)
{
	const char *p = val;

	clear_group(b, 256);
	for (;;) {
		size_t n = strcspn(p, ",");
		if (n == 3 && strncmp(p, "udp", 3) == 0)
			b->cfg->upstream_local |= STP_UPLOCAL_UDP;
		else if (n == 4 && strncmp(p, "bind", 4) == 0)
			b->cfg->upstream_local |= STP_UPLOCAL_BIND;
		else if (n == 3 && strncmp(p, "dns", 3) == 0)
			b->cfg->upstream_local |= STP_UPLOCAL_DNS;
		else
			return stp_err_set(e, STP_EXIT_USAGE, "%s: expected udp, bind or dns "
					   "(comma-separated), not '%.*s'", where, (int)n, p);
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

static int set_log_format(struct build *b, const char *where, const char *val,
			  struct stp_err *e)
{
	if (strcmp(val, "json") == 0)
		b->cfg->log.json = true;
	else if (strcmp(val, "text") == 0)
		b->cfg->log.json = false;
	else
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected text or json, not '%s'",
				   where, val);
	return 0;
}

/* -v counts on the command line; "verbose": N in the file. */
static int set_verbose(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	long n;

	if (b->args) {
		if (!b->verbose_seen)
			b->cfg->log.level = STP_LOG_INFO;
		b->verbose_seen = true;
		b->cfg->log.level++;
		return 0;
	}
	if (stp_parse_long(val, 0, 3, &n, where, e) < 0)
		return -1;
	b->cfg->log.level = STP_LOG_INFO + (int)n;
	return 0;
}

static int set_quiet(struct build *b, const char *where, const char *val, struct stp_err *e)
{
	(void)where;
	(void)e;
	if (strcmp(val, "false") != 0)
		b->cfg->log.level = STP_LOG_ERR;
	return 0;
}

/* Every configuration key: the long options of stp-serve but -c itself,
 * --hash-password, --help and --version. */
static const struct key keys[] = {
	{ "listen", J_LIST, set_listen, 1 },
	{ "tls-listen", J_LIST, set_tls_listen, 1 },
	{ "transparent", J_LIST, set_transparent, 512 },
	{ "transparent-udp", J_LIST, set_transparent_udp, 1024 },
	{ "cert", J_STR, set_cert, 0 },
	{ "key", J_STR, set_key, 0 },
	{ "client-ca", J_STR, set_client_ca, 0 },
	{ "client-config", J_STR, set_client_config, 0 },
	{ "users", J_STR, set_users, 0 },
	{ "auth-url", J_STR, set_auth_url, 0 },
	{ "gssapi-keytab", J_STR, set_gss_keytab, 0 },
	{ "gssapi-service", J_STR, set_gss_service, 0 },
	{ "gssapi-protection", J_STR, set_gss_protection, 0 },
	{ "auth-cache", J_SECS, set_auth_cache, 0 },
	{ "auth-negative-cache", J_SECS, set_auth_neg_cache, 0 },
	{ "auth-timeout", J_SECS, set_auth_timeout, 0 },
	{ "rules", J_RULES, set_rules, 4 },
	{ "resolver", J_LIST, set_resolver, 2 },
	{ "handshake-timeout", J_SECS, set_hs_timeout, 0 },
	{ "connect-timeout", J_SECS, set_connect_timeout, 0 },
	{ "bind-timeout", J_SECS, set_bind_timeout, 0 },
	{ "bind-ports", J_STR, set_bind_ports, 0 },
	{ "keepalive", J_INT, set_keepalive, 0 },
	{ "idle-timeout", J_SECS, set_idle_timeout, 0 },
	{ "max-sessions", J_INT, set_max_sessions, 0 },
	{ "max-sessions-per-client", J_INT, set_max_per_client, 0 },
	{ "login-failures", J_INT, set_login_failures, 0 },
	{ "workers", J_INT_AUTO, set_workers, 0 },
	{ "bandwidth", J_RATE, set_bandwidth, 0 },
	{ "user-bandwidth", J_RATE, set_user_bandwidth, 0 },
	{ "open", J_BOOL, set_open, 0 },
	{ "udp-any-sender", J_BOOL, set_udp_any_sender, 0 },
	{ "no-http", J_BOOL, set_no_http, 0 },
	{ "proxy-protocol", J_LIST, set_proxy_protocol, 32 },
	{ "advertise", J_LIST, set_advertise, 64 },
	{ "attach-at", J_STR, set_attach_at, 0 },
	{ "attach_at", J_STR, set_attach_at, 0 },
	{ "udp-ports", J_STR, set_udp_ports, 0 },
	{ "egress", J_LIST, set_egress, 128 },
	{ "egress-interface", J_STR, set_egress_iface, 0 },
	{ "user", J_STR, set_user, 0 },
	{ "mcast-iface", J_STR, set_mcast_iface, 0 },
	{ "mcast-max-ttl", J_INT, set_mcast_max_ttl, 0 },
	{ "mcast-allow", J_LIST, set_mcast_allow, 8 },
	{ "upstream", J_LIST, set_upstream, 16 },
	{ "upstream-cacert", J_STR, set_upstream_cacert, 0 },
	{ "upstream-mux", J_BOOL, set_upstream_mux, 0 },
	{ "upstream-local", J_LIST, set_upstream_local, 256 },
	{ "upstream-chain", J_LIST, set_upstream_chain, 2048 },
	{ "upstream_chains", J_LIST, set_upstream_chain, 2048 },
	{ "upstream-strategy", J_STR, set_upstream_strategy, 0 },
	{ "log-format", J_STR, set_log_format, 0 },
	{ "drain-timeout", J_SECS, set_drain_timeout, 0 },
	{ "stats", J_STR, set_stats, 0 },
	{ "stats-users", J_STR, set_stats_users, 0 },
	{ "stats-per-user", J_BOOL, set_stats_per_user, 0 },
	{ "verbose", J_INT, set_verbose, 0 },
	{ "quiet", J_BOOL, set_quiet, 0 },
};

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

bool stp_cfg_is_key(const char *name)
{
	return find_key(name) != NULL;
}

/* --- the command line ------------------------------------------------------ */

int stp_cfg_args_add(struct stp_cfg_args *a, const char *key, const char *val,
		     struct stp_err *e)
{
	const struct key *k = find_key(key);
	char where[64];

	if (!k)
		return stp_err_set(e, STP_EXIT_USAGE, "--%s: not a configuration option", key);
	/* check the value now, on a scratch configuration */
	{
		struct stp_server_cfg scratch;
		struct stp_cfg_mem mem = { 0 };
		struct build b = { .cfg = &scratch, .args = true };
		int rc;

		memset(&scratch, 0, sizeof(scratch));
		scratch.mem = &mem;
		b.rules = json_array();
		snprintf(where, sizeof(where), "--%s", key);
		rc = b.rules ? k->set(&b, where, val ? val : "", e)
			     : stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		json_decref(b.rules);
		stp_rules_free(scratch.rules);
		for (struct strnode *n = mem.strs, *next; n; n = next) {
			next = n->next;
			free(n);
		}
		if (rc < 0)
			return -1;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct stp_cfg_arg *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n].key = k->name;
	a->v[a->n].val = strdup(val ? val : "");
	if (!a->v[a->n].val)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	a->n++;
	return 0;
}

void stp_cfg_args_free(struct stp_cfg_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].val);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* --- the file -------------------------------------------------------------- */

/* Where the top-level "key": is in text, as "LINE:COL" (1-based) in buf;
 * "" if it cannot be found (jansson keeps no positions of decoded values,
 * so the text is scanned: strings skipped, only depth 1 counted). */
static const char *locate(const char *text, const char *key, char *buf, size_t cap)
{
	size_t kl = strlen(key);
	int depth = 0, line = 1, col = 1;

	buf[0] = '\0';
	for (const char *p = text; *p; p++, col++) {
		if (*p == '\n') {
			line++;
			col = 0;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			const char *q = p + 1;
			int sline = line, scol = col;
			while (*q && *q != '"') {
				if (*q == '\\' && q[1])
					q++;
				q++;
			}
			if (!*q)
				break;
			bool match = depth == 1 && (size_t)(q - p - 1) == kl &&
				     strncmp(p + 1, key, kl) == 0;
			const char *r = q + 1;
			while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
				r++;
			if (match && *r == ':') {
				snprintf(buf, cap, "%d:%d", sline, scol);
				return buf;
			}
			col += (int)(q - p);  /* strings hold no raw newline in JSON */
			p = q;
		}
	}
	return buf;
}

/* Reads path (at most CFG_FILE_MAX bytes) into a NUL-terminated malloc'd
 * buffer. Returns it, or NULL with e filled. */
static char *slurp(const char *path, size_t *len, struct stp_err *e)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		stp_err_set(e, STP_EXIT_USAGE, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CFG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		stp_err_set(e, STP_EXIT_FAIL, "%s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, CFG_FILE_MAX + 1, f);
	if (ferror(f) || n > CFG_FILE_MAX) {
		stp_err_set(e, STP_EXIT_USAGE, "%s: %s", path,
			    ferror(f) ? strerror(errno) : "larger than 1 MiB");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *kind_text(enum jkind k)
{
	switch (k) {
	case J_STR: return "a string";
	case J_SECS: return "a number of seconds";
	case J_INT: return "an integer";
	case J_INT_AUTO: return "an integer or \"auto\"";
	case J_BOOL: return "true or false";
	case J_LIST: return "a string or an array of strings";
	case J_RULES: return "an array of rule objects";
	case J_RATE: return "bytes per second, a number or a string such as \"200k\"";
	}
	return "?";
}

/* One chain given as an array of URLs: joined with commas for
 * set_upstream_chain. Returns 0 or -1 with e. */
static int chain_of(struct build *b, const struct key *k, json_t *it, const char *w,
		    struct stp_err *e)
{
	char buf[4096];
	size_t off = 0;
	int rc;

	buf[0] = '\0';
	for (size_t j = 0; j < json_array_size(it); j++) {
		json_t *u = json_array_get(it, j);
		if (!json_is_string(u) || strchr(json_string_value(u), ','))
			return stp_err_set(e, STP_EXIT_USAGE, "%s[%zu]: expected a proxy URL", w, j);
		int n = snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "," : "",
				 json_string_value(u));
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			return stp_err_set(e, STP_EXIT_USAGE, "%s: too long", w);
		off += (size_t)n;
	}
	rc = k->set(b, w, buf, e);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Applies one value v of key k from the file. Returns 0 or -1 with e. */
static int apply_json(struct build *b, const struct key *k, json_t *v, const char *where,
		      struct stp_err *e)
{
	char num[64];

	switch (k->kind) {
	case J_STR:
		if (!json_is_string(v))
			break;
		return k->set(b, where, json_string_value(v), e);
	case J_SECS:
		if (!json_is_number(v))
			break;
		snprintf(num, sizeof(num), "%.17g", json_number_value(v));
		return k->set(b, where, num, e);
	case J_INT_AUTO:
		if (json_is_string(v))
			return k->set(b, where, json_string_value(v), e);
		/* fall through */
	case J_INT:
		if (!json_is_integer(v))
			break;
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return k->set(b, where, num, e);
	case J_RATE:
		if (json_is_string(v))
			return k->set(b, where, json_string_value(v), e);
		if (!json_is_number(v))
			break;
		snprintf(num, sizeof(num), "%.17g", json_number_value(v));
		return k->set(b, where, num, e);
	case J_BOOL:
		if (!json_is_boolean(v))
			break;
		return k->set(b, where, json_is_true(v) ? "true" : "false", e);
	case J_LIST:
		if (json_is_string(v))
			return k->set(b, where, json_string_value(v), e);
		if (!json_is_array(v))
			break;
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *it = json_array_get(v, i);
			char w[440];
			snprintf(w, sizeof(w), "%s[%zu]", where, i);
			if (json_is_array(it) && k->set == set_upstream_chain) {
				/* "upstream_chains": [[URL, ...], ...] */
				if (chain_of(b, k, it, w, e) < 0)
					return -1;
				continue;
			}
			if (!json_is_string(it))
				return stp_err_set(e, STP_EXIT_USAGE, "%s: expected a string", w);
			if (k->set(b, w, json_string_value(it), e) < 0)
				return -1;
		}
		return 0;
	case J_RULES: {
		if (!json_is_array(v) && !json_is_object(v))
			break;
		struct stp_rules *r = stp_rules_parse(v, where, e);
		if (!r)
			return -1;
		stp_rules_free(r);
		if (json_is_array(v) ? json_array_extend(b->rules, v) : json_array_append(b->rules, v))
			return stp_err_set(e, STP_EXIT_FAIL, "configuration: out of memory");
		return 0;
	}
	}
	return stp_err_set(e, STP_EXIT_USAGE, "%s: expected %s", where, kind_text(k->kind));
}

static int load_file(struct build *b, const char *path, struct stp_err *e)
{
	size_t len = 0;
	char *text = slurp(path, &len, e);
	json_error_t je;
	json_t *root, *v;
	const char *key;
	int rc = 0;

	if (!text)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		stp_err_set(e, STP_EXIT_USAGE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		rc = -1;
		goto out;
	}
	if (!json_is_object(root)) {
		stp_err_set(e, STP_EXIT_USAGE, "%s:1:1: expected a JSON object of options", path);
		rc = -1;
		goto out;
	}
	json_object_foreach(root, key, v) {
		const struct key *k = find_key(key);
		char pos[32], where[400];
		locate(text, key, pos, sizeof(pos));
		if (!k) {
			stp_err_set(e, STP_EXIT_USAGE, "%s:%s%sunknown key '%.60s'", path, pos,
				    pos[0] ? ": " : " ", key);
			rc = -1;
			break;
		}
		snprintf(where, sizeof(where), "%s:%s%s%s", path, pos, pos[0] ? ": " : " ", key);
		if (apply_json(b, k, v, where, e) < 0) {
			rc = -1;
			break;
		}
	}
out:
	json_decref(root);
	OPENSSL_cleanse(text, len);  /* an auth-url may hold a password */
	free(text);
	return rc;
}

/* --- building -------------------------------------------------------------- */

static void defaults(struct stp_server_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->handshake_timeout_ms = 10000;
	c->connect_timeout_ms = 30000;
	c->bind_timeout_ms = 120000;
	/* like ssh -R: a port hint below 1024 needs the operator's say-so */
	c->bind_port_min = 1024;
	c->bind_port_max = 65535;
	c->drain_timeout_ms = 10000;
	c->max_sessions = STP_MAX_SESSIONS_DEFAULT;
	c->workers = 1;
	c->auth_cache_ms = 60000;
	c->auth_neg_cache_ms = 10000;
	c->auth_timeout_ms = 5000;
	c->login_failures = STP_LOGIN_FAIL_MAX;
	c->mcast_max_ttl = 1;
	c->log.level = STP_LOG_INFO;
}

int stp_cfg_build(struct stp_server_cfg *cfg, const char *file,
		  const struct stp_cfg_args *args, struct stp_err *e)
{
	struct build b = { .cfg = cfg };

	defaults(cfg);
	cfg->mem = calloc(1, sizeof(*cfg->mem));
	b.rules = json_array();
	if (!cfg->mem || !b.rules) {
		json_decref(b.rules);
		free(cfg->mem);
		cfg->mem = NULL;
		return stp_err_set(e, STP_EXIT_FAIL, "configuration: out of memory");
	}
	if (file && load_file(&b, file, e) < 0)
		goto fail;
	b.args = true;
	for (size_t i = 0; args && i < args->n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "--%s", args->v[i].key);
		if (find_key(args->v[i].key)->set(&b, where, args->v[i].val, e) < 0)
			goto fail;
	}
	if (cfg->nlisten == 0 && keep_into(&b, &cfg->listen[cfg->nlisten++], "127.0.0.1:1080", e) < 0)
		goto fail;
	if (json_array_size(b.rules) > 0) {
		cfg->rules = stp_rules_parse(b.rules, "rules", e);
		if (!cfg->rules)
			goto fail;
	}
	json_decref(b.rules);
	cfg->config_file = file;
	cfg->args = args;
	return 0;
fail:
	json_decref(b.rules);
	stp_cfg_release(cfg);
	return -1;
}

void stp_cfg_release(struct stp_server_cfg *cfg)
{
	if (!cfg->mem)
		return;
	for (struct strnode *n = cfg->mem->strs, *next; n; n = next) {
		next = n->next;
		free(n);
	}
	free(cfg->mem);
	cfg->mem = NULL;
	stp_rules_free(cfg->rules);
	cfg->rules = NULL;
}
