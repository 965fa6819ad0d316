/* clientopts.c - SPEC §2.2 options shared by every client program. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/clientcfg.h"
#include "client/clientopts.h"
#include "core/sock.h"
#include "proto/gssmsg.h"
#include "proto/noproxy.h"
#include "proto/url.h"

const struct stp_optdef stp_client_optdefs[] = {
	{ 'x', "proxy", "URL", "the proxy (repeat to chain; the first is contacted first)" },
	{ 'U', "proxy-user", "USER[:PASS]", "credentials for the last hop without credentials in its URL" },
	{ STP_CO_PASSWORD_FILE, "password-file", "FILE", "read the proxy password from the first line of FILE" },
	{ STP_CO_GSSAPI, "gssapi", NULL, "authenticate to the last SOCKS5 proxy by GSS-API (Kerberos ticket of KRB5CCNAME)" },
	{ STP_CO_GSSAPI_SERVICE, "gssapi-service", "NAME", "with --gssapi: the proxy's service (default rcmd; with '/': a whole principal)" },
	{ STP_CO_GSSAPI_PROTECTION, "gssapi-protection", "LEVEL", "with --gssapi: none (default), integrity or confidentiality" },
	{ STP_CO_CONFIG, "config", "FILE|URL", "client configuration: proxies and routes per target (file, http(s) or proxy URL)" },
	{ '4', "ipv4", NULL, "resolve names the client resolves to IPv4 only" },
	{ '6', "ipv6", NULL, "resolve names the client resolves to IPv6 only" },
	{ 'w', "timeout", "SECS", "limit for reaching the proxy, the handshake and the target (default 30)" },
	{ STP_CO_KEEPALIVE, "keepalive", "SECS", "TCP keepalive to the proxy: probe after SECS idle (default off)" },
	{ STP_CO_CACERT, "cacert", "FILE", "TLS to the proxy: trust the CA certificates in FILE (PEM)" },
	{ STP_CO_CERT, "cert", "FILE", "TLS to the proxy: present this client certificate (PEM)" },
	{ STP_CO_KEY, "key", "FILE", "TLS to the proxy: the client certificate's key (PEM)" },
	{ STP_CO_INSECURE, "insecure", NULL, "TLS to the proxy: do not verify its certificate (dangerous)" },
	{ STP_CO_JSON, "json", NULL, "machine output: one JSON object per line" },
	{ 'v', "verbose", NULL, "more diagnostics on stderr (repeatable)" },
	{ 'q', "quiet", NULL, "only errors on stderr" },
	{ 'h', "help", NULL, "show this help and exit" },
	{ 'V', "version", NULL, "show the version and exit" },
	STP_OPT_END
};

void stp_clientopts_init(struct stp_clientopts *co, const char *prog)
{
	memset(co, 0, sizeof(*co));
	co->client.family = AF_UNSPEC;
	co->client.timeout_ms = 30000;
	co->log = (struct stp_log){ stderr, prog, STP_LOG_INFO, false };
	co->client.log = &co->log;  /* -v shows the handshake's steps */
}

/* Points *out at arg, or, when arg holds a password, at a copy in slot
 * (STP_URL_KEEP bytes) and overwrites the password in arg: argv is what
 * ps shows. Returns 0, or -1 with a usage error naming what. */
static int keep_scrubbed(char *arg, char *slot, const char *what, const char **out,
			 struct stp_err *e)
{
	size_t n = strlen(arg);

	if (n >= STP_URL_KEEP) {
		if (stp_url_scrub(arg))
			return stp_err_set(e, STP_EXIT_USAGE, "%s: a URL with a password "
					   "is at most %d bytes", what, STP_URL_KEEP - 1);
		*out = arg;
		return 0;
	}
	memcpy(slot, arg, n + 1);
	*out = stp_url_scrub(arg) ? slot : arg;
	return 0;
}

/* Returns 0, or -1 with a usage error; url is scrubbed either way. */
int stp_clientopts_add_url(struct stp_clientopts *co, char *url, const char *what,
			   struct stp_err *e)
{
	if (co->nurls == STP_MAX_HOPS) {
		stp_url_scrub(url);  /* the message quotes it */
		return stp_err_set(e, STP_EXIT_USAGE, "at most %d proxies (at '%s')",
				   STP_MAX_HOPS, url);
	}
	if (keep_scrubbed(url, co->kept[co->nurls], what, &co->urls[co->nurls], e) < 0)
		return -1;
	co->nurls++;
	return 0;
}

