/* url.c - proxy URLs, [SCHEME://][USER[:PASSWORD]@]HOST[:PORT][/] (SPEC §2.1).
 *
 * Error messages quote the offending part so the user can find it, but
 * never the password, and with anything unprintable replaced: URLs also come
 * from the environment and from fetched configuration. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "proto/url.h"

#define DEFAULT_PORT 1080
#define SCHEME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."
/* Shown at most this much of an offending part in a message. */
#define SHOW_MAX 64

static const struct {
	const char *name;
	enum stp_proto proto;
	bool remote_dns;
	bool tls;
} schemes[] = {
	{ "socks4", STP_PROTO_SOCKS4, false, false },
	{ "socks4a", STP_PROTO_SOCKS4, true, false },
	{ "socks5", STP_PROTO_SOCKS5, false, false },
	{ "socks5h", STP_PROTO_SOCKS5, true, false },
	{ "socks5s", STP_PROTO_SOCKS5, false, true },
	{ "socks5hs", STP_PROTO_SOCKS5, true, true },
	{ "http", STP_PROTO_HTTP, true, false },
	{ "https", STP_PROTO_HTTP, true, true },
};
/* The schemes above that are also the schemes of ordinary web URLs
 * (--config URL, --auth-url): stp_url_scrub reads those with a path. */
#define NPROXY_ONLY 6
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

/* Copies s[0..n) for a message into buf: unprintable bytes become '?',
 * and a long part is cut with "...". Returns buf. */
static const char *shown(char *buf, size_t cap, const char *s, size_t n)
{
	size_t i, max = cap - 4;

	for (i = 0; i < n && i < max; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) ? '?' : s[i];
	if (i < n)
		memcpy(buf + i, "...", 3), i += 3;
	buf[i] = '\0';
	return buf;
}

/* Fills p's protocol fields from the scheme s[0..n). Returns 0, or -1 with e
 * set for an unknown scheme. */
static int url_scheme(const char *s, size_t n, struct stp_proxy *p, struct stp_err *e)
{
	char show[SHOW_MAX];
	size_t i;

	if (n == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "empty scheme in proxy URL");
	for (i = 0; i < NSCHEMES; i++) {
		if (strlen(schemes[i].name) != n || strncasecmp(schemes[i].name, s, n))
			continue;
		p->proto = schemes[i].proto;
		p->remote_dns = schemes[i].remote_dns;
		p->tls = schemes[i].tls;
		memcpy(p->scheme, schemes[i].name, n + 1);
		return 0;
	}
	return stp_err_set(e, STP_EXIT_USAGE, "unknown scheme '%s' (use socks4, socks4a, "
			   "socks5, socks5h, socks5s, socks5hs, http or https)", shown(show, sizeof(show), s, n));
}

int stp_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (256 bytes, NUL-terminated). Returns 0,
 * or -1 with e set for a bad escape, a decoded NUL or over 255 bytes; what
 * ("user", "password") names the part, whose text is never shown. */
static int pct_decode(const char *s, size_t n, char *out, const char *what,
		      struct stp_err *e)
{
	size_t i, o = 0;
	int hi, lo, c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			hi = n - i >= 3 ? stp_hexval(s[i + 1]) : -1;
			lo = hi >= 0 ? stp_hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return stp_err_set(e, STP_EXIT_USAGE,
						   "bad percent-escape in proxy %s", what);
			c = hi << 4 | lo;
			if (c == 0)
				return stp_err_set(e, STP_EXIT_USAGE,
						   "percent-escape %%00 in proxy %s", what);
			i += 2;
		}
		if (o == 255)
			return stp_err_set(e, STP_EXIT_USAGE,
					   "proxy %s too long (at most 255 bytes)", what);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Splits USER[:PASSWORD] (s[0..n)) at its first ':' and decodes both.
 * Returns 0, or -1 with e set. */
