/* cidr.c - address ranges: parsing and membership. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/cidr.h"

int stp_cidr_parse(const char *s, struct stp_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->a) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->a) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->bits = max;
	if (slash) {
		const char *p = slash + 1;
		int b = 0;
		/* 1 to 3 digits, no sign, no blanks */
		if (!*p || strlen(p) > 3)
			return -1;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			b = b * 10 + (*p - '0');
		}
		if (b > max)
			return -1;
		c->bits = b;
	}
	return 0;
}

/* The first c->bits bits of b equal c's. */
static bool prefix_eq(const struct stp_cidr *c, const uint8_t *b)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(b, c->a, (size_t)full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xFF << (8 - rest));
		if ((b[full] & mask) != (c->a[full] & mask))
			return false;
	}
	return true;
}

bool stp_cidr_covers(const struct stp_cidr *c, const struct stp_cidr *sub)
{
	return sub->family == c->family && sub->bits >= c->bits && prefix_eq(c, sub->a);
}

bool stp_cidr_has(const struct stp_cidr *c, const struct sockaddr *sa)
{
	uint8_t b[16];
	int fam = 0;

	if (sa->sa_family == AF_INET) {
		memcpy(b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		fam = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		fam = IN6_IS_ADDR_V4MAPPED(a) ? AF_INET : AF_INET6;
		memcpy(b, fam == AF_INET ? a->s6_addr + 12 : a->s6_addr, fam == AF_INET ? 4 : 16);
	}
	return fam == c->family && prefix_eq(c, b);
}