int stp_clientopts_take(struct stp_clientopts *co, int c, char *arg, struct stp_err *e)
{
	long v;

	switch (c) {
	case 'x':
		return stp_clientopts_add_url(co, arg, "-x", e) < 0 ? -1 : STP_CO_TAKEN;
	case 'U':
		co->user_arg = arg;  /* argv: scrubbed once copied */
		return STP_CO_TAKEN;
	case STP_CO_PASSWORD_FILE:
		co->password_file = arg;
		return STP_CO_TAKEN;
	case STP_CO_CONFIG:
		/* a proxy or http URL may carry a password */
		if (keep_scrubbed(arg, co->kept[STP_MAX_HOPS], "--config", &co->config, e) < 0)
			return -1;
		return STP_CO_TAKEN;
	case STP_CO_GSSAPI:
		co->client.gss.on = true;
		return STP_CO_TAKEN;
	case STP_CO_GSSAPI_SERVICE:
		if (!*arg || strlen(arg) > 255)
			return stp_err_set(e, STP_EXIT_USAGE, "--gssapi-service: a name of 1 to "
					   "255 bytes");
		co->client.gss.service = arg;
		return STP_CO_TAKEN;
	case STP_CO_GSSAPI_PROTECTION: {
		int lv = stp_gss_level_parse(arg);
		if (lv < 0 || lv > STP_GSS_LEVEL_CONFIDENTIALITY)
			return stp_err_set(e, STP_EXIT_USAGE, "--gssapi-protection: not none, "
					   "integrity or confidentiality: '%s'", arg);
		co->client.gss.level = lv;
		return STP_CO_TAKEN;
	}
	case '4':
		co->client.family = AF_INET;
		return STP_CO_TAKEN;
	case '6':
		co->client.family = AF_INET6;
		return STP_CO_TAKEN;
	case 'w':
		if (stp_parse_secs(arg, 86400, &v, "-w", e) < 0 || v == 0)
			return stp_err_set(e, STP_EXIT_USAGE,
					   "-w: not a positive number of seconds: '%s'", arg);
		co->client.timeout_ms = v;
		return STP_CO_TAKEN;
	case STP_CO_KEEPALIVE:
		if (stp_parse_long(arg, 1, STP_KEEPALIVE_MAX, &v, "--keepalive", e) < 0)
			return -1;
		co->client.keepalive_s = v;
		return STP_CO_TAKEN;
	case STP_CO_CACERT:
		co->client.tls.cacert = arg;
		return STP_CO_TAKEN;
	case STP_CO_CERT:
		co->client.tls.cert = arg;
		return STP_CO_TAKEN;
	case STP_CO_KEY:
		co->client.tls.key = arg;
		return STP_CO_TAKEN;
	case STP_CO_INSECURE:
		co->client.tls.insecure = true;
		return STP_CO_TAKEN;
	case STP_CO_JSON:
		co->json = true;
		co->log.json = true;
		return STP_CO_TAKEN;
	case 'v':
		co->log.level++;
		return STP_CO_TAKEN;
	case 'q':
		co->log.level = STP_LOG_ERR;
		return STP_CO_TAKEN;
	case 'h':
		return STP_CO_HELP;
	case 'V':
		return STP_CO_VERSION;
	}
	return STP_CO_NOT_MINE;
}

/* Reads the first line of path into buf. Returns 0 or -1 with e. */
static int read_password_file(const char *path, char *buf, size_t cap, struct stp_err *e)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return stp_err_set(e, STP_EXIT_USAGE, "--password-file %s: %s", path, strerror(errno));
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

/* The password for user when none came with it: STP_PASSWORD, else the
 * first line of --password-file. Returns 0 with pass filled, or -1 with e. */
static int password_for(struct stp_clientopts *co, const char *user, char *pass, size_t cap,
			struct stp_err *e)
{
	if (getenv("STP_PASSWORD"))
		snprintf(pass, cap, "%s", getenv("STP_PASSWORD"));
	else if (co->password_file) {
		if (read_password_file(co->password_file, pass, cap, e) < 0)
			return -1;
	} else
		return stp_err_set(e, STP_EXIT_USAGE, "user %s has no password (give USER:PASS, "
				   "STP_PASSWORD or --password-file)", user);
	if (!pass[0] || strlen(pass) > 255) {
		OPENSSL_cleanse(pass, cap);
		return stp_err_set(e, STP_EXIT_USAGE, "the password of %s must be 1 to 255 bytes", user);
	}
	return 0;
}

/* Gives -U's credentials to p, with the password from -U, STP_PASSWORD or
 * --password-file, in that order. */