static int url_userinfo(const char *s, size_t n, struct stp_proxy *p, struct stp_err *e)
{
	const char *colon = memchr(s, ':', n);
	size_t ulen = colon ? (size_t)(colon - s) : n;

	if (pct_decode(s, ulen, p->user, "user", e) < 0)
		return -1;
	if (!p->user[0])
		return stp_err_set(e, STP_EXIT_USAGE, "empty user in proxy URL");
	p->has_user = true;
	if (colon) {
		if (pct_decode(colon + 1, n - ulen - 1, p->pass, "password", e) < 0)
			return -1;
		p->has_pass = true;
	}
	return 0;
}

/* Parses a decimal port 1..65535 from s[0..n). Returns 0, or -1 with e set. */
static int url_port(const char *s, size_t n, uint16_t *port, struct stp_err *e)
{
	char show[SHOW_MAX];
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9' && v <= 65535; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (n == 0 || i < n || v < 1 || v > 65535)
		return stp_err_set(e, STP_EXIT_USAGE, "bad port '%s' in proxy URL",
				   shown(show, sizeof(show), s, n));
	*port = (uint16_t)v;
	return 0;
}

/* Checks a host that is not in brackets. Returns 0, or -1 with e set. The
 * characters refused are those that would make the URL mean something else
 * or that no host name contains. */
static int url_host_chars(const char *s, size_t n, struct stp_err *e)
{
	char show[SHOW_MAX], bad[8];
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f && !strchr("[]/?#%\\", c))
			continue;
		if (c > 0x20 && c < 0x7f)
			snprintf(bad, sizeof(bad), "'%c'", c);
		else
			snprintf(bad, sizeof(bad), "0x%02x", c);
		return stp_err_set(e, STP_EXIT_USAGE, "bad character %s in proxy host '%s'",
				   bad, shown(show, sizeof(show), s, n));
	}
	return 0;
}

/* Parses HOST[:PORT] or [V6][:PORT] from s[0..n). Returns 0, or -1 with e
 * set. */
