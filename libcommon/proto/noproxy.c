/* noproxy.c - NO_PROXY matching. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/noproxy.h"
#include "proto/socks.h"

/* True if the literal host lies in net/bits (both of one family). */
static bool cidr_match(const char *host, const char *entry)
{
	unsigned char h[16], n[16];
	char net[64];
	const char *slash = strchr(entry, '/');
	int fam, bits, max;
	size_t len = slash ? (size_t)(slash - entry) : strlen(entry);

	if (len >= sizeof(net))
		return false;
	memcpy(net, entry, len);
	net[len] = '\0';
	fam = strchr(net, ':') ? AF_INET6 : AF_INET;
	max = fam == AF_INET ? 32 : 128;
	if (inet_pton(fam, net, n) != 1 || inet_pton(fam, host, h) != 1)
		return false;
	bits = slash ? atoi(slash + 1) : max;
	if (bits < 0 || bits > max)
		return false;
	for (int i = 0; i < bits; i++)
		if (((h[i / 8] ^ n[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

bool stp_noproxy_match(const char *list, const char *host)
{
	size_t hl = strlen(host);

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		char entry[STP_HOSTPORT_MAX];

		while (n && (*list == ' ' || *list == '\t'))
			list++, n--;
		while (n && (list[n - 1] == ' ' || list[n - 1] == '\t'))
			n--;
		if (n && n < sizeof(entry)) {
			memcpy(entry, list, n);
			entry[n] = '\0';
			const char *dom = entry[0] == '.' ? entry + 1 : entry;
			size_t dl = strlen(dom);
			if (strcmp(entry, "*") == 0)
				return true;
			if (strcasecmp(dom, host) == 0)
				return true;
			if (hl > dl && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, dom) == 0)
				return true;
			if (cidr_match(host, entry))
				return true;
		}
		list = end ? end + 1 : NULL;
	}
	return false;
}