static int fill_credentials(struct stp_clientopts *co, struct stp_proxy *p, struct stp_err *e)
{
	char pass[256] = "";
	const char *colon;
	size_t ul;

	colon = strchr(co->user_arg, ':');
	ul = colon ? (size_t)(colon - co->user_arg) : strlen(co->user_arg);
	if (ul == 0 || ul > 255)
		return stp_err_set(e, STP_EXIT_USAGE, "-U: a user name is 1 to 255 bytes");
	memcpy(p->user, co->user_arg, ul);
	p->user[ul] = '\0';
	if (colon)
		snprintf(pass, sizeof(pass), "%s", colon + 1);
	else if (password_for(co, p->user, pass, sizeof(pass), e) < 0)
		return -1;
	if (!pass[0] || strlen(colon ? colon + 1 : pass) > 255) {
		OPENSSL_cleanse(pass, sizeof(pass));
		return stp_err_set(e, STP_EXIT_USAGE, "-U %s: a password is 1 to 255 bytes", p->user);
	}
	memcpy(p->pass, pass, strlen(pass) + 1);
	OPENSSL_cleanse(pass, sizeof(pass));
	p->has_user = p->has_pass = true;
	return 0;
}

/* Gives a password to every hop whose URL names a user without one, and
 * -U's credentials to the last hop without its own. */
static int apply_credentials(struct stp_clientopts *co, struct stp_err *e)
{
	struct stp_proxy *p = NULL;

	for (int i = 0; i < co->client.nhops; i++) {
		struct stp_proxy *h = &co->client.hops[i];
		if (h->has_user && !h->has_pass) {
			if (password_for(co, h->user, h->pass, sizeof(h->pass), e) < 0)
				return -1;
			h->has_pass = true;
		}
	}
	if (!co->user_arg)
		return 0;
	for (int i = co->client.nhops - 1; i >= 0 && !p; i--)
		if (!co->client.hops[i].has_user)
			p = &co->client.hops[i];
	if (!p)
		return stp_err_set(e, STP_EXIT_USAGE, "-U: every proxy URL already has credentials");
	if (fill_credentials(co, p, e) < 0)
		return -1;
	/* keep the password out of ps(1) */
	OPENSSL_cleanse(co->user_arg, strlen(co->user_arg));
	return 0;
}

/* The chain for host from the client configuration (--config, else
 * STP_CONFIG) into co->client. Returns 1 when a route decided (no hops:
 * direct), 0 when there is no configuration or no route fits (the
 * environment's proxy then, if any), or -1 with e. */