static int url_hostport(const char *s, size_t n, struct stp_proxy *p, struct stp_err *e)
{
	char show[SHOW_MAX], v6[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	const char *host = s, *port = NULL, *c;
	size_t hlen, plen = 0;

	if (n > 0 && s[0] == '[') {
		c = memchr(s, ']', n);
		if (!c)
			return stp_err_set(e, STP_EXIT_USAGE, "unclosed '[' in proxy URL");
		host = s + 1;
		hlen = (size_t)(c - host);
		if (hlen == 0)
			return stp_err_set(e, STP_EXIT_USAGE, "empty host in proxy URL");
		if (hlen >= sizeof(v6) || (memcpy(v6, host, hlen), v6[hlen] = '\0',
					   inet_pton(AF_INET6, v6, &in6) != 1))
			return stp_err_set(e, STP_EXIT_USAGE, "bad IPv6 address '[%s]' in proxy URL",
					   shown(show, sizeof(show), host, hlen));
		c++;
		if (c < s + n && *c != ':')
			return stp_err_set(e, STP_EXIT_USAGE, "unexpected '%s' after ']' in proxy URL",
					   shown(show, sizeof(show), c, (size_t)(s + n - c)));
	} else {
		c = memchr(s, ':', n);
		hlen = c ? (size_t)(c - s) : n;
		if (c && memchr(c + 1, ':', (size_t)(s + n - c - 1)))
			return stp_err_set(e, STP_EXIT_USAGE, "IPv6 address '%s' in proxy URL "
					   "needs brackets ([ADDR]:PORT)",
					   shown(show, sizeof(show), s, n));
		if (hlen == 0)
			return stp_err_set(e, STP_EXIT_USAGE, "empty host in proxy URL");
		if (hlen > 255)
			return stp_err_set(e, STP_EXIT_USAGE,
					   "proxy host too long (at most 255 bytes)");
		if (url_host_chars(s, hlen, e) < 0)
			return -1;
		c = s + hlen;
	}
	if (c < s + n) {            /* *c == ':' */
		port = c + 1;
		plen = (size_t)(s + n - port);
	}
	memcpy(p->host, host, hlen);
	p->host[hlen] = '\0';
	p->port = DEFAULT_PORT;
	return port ? url_port(port, plen, &p->port, e) : 0;
}

/* Parses s into p (zeroed by the caller). Returns 0, or -1 with e set. */
static int url_parse(const char *s, struct stp_proxy *p, struct stp_err *e)
{
	char show[SHOW_MAX];
	const char *rest = s, *end, *at, *stop;
	size_t k;

	if (!s || !*s)
		return stp_err_set(e, STP_EXIT_USAGE, "empty proxy URL");
	/* A scheme is only a scheme when "://" follows: "user:pw@host" has
	 * none, "host:1080" neither. */
	k = strspn(s, SCHEME_CHARS);
	if (!strncmp(s + k, "://", 3)) {
		if (url_scheme(s, k, p, e) < 0)
			return -1;
		rest = s + k + 3;
	} else if (url_scheme("socks5h", 7, p, e) < 0) {
		return -1;
	}

	end = rest + strlen(rest);
	if (end > rest && end[-1] == '/')
		end--;
	/* The last '@': a password with a raw '@' in it still works. */
	at = memrchr(rest, '@', (size_t)(end - rest));
	if (at) {
		if (url_userinfo(rest, (size_t)(at - rest), p, e) < 0)
			return -1;
		rest = at + 1;
	}
	stop = rest + strcspn(rest, "/?#");
	if (stop < end)
		return stp_err_set(e, STP_EXIT_USAGE, "unexpected '%s' after host in proxy URL",
				   shown(show, sizeof(show), stop, (size_t)(end - stop)));
	return url_hostport(rest, (size_t)(end - rest), p, e);
}

/* Returns -1 with e set (STP_EXIT_USAGE); p is only written on success. */
int stp_url_parse(const char *s, struct stp_proxy *p, struct stp_err *e)
{
	struct stp_proxy t;
	int rc;

	memset(&t, 0, sizeof(t));
	rc = url_parse(s, &t, e);
	if (rc == 0)
		*p = t;
	OPENSSL_cleanse(&t, sizeof(t));
	return rc;
}

/* Never fails; a short buf gets a truncated text. Returns buf ("" if cap is
 * 0). */
const char *stp_proxy_hostport(const struct stp_proxy *p, char *buf, size_t cap)
{
	if (!cap)
		return "";
	if (strchr(p->host, ':'))
		snprintf(buf, cap, "[%s]:%u", p->host, (unsigned)p->port);
	else
		snprintf(buf, cap, "%s:%u", p->host, (unsigned)p->port);
	return buf;
}

/* Never fails; p may be NULL. The flags go too, so nothing later mistakes
 * the wiped fields for empty credentials. */
void stp_proxy_wipe(struct stp_proxy *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p->user, sizeof(p->user));
	OPENSSL_cleanse(p->pass, sizeof(p->pass));
	p->has_user = false;
	p->has_pass = false;
}

/* True if url[0..n) names one of the SOCKS proxy schemes: http and https
 * URLs may have a path (a --config URL), so their password ends before it. */
static bool is_proxy_scheme(const char *url, size_t n)
{
	for (size_t i = 0; i < NPROXY_ONLY; i++)
		if (strlen(schemes[i].name) == n && !strncasecmp(schemes[i].name, url, n))
			return true;
	return false;
}

/* Never fails; url without a password is left alone. */
bool stp_url_scrub(char *url)
{
	size_t k = strspn(url, SCHEME_CHARS), n;
	char *rest = url, *at, *colon;

	if (!strncmp(url + k, "://", 3))
		rest = url + k + 3;
	/* a proxy password may hold a raw '/' (see url_parse); any other
	 * URL's authority ends where its path, query or fragment starts */
	if (rest == url || is_proxy_scheme(url, k))
		n = strlen(rest);
	else
		n = strcspn(rest, "/?#");
	at = memrchr(rest, '@', n);
	if (!at)
		return false;
	colon = memchr(rest, ':', (size_t)(at - rest));
	if (!colon || colon + 1 == at)
		return false;
	memset(colon + 1, '*', (size_t)(at - colon - 1));
	return true;
}
