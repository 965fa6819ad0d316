/* fuzz-proxyproto.c - libFuzzer target for the PROXY protocol parser
 * (proto/proxyproto.h). A header parses the same from an exact-size copy
 * and from the input with bytes after it; any cut of it asks for more;
 * a refusal is final (more bytes never make it valid); a reason comes with
 * every refusal and only then; a v1 TCP4 line is exactly what its fields
 * print back to, a TCP6 one parses again to the same addresses; a v2
 * header's addresses are its bytes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/proxyproto.h"

static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

static ssize_t parse(const uint8_t *b, size_t n, struct stp_pp_hdr *h)
{
	const char *why = NULL;
	uint8_t *c = exact(b, n);
	ssize_t r = stp_pp_parse(c, n, h, &why);

	free(c);
	FUZZ_ASSERT((r < 0) == (why != NULL));
	FUZZ_ASSERT(r <= (ssize_t)n && r <= STP_PP_MAX);
	return r;
}

static int same_hdr(const struct stp_pp_hdr *a, const struct stp_pp_hdr *b)
{
	return a->version == b->version && a->cmd == b->cmd && a->family == b->family &&
	       a->len == b->len && !memcmp(&a->src, &b->src, sizeof(a->src)) &&
	       !memcmp(&a->dst, &b->dst, sizeof(a->dst));
}

/* "ADDR ADDR PORT PORT" of a parsed TCP4/TCP6 header. */
static void fields(const struct stp_pp_hdr *h, char *out, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	unsigned sp, dp;

	if (h->family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&h->src, *b = (const void *)&h->dst;
		FUZZ_ASSERT(inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s)));
		FUZZ_ASSERT(inet_ntop(AF_INET, &b->sin_addr, d, sizeof(d)));
		sp = ntohs(a->sin_port), dp = ntohs(b->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const void *)&h->src, *b = (const void *)&h->dst;
		FUZZ_ASSERT(inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof(s)));
		FUZZ_ASSERT(inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof(d)));
		sp = ntohs(a->sin6_port), dp = ntohs(b->sin6_port);
	}
	snprintf(out, cap, "%s %s %u %u", s, d, sp, dp);
}

static void check_v1(const uint8_t *b, const struct stp_pp_hdr *h)
{
	char f[160], line[200];
	struct stp_pp_hdr h2;

	FUZZ_ASSERT(h->len <= STP_PP_V1_MAX && h->cmd == STP_PP_PROXY);
	FUZZ_ASSERT(b[h->len - 2] == '\r' && b[h->len - 1] == '\n');
	if (h->family == AF_UNSPEC) {
		FUZZ_ASSERT(!memcmp(b, "PROXY UNKNOWN", 13));
		return;
	}
	FUZZ_ASSERT(h->family == AF_INET || h->family == AF_INET6);
	fields(h, f, sizeof(f));
	snprintf(line, sizeof(line), "PROXY TCP%c %s\r\n", h->family == AF_INET ? '4' : '6', f);
	if (h->family == AF_INET)  /* one spelling of each IPv4 address and port */
		FUZZ_ASSERT(strlen(line) == h->len && !memcmp(line, b, h->len));
	/* IPv6 has several; the canonical one fits 107 bytes as well */
	FUZZ_ASSERT(parse((const uint8_t *)line, strlen(line), &h2) == (ssize_t)strlen(line));
	FUZZ_ASSERT(h2.family == h->family && !memcmp(&h2.src, &h->src, sizeof(h->src)) &&
		    !memcmp(&h2.dst, &h->dst, sizeof(h->dst)));
}

static void check_v2(const uint8_t *b, const struct stp_pp_hdr *h)
{
	const uint8_t *a = b + STP_PP_V2_HDR;

	FUZZ_ASSERT(h->len == STP_PP_V2_HDR + ((size_t)b[14] << 8 | b[15]));
	FUZZ_ASSERT((b[12] & 0x0F) == (h->cmd == STP_PP_PROXY ? 1 : 0));
	if (h->family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&h->src, *d = (const void *)&h->dst;
		FUZZ_ASSERT(b[13] == 0x11 && h->len >= 28);
		FUZZ_ASSERT(!memcmp(&s->sin_addr, a, 4) && !memcmp(&d->sin_addr, a + 4, 4));
		FUZZ_ASSERT(!memcmp(&s->sin_port, a + 8, 2) && !memcmp(&d->sin_port, a + 10, 2));
	} else if (h->family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)&h->src, *d = (const void *)&h->dst;
		FUZZ_ASSERT(b[13] == 0x21 && h->len >= 52);
		FUZZ_ASSERT(!memcmp(&s->sin6_addr, a, 16) && !memcmp(&d->sin6_addr, a + 16, 16));
	} else {
		FUZZ_ASSERT(h->family == AF_UNSPEC || (h->family == AF_UNIX && b[13] == 0x31));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stp_pp_hdr h, h2;
	ssize_t r = parse(data, size, &h);
	size_t half = size / 2;
	ssize_t rh = parse(data, half, &h2);

	/* what half of it says agrees with what all of it says */
	if (rh < 0)
		FUZZ_ASSERT(r < 0);
	if (r < 0)
		FUZZ_ASSERT(rh <= 0);
	if (r > 0)
		FUZZ_ASSERT(half >= (size_t)r ? rh == r && same_hdr(&h, &h2) : rh == 0);
	if (r <= 0)
		return 0;
	FUZZ_ASSERT((size_t)r == h.len && (h.version == 1 || h.version == 2));
	FUZZ_ASSERT(parse(data, (size_t)r, &h2) == r && same_hdr(&h, &h2));
	FUZZ_ASSERT(parse(data, (size_t)r - 1, &h2) == 0);
	if (h.version == 1)
		check_v1(data, &h);
	else
		check_v2(data, &h);
	return 0;
}