static int config_chain(struct stp_clientopts *co, const char *host, struct stp_err *e)
{
	const char *src = co->config ? co->config : getenv("STP_CONFIG");
	const char *what = co->config ? "--config" : "STP_CONFIG", *urls[STP_MAX_HOPS];
	struct stp_client how = co->client;
	struct stp_clientcfg *cfg = NULL;
	size_t len = 0;
	char *doc;
	int n, rc = -1;

	if (!src || !*src)
		return 0;
	how.nhops = 0;
	if (stp_clientcfg_source(src) == STP_CFG_PROXY) {
		/* the document comes from this proxy's CONFIG command, with the
		 * credentials of its URL or of -U (argv is scrubbed later) */
		how.nhops = 1;
		if (stp_url_parse(src, &how.hops[0], e) < 0 ||
		    (!how.hops[0].has_user && co->user_arg &&
		     fill_credentials(co, &how.hops[0], e) < 0) ||
		    (how.hops[0].has_user && !how.hops[0].has_pass &&
		     password_for(co, how.hops[0].user, how.hops[0].pass,
				  sizeof(how.hops[0].pass), e) < 0)) {
			stp_proxy_wipe(&how.hops[0]);
			return stp_err_prefix(e, "%s", what);
		}
		how.hops[0].has_pass = how.hops[0].has_user;
		/* --gssapi: that proxy is the last (only) SOCKS5 hop of the fetch */
		how.hops[0].gssapi = co->client.gss.on && how.hops[0].proto == STP_PROTO_SOCKS5;
	}
	doc = stp_clientcfg_fetch(src, &how, &len, e);
	if (how.nhops)
		stp_proxy_wipe(&how.hops[0]);
	if (!doc)
		return stp_err_prefix(e, "%s", what);
	cfg = malloc(sizeof(*cfg));  /* large: not for the stack */
	if (!cfg) {
		stp_err_set(e, STP_EXIT_FAIL, "%s: out of memory", what);
		goto out;
	}
	if (stp_clientcfg_parse(cfg, doc, len, e) < 0) {
		stp_err_prefix(e, "%s: %s", what, stp_clientcfg_source(src) == STP_CFG_FILE ?
			       src : "the document");
		goto out;
	}
	if (stp_clientcfg_route(cfg, host, urls, &n) < 0) {
		rc = 0;
		goto out;
	}
	if (n == 0 && !host) {
		stp_err_set(e, STP_EXIT_USAGE, "%s: the route for every target is \"direct\", "
			    "but this program needs a proxy", what);
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (stp_url_parse(urls[i], &co->client.hops[i], e) < 0) {
			stp_err_prefix(e, "%s", what);
			goto out;
		}
	co->client.nhops = n;
	rc = 1;
out:
	if (cfg) {
		OPENSSL_cleanse(cfg, sizeof(*cfg));  /* URLs may hold passwords */
		free(cfg);
	}
	OPENSSL_cleanse(doc, len);
	free(doc);
	return rc;
}

static int finish_chain(struct stp_clientopts *co, const char *host, struct stp_err *e);

/* --gssapi goes to the last SOCKS5 hop; its options need it. Returns 0,
 * or -1 with a usage error. */
static int apply_gssapi(struct stp_clientopts *co, struct stp_err *e)
{
	struct stp_gss_cfg *g = &co->client.gss;

	if (!g->on) {
		if (g->service || g->level)
			return stp_err_set(e, STP_EXIT_USAGE, "%s needs --gssapi", g->service ?
					   "--gssapi-service" : "--gssapi-protection");
		return 0;
	}
	for (int i = co->client.nhops - 1; i >= 0; i--)
		if (co->client.hops[i].proto == STP_PROTO_SOCKS5) {
			co->client.hops[i].gssapi = true;
			return 0;
		}
	return stp_err_set(e, STP_EXIT_USAGE, "--gssapi: no SOCKS5 proxy in the chain");
}

int stp_clientopts_finish(struct stp_clientopts *co, const char *host, struct stp_err *e)
{
	int rc = finish_chain(co, host, e);

	/* a direct route (1) has no hop to authenticate to */
	return rc == 0 && apply_gssapi(co, e) < 0 ? -1 : rc;
}

/* stp_clientopts_finish without --gssapi. */
static int finish_chain(struct stp_clientopts *co, const char *host, struct stp_err *e)
{
	const char *env = NULL, *np;
	bool direct = false;

	np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
	if (co->nurls == 0 && !(host && np && stp_noproxy_match(np, host))) {
		int r = config_chain(co, host, e);
		if (r < 0)
			return -1;
		if (r > 0 && co->client.nhops == 0)
			return 1;
		if (r > 0)
			return apply_credentials(co, e) < 0 ? -1 : 0;
	}
	if (co->nurls == 0) {
		/* curl's order: the lowercase one first (SPEC 2.2) */
		const char *names[] = { "STP_PROXY", "all_proxy", "ALL_PROXY" };
		for (size_t i = 0; i < 3 && !env; i++)
			if (getenv(names[i]) && *getenv(names[i]))
				env = getenv(names[i]);
		if (env)
			co->urls[co->nurls++] = env;
	}
	if (host && np && stp_noproxy_match(np, host))
		direct = true;
	if (co->nurls == 0 && !direct)
		return stp_err_set(e, STP_EXIT_USAGE, "no proxy: give -x URL or --config, "
				   "or set STP_PROXY or ALL_PROXY");
	for (int i = 0; i < co->nurls; i++)
		if (stp_url_parse(co->urls[i], &co->client.hops[i], e) < 0)
			return stp_err_prefix(e, "%s", co->urls[i] == env ?
					      "proxy from the environment" : "-x");
	co->client.nhops = co->nurls;
	if (apply_credentials(co, e) < 0)
		return -1;
	for (int i = 0; i < co->client.nhops; i++)
		if (co->client.hops[i].tls && co->client.tls.insecure) {
			char hn[STP_HOSTPORT_MAX];
			stp_log(&co->log, STP_LOG_WARN, "warning: --insecure: the certificate of proxy %s "
				"is not verified; anyone on the path can pose as it",
				stp_proxy_hostport(&co->client.hops[i], hn, sizeof(hn)));
		}
	return direct ? 1 : 0;
}

void stp_clientopts_wipe(struct stp_clientopts *co)
{
	for (int i = 0; i < co->client.nhops; i++)
		stp_proxy_wipe(&co->client.hops[i]);
	OPENSSL_cleanse(co->kept, sizeof(co->kept));
}
