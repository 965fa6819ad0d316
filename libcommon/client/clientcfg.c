/* clientcfg.c - client configuration documents: parsing (jansson) and route
 * matching. Pure: no I/O. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/clientcfg.h"
#include "proto/cidr.h"
#include "proto/url.h"

/* Compares names case-insensitively, ignoring one trailing dot on each. */
static bool name_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (an && a[an - 1] == '.')
		an--;
	if (bn && b[bn - 1] == '.')
		bn--;
	return an == bn && strncasecmp(a, b, an) == 0;
}

bool stp_clientcfg_match(const char *pattern, const char *host)
{
	struct stp_cidr net, addr;

	if (strcmp(pattern, "*") == 0)
		return true;
	if (!host || !*host)
		return false;
	if (stp_cidr_parse(pattern, &net) == 0)
		return !strchr(host, '/') && stp_cidr_parse(host, &addr) == 0 &&
		       stp_cidr_covers(&net, &addr);
	size_t hn = strlen(host), pn = strlen(pattern);
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* "*.domain": names strictly below domain */
		const char *dom = pattern + 1;   /* ".domain" */
		size_t dn = pn - 1;
		if (host[hn - 1] == '.')
			hn--;
		if (dom[dn - 1] == '.')
			dn--;
		return hn > dn && strncasecmp(host + hn - dn, dom, dn) == 0;
	}
	return name_eq(pattern, pn, host, hn);
}

/* A pattern we understand: "*", "*.domain", a name, an address or CIDR. */
static bool pattern_ok(const char *p)
{
	struct stp_cidr c;

	if (strcmp(p, "*") == 0 || stp_cidr_parse(p, &c) == 0)
		return true;
	if (p[0] == '*')
		p += p[1] == '.' ? 2 : 1;
	if (!*p || *p == '.')
		return false;
	for (; *p; p++)
		if (*p == '*' || *p == '/' || *p == ' ' || (unsigned char)*p < 0x20)
			return false;
	return true;
}

static int find_proxy(const struct stp_clientcfg *c, const char *name)
{
	for (int i = 0; i < c->nproxies; i++)
		if (strcmp(c->names[i], name) == 0)
			return i;
	return -1;
}

static int parse_proxies(struct stp_clientcfg *c, json_t *obj, struct stp_err *e)
{
	const char *key;
	json_t *v;
	struct stp_proxy p;

	if (!json_is_object(obj))
		return stp_err_set(e, STP_EXIT_USAGE, "\"proxies\" must be an object of NAME: URL");
	json_object_foreach(obj, key, v) {
		const char *url = json_string_value(v);
		if (c->nproxies == STP_CFG_PROXIES_MAX)
			return stp_err_set(e, STP_EXIT_USAGE, "more than %d proxies",
					   STP_CFG_PROXIES_MAX);
		if (!*key || strlen(key) >= STP_CFG_NAME_MAX || strcmp(key, "direct") == 0)
			return stp_err_set(e, STP_EXIT_USAGE, "proxies: bad proxy name '%.64s'", key);
		if (!url || strlen(url) >= STP_CFG_URL_MAX)
			return stp_err_set(e, STP_EXIT_USAGE, "proxies.%s: not a URL string", key);
		if (stp_url_parse(url, &p, e) < 0) {
			stp_proxy_wipe(&p);
			return stp_err_prefix(e, "proxies.%s", key);
		}
		stp_proxy_wipe(&p);
		snprintf(c->names[c->nproxies], STP_CFG_NAME_MAX, "%s", key);
		snprintf(c->urls[c->nproxies], STP_CFG_URL_MAX, "%s", url);
		c->nproxies++;
	}
	return 0;
}

static int parse_via(struct stp_clientcfg *c, struct stp_cfg_route *r, size_t i, json_t *via,
		     struct stp_err *e)
{
	size_t k;
	json_t *v;

