/* fuzz-url.c - libFuzzer target for the proxy URL parser. A URL that parses
 * is written back out (credentials percent-encoded, IPv6 in brackets) and
 * must parse to the same proxy; a failure must be a usage error with a
 * one-line message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/url.h"

/* Appends s percent-encoded (all but unreserved characters). */
static size_t pct_encode(char *out, size_t off, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
			out[off++] = (char)c;
		} else {
			out[off++] = '%';
			out[off++] = hex[c >> 4];
			out[off++] = hex[c & 15];
		}
	}
	out[off] = '\0';
	return off;
}

static int proxy_eq(const struct stp_proxy *a, const struct stp_proxy *b)
{
	return a->proto == b->proto && a->remote_dns == b->remote_dns && a->tls == b->tls &&
	       !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) &&
	       a->port == b->port && a->has_user == b->has_user && a->has_pass == b->has_pass &&
	       !strcmp(a->user, b->user) && !strcmp(a->pass, b->pass);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char url[2 * 256 * 3 + 300 + 64];
	struct stp_proxy p, p2;
	struct stp_err e = { 0 };
	char *s, hp[300];
	size_t off;

	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (stp_url_parse(s, &p, &e) < 0) {
		FUZZ_ASSERT(e.code == STP_EXIT_USAGE && e.msg[0] != '\0');
		FUZZ_ASSERT(!strchr(e.msg, '\n') && strlen(e.msg) < sizeof(e.msg));
		free(s);
		return 0;
	}
	free(s);
	FUZZ_ASSERT(p.host[0] && strlen(p.host) <= 255 && p.port >= 1);
	FUZZ_ASSERT(!p.has_pass || p.has_user);

	off = (size_t)snprintf(url, sizeof(url), "%s://", p.scheme);
	if (p.has_user) {
		off = pct_encode(url, off, p.user);
		if (p.has_pass) {
			url[off++] = ':';
			off = pct_encode(url, off, p.pass);
		}
		url[off++] = '@';
	}
	snprintf(url + off, sizeof(url) - off, strchr(p.host, ':') ? "[%s]:%u" : "%s:%u",
		 p.host, (unsigned)p.port);
	if (stp_url_parse(url, &p2, &e) < 0) {
		fprintf(stderr, "re-parse of '%s' failed: %s\n", url, e.msg);
		abort();
	}
	FUZZ_ASSERT(proxy_eq(&p, &p2));

	stp_proxy_hostport(&p, hp, sizeof(hp));
	stp_proxy_wipe(&p);
	FUZZ_ASSERT(!p.has_user && !p.pass[0]);
	return 0;
}