	if (json_is_string(via)) {
		if (strcmp(json_string_value(via), "direct") == 0) {
			r->nvia = 0;
			return 0;
		}
		int p = find_proxy(c, json_string_value(via));
		if (p < 0)
			return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu].via: unknown proxy '%.64s'",
					   i, json_string_value(via));
		r->via[0] = p;
		r->nvia = 1;
		return 0;
	}
	if (!json_is_array(via) || json_array_size(via) == 0 ||
	    json_array_size(via) > STP_MAX_HOPS)
		return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu].via: \"direct\" or a list of "
				   "1 to %d proxy names", i, STP_MAX_HOPS);
	json_array_foreach(via, k, v) {
		const char *name = json_string_value(v);
		int p = name ? find_proxy(c, name) : -1;
		if (p < 0)
			return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu].via[%zu]: unknown proxy '%.64s'",
					   i, k, name ? name : "(not a string)");
		r->via[r->nvia++] = p;
	}
	return 0;
}

static int parse_routes(struct stp_clientcfg *c, json_t *arr, struct stp_err *e)
{
	size_t i;
	json_t *r;

	if (!json_is_array(arr))
		return stp_err_set(e, STP_EXIT_USAGE, "\"routes\" must be a list");
	if (json_array_size(arr) > STP_CFG_ROUTES_MAX)
		return stp_err_set(e, STP_EXIT_USAGE, "more than %d routes", STP_CFG_ROUTES_MAX);
	json_array_foreach(arr, i, r) {
		struct stp_cfg_route *rt = &c->routes[c->nroutes];
		if (!json_is_object(r))
			return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu]: not an object", i);
		const char *m = json_string_value(json_object_get(r, "match"));
		json_t *via = json_object_get(r, "via");
		if (!m || strlen(m) >= sizeof(rt->match) || !pattern_ok(m))
			return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu].match: not \"*\", "
					   "\"*.domain\", a name, an address or a CIDR range", i);
		if (!via)
			return stp_err_set(e, STP_EXIT_USAGE, "routes[%zu]: no \"via\"", i);
		memset(rt, 0, sizeof(*rt));
		snprintf(rt->match, sizeof(rt->match), "%s", m);
		if (parse_via(c, rt, i, via, e) < 0)
			return -1;
		c->nroutes++;
	}
	return 0;
}

int stp_clientcfg_parse(struct stp_clientcfg *c, const char *text, size_t len,
			struct stp_err *e)
{
	json_error_t jerr;
	json_t *root, *v;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (len > STP_CFG_DOC_MAX)
		return stp_err_set(e, STP_EXIT_USAGE, "larger than %d bytes", STP_CFG_DOC_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return stp_err_set(e, STP_EXIT_USAGE, "line %d column %d: %s", jerr.line,
				   jerr.column, jerr.text);
	if (!json_is_object(root)) {
		stp_err_set(e, STP_EXIT_USAGE, "not a JSON object");
		goto out;
	}
	if ((v = json_object_get(root, "proxies")) && parse_proxies(c, v, e) < 0)
		goto out;
	v = json_object_get(root, "routes");
	if (!v) {
		stp_err_set(e, STP_EXIT_USAGE, "no \"routes\"");
		goto out;
	}
	if (parse_routes(c, v, e) < 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		memset(c, 0, sizeof(*c));  /* URLs may hold passwords */
	return rc;
}

int stp_clientcfg_route(const struct stp_clientcfg *c, const char *host,
			const char *urls[STP_MAX_HOPS], int *n)
{
	for (int i = 0; i < c->nroutes; i++) {
		const struct stp_cfg_route *r = &c->routes[i];
		if (!host ? strcmp(r->match, "*") != 0 : !stp_clientcfg_match(r->match, host))
			continue;
		for (int k = 0; k < r->nvia; k++)
			urls[k] = c->urls[r->via[k]];
		*n = r->nvia;
		return i;
	}
	*n = 0;
	return -1;
}

enum stp_cfg_src stp_clientcfg_source(const char *src)
{
	static const char *const curl_schemes[] = { "http://", "https://", "file://" };

	for (size_t i = 0; i < sizeof(curl_schemes) / sizeof(curl_schemes[0]); i++)
		if (strncasecmp(src, curl_schemes[i], strlen(curl_schemes[i])) == 0)
			return STP_CFG_CURL;
	if (strncasecmp(src, "socks", 5) == 0 && strstr(src, "://"))
		return STP_CFG_PROXY;
	return STP_CFG_FILE;
}
